/**
 * Type checking as part of loading (issue 13, item 12): `sluice dags check` type-checks the DAGs folder
 * with the TypeScript compiler API and reports errors with file and line (exit 1), next to import errors;
 * `sluice dev` runs the same check in the background after each change, prints it and stores it for the
 * UI/API, while the code keeps running. Real processes on a sandbox project.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";

// The README's promise: change `evaluate` to return a string and `register` stops compiling.
const trainFile = (evaluateReturns: string) => `import { dag } from "sluice";
export default dag("train", (d) => {
  const evaluate = d.task("evaluate", async () => ${evaluateReturns});
  d.task("register", { inputs: { evaluate } }, async ({ evaluate }: { evaluate: number }) => evaluate + 1);
});
`;

test("dags check: a type error with file, line and code (exit 1), an import error beside it, a clean folder exits 0", () => {
  const sb = sandbox("sluice-typecheck-");
  try {
    sb.write("train.ts", trainFile(`"0.9"`));
    sb.write("broken.ts", `import { dag } from "sluice";\nthrow new Error("no DAG here");\n`);
    const r = cli(sb, ["dags", "check"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^train\.ts:4:\d+ - error TS2345: .*Type 'string' is not assignable to type 'number'/ms);
    assert.match(r.stderr, /import error: broken\.ts(:\d+)?: .*no DAG here/);
    assert.match(r.stdout, /1 import error\(s\), 1 type error\(s\)/);

    const j = cliJson<{ dags: string[]; importErrors: { file: string }[]; typeErrors: { file: string; line: number; column: number; code: number; message: string }[] }>(sb, ["dags", "check"]);
    assert.equal(j.code, 1);
    assert.deepEqual(j.json.dags, ["train"], "a file with a type error still loads: checking never blocks it");
    assert.deepEqual(
      j.json.typeErrors.map((e) => [e.file, e.line, e.code]),
      [["train.ts", 4, 2345]],
    );
    assert.deepEqual(
      j.json.importErrors.map((e) => e.file),
      ["broken.ts"],
    );
    // the compiler's build info is kept in the home: the next process re-checks only what changed
    assert.ok(readdirSync(join(sb.home, "typecheck")).some((f) => f.endsWith(".tsbuildinfo")));

    sb.write("train.ts", trainFile("0.9"));
    sb.write("broken.ts", `export const notADag = 1;\n`);
    const clean = cli(sb, ["dags", "check"]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /1 DAG\(s\) in .*: no import or type errors/);
    assert.equal(clean.stderr, "");

    // --no-types: imports only
    sb.write("train.ts", trainFile(`"0.9"`));
    assert.equal(cli(sb, ["dags", "check", "--no-types"]).code, 0);
  } finally {
    sb.cleanup();
  }
});

let dev: ChildProcess | null = null;
after(() => dev?.kill("SIGKILL"));

test("sluice dev: type errors appear after a change, beside the running code, and go when fixed", { timeout: 180_000 }, async () => {
  const sb = sandbox("sluice-typecheck-dev-");
  try {
    sb.write("train.ts", trainFile("0.9"));
    let stderr = "";
    let stdout = "";
    dev = cliSpawn(sb, ["dev", "--port", "0"]);
    dev.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    dev.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
    await waitFor(() => /Trigger a run/.test(stdout), 60_000, "dev to start");
    const dbFile = join(sb.home, "sluice.db");
    await waitFor(() => existsSync(dbFile), 10_000, "the database");
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    const typeErrors = () => db.prepare("select file, line, code from type_errors order by file, line").all() as { file: string; line: number; code: number }[];
    try {
      // the first check of a clean folder stores nothing and prints nothing
      sb.write("train.ts", trainFile(`"0.9"`));
      await waitFor(() => /reloaded train\.ts/.test(stdout), 60_000, "the edit to be reloaded");
      await waitFor(() => typeErrors().length > 0, 120_000, "the background type check to find the error");
      assert.deepEqual(typeErrors(), [{ file: "train.ts", line: 4, code: 2345 }]);
      await waitFor(() => /type error: train\.ts:4:\d+ - error TS2345/.test(stderr), 10_000, "the error to be printed");
      // the code still runs: a run of the edited DAG is created and its first task succeeds
      const t = cli(sb, ["trigger", "train"]);
      assert.equal(t.code, 0, t.stdout + t.stderr);

      sb.write("train.ts", trainFile("0.9"));
      await waitFor(() => typeErrors().length === 0, 120_000, "the fixed file to check clean");
      await waitFor(() => /type check: no errors/.test(stdout), 10_000, "the all-clear line");
      // printed once while it stood, not once per check
      assert.equal(stderr.match(/type error: train\.ts/g)?.length, 1);
    } finally {
      db.close();
    }
    dev.kill("SIGTERM");
    await new Promise((r) => dev!.once("exit", r));
    dev = null;
  } finally {
    sb.cleanup();
  }
});
