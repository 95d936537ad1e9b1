/**
 * Type tests of the authoring API (Kysely's test/typings approach): compile test/types/dsl-types.ts with
 * tsc. It holds positive assertions and `@ts-expect-error` lines for code that must not compile, so a type
 * that gets too loose fails as "Unused '@ts-expect-error' directive" and one that gets too strict fails
 * as a plain error. A second, tiny fixture with a wrong type and no directive proves that this test can
 * fail at all (the compiler really runs and really checks the DSL's types).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ROOT } from "./helpers.js";

const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

function tsc(project: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSC, "--noEmit", "--pretty", "false", "-p", project], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
}

// The failing fixture lives in a temporary folder: inside the repository it would break `npm run typecheck`.
const tmp = mkdtempSync(join(tmpdir(), "sluice-types-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

// Start both compilations at once; each takes a few seconds.
const good = tsc(join(ROOT, "test", "types", "tsconfig.json"));
const bad = (() => {
  const fixture = join(tmp, "wrong-input-type.mts");
  writeFileSync(
    fixture,
    // imports the DSL module alone (not the whole package entry) to keep this compile short
    `import { dag } from ${JSON.stringify(join(ROOT, "src", "dsl", "dag.js"))};
dag("bad", (d) => {
  const train = d.task("train", async () => ({ auc: 0.9 }));
  d.task("report", { inputs: { train } }, async ({ train }: { train: { auc: string } }) => train.auc);
});
`,
  );
  writeFileSync(
    join(tmp, "tsconfig.json"),
    JSON.stringify({
      extends: join(ROOT, "test", "types", "tsconfig.json"),
      compilerOptions: { rootDir: "/", typeRoots: [join(ROOT, "node_modules", "@types")] },
      files: [fixture],
    }),
  );
  return tsc(join(tmp, "tsconfig.json"));
})();

test("the DSL type fixture compiles: inferred types hold and every @ts-expect-error line is an error", async () => {
  const r = await good;
  assert.equal(r.output.trim(), "", r.output);
  assert.equal(r.code, 0, r.output);
});

test("a wrongly typed input without @ts-expect-error fails to compile with TS2345 on that line", async () => {
  const r = await bad;
  assert.equal(r.code, 2, r.output);
  assert.match(r.output, /wrong-input-type\.mts\(4,\d+\): error TS2345:/);
  assert.match(r.output, /Type 'number' is not assignable to type 'string'/);
  // the only error is the intended one
  assert.equal(r.output.match(/error TS\d+/g)?.length, 1, r.output);
});
