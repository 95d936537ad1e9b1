/**
 * One code version per run (issue 11 item 7, decision 0017): a DAG file and its helper module edited while
 * a run is under way. Real processes — a scheduler, a worker, `sluice trigger` — on one SQLite file: every
 * task of the run runs the code the run was created with (also in a child process, `isolation: "process"`),
 * the next run gets the new code. A scheduled DAG whose only edit is in its helper module gets the new code
 * for its next runs too: the scheduler parses and bundles a DAG file again when a module it imports changes.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { decodeOutput } from "../../src/artifacts/serialize.js";
import { cliJson, waitFor } from "../helpers.js";
import { Procs, query } from "../worker/procs.js";

const procs = new Procs();
after(() => procs.cleanup());

const dagText = (gate: string, marks: string, tag: string) => `import { dag } from "sluice";
import { appendFileSync, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { CODE } from "./lib/code.js";

export default dag("pinned", (d) => {
  const a = d.task("a", async (_i, ctx) => {
    appendFileSync(${JSON.stringify(marks)}, ctx.runId + " a\\n");
    while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 50));
    return CODE;
  });
  const b = d.task("b", { inputs: { a }, isolation: "process" }, async ({ a }) => a + "|" + CODE + "|" + "${tag}");
  // a file next to the DAG file, found through import.meta.url as before bundling
  d.task("c", { inputs: { b } }, async ({ b }) => b + "|" + (await readFile(new URL("./data.txt", import.meta.url), "utf8")).trim());
});
`;

type Out = { task_id: string; output_inline: Buffer };

function tickerOutputs(): string[] {
  return query<{ output_inline: Buffer }>(sbRef!, "select a.output_inline from attempts a join runs r on r.run_id = a.run_id where r.dag_id = 'ticker' and a.state = 'success'").map((r) => decodeOutput(r.output_inline) as string);
}

let sbRef: Parameters<typeof query>[0] | null = null;

function outputs(sb: Parameters<typeof query>[0], runId: string): Record<string, unknown> {
  const rows = query<Out>(sb, "select task_id, output_inline from attempts where run_id = ? and state = 'success'", runId);
  return Object.fromEntries(rows.map((r) => [r.task_id, decodeOutput(r.output_inline)]));
}

test("a DAG file and its helper edited during a run: every task of the run runs the run's code, on any worker; the next run gets the new code", async () => {
  let gate = "";
  const sb = procs.sandbox((marks) => {
    gate = join(marks, "..", "gate");
    return dagText(gate, marks, "old");
  });
  sbRef = sb;
  const marks = join(sb.dir, "marks");
  sb.write("lib/code.ts", `export const CODE = "v1";\n`);
  sb.write("data.txt", "data\n");
  sb.write(
    "ticker.ts",
    `import { dag } from "sluice";
import { CODE } from "./lib/code.js";
export default dag("ticker", { schedule: "every 1s" }, (d) => { d.task("t", async () => CODE); });
`,
  );
  const scheduler = procs.start(sb, ["scheduler"]);
  const worker = procs.start(sb, ["worker"]);
  await waitFor(() => query(sb, "select 1 from dag_versions where dag_id = 'pinned' and code_hash is not null").length === 1, 60_000, `the scheduler to register the DAG\n${scheduler.out()}`);

  // run 1 by `sluice trigger`, which loaded the files itself: its tasks must run what it loaded
  const t1 = cliJson<{ runId: string }>(sb, ["trigger", "pinned", "--json"]);
  assert.equal(t1.code, 0, t1.stderr);
  const run1 = t1.json.runId;
  await waitFor(() => existsSync(marks), 60_000, `task a to start\n${worker.out()}`);

  // the edit: the helper and the DAG file (a new version), while run 1's first task is running
  sb.write("lib/code.ts", `export const CODE = "v2";\n`);
  sb.write("dag.ts", dagText(gate, marks, "new"));
  await waitFor(() => query(sb, "select 1 from dag_versions where dag_id = 'pinned'").length === 2, 60_000, `the scheduler to register the edit\n${scheduler.out()}`);
  writeFileSync(gate, "");
  await waitFor(() => query<{ state: string }>(sb, "select state from runs where run_id = ?", run1)[0]?.state !== "running", 60_000, `run 1 to end\n${worker.out()}`);
  assert.equal(query<{ state: string }>(sb, "select state from runs where run_id = ?", run1)[0]!.state, "success", worker.out());
  assert.deepEqual(outputs(sb, run1), { a: "v1", b: "v1|v1|old", c: "v1|v1|old|data" }, "run 1 ran its own code throughout, in the worker and in b's child process");

  // run 2 gets the new code
  const t2 = cliJson<{ runId: string }>(sb, ["trigger", "pinned", "--json"]);
  assert.equal(t2.code, 0, t2.stderr);
  const run2 = t2.json.runId;
  await waitFor(() => query<{ state: string }>(sb, "select state from runs where run_id = ?", run2)[0]?.state === "success", 60_000, `run 2 to succeed\n${worker.out()}`);
  assert.deepEqual(outputs(sb, run2), { a: "v2", b: "v2|v2|new", c: "v2|v2|new|data" });

  const codes = query<{ run_id: string; code_hash: string | null }>(sb, "select run_id, code_hash from runs where dag_id = 'pinned' order by created_at");
  assert.equal(codes.length, 2);
  assert.ok(codes.every((c) => c.code_hash !== null), "both runs record their code");
  assert.notEqual(codes[0]!.code_hash, codes[1]!.code_hash);
  const current = (dagId: string) =>
    query<{ code_hash: string }>(sb, "select v.code_hash from dags d join dag_versions v on v.dag_id = d.dag_id and v.version = d.version where d.dag_id = ?", dagId)[0]!.code_hash;
  assert.equal(current("pinned"), codes[1]!.code_hash, "the scheduler's bundle of the edited files is the one `sluice trigger` made of them: same bytes, same hash");

  // the scheduled DAG: its file never changed, its helper did; its runs are the scheduler's (no local code)
  await waitFor(() => query(sb, "select 1 from dag_versions where dag_id = 'ticker' and code_hash = ?", current("ticker")).length === 1 && tickerOutputs().includes("v2"), 60_000, `a ticker run with the new helper\n${scheduler.out()}`);
  const ticks = query<{ code_hash: string; output_inline: Buffer }>(
    sb,
    "select r.code_hash, a.output_inline from runs r join attempts a on a.run_id = r.run_id and a.state = 'success' where r.dag_id = 'ticker'",
  );
  const hashesOf = (v: string) => new Set(ticks.filter((t) => decodeOutput(t.output_inline) === v).map((t) => t.code_hash));
  assert.ok(hashesOf("v1").size >= 1, "ticker ran before the edit");
  assert.deepEqual([...hashesOf("v2")], [current("ticker")], "after the edit, the scheduler's runs hold the new bundle");
  assert.ok(![...hashesOf("v1")].some((h) => hashesOf("v2").has(h)), "one bundle, one code");
  assert.equal(query(sb, "select 1 from dag_versions where dag_id = 'ticker'").length, 1, "the helper's edit is not a new version (spec and task sources are the same)");
  await procs.stopAll("SIGTERM");
});

test("code holding a secret is never kept: a sensitive env value written in the DAG file is found in its bundle, one read from process.env is not", async () => {
  const { bundleDagFile, secretInCode } = await import("../../src/executors/dagBundle.js");
  const { loadDagFile } = await import("../../src/executors/dagFile.js");
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("literal", { defaults: { env: { API_TOKEN: "tok-4f9a1c", REGION: "eu-west-1" } } }, (d) => { d.task("t", async () => 1); });
`);
  sb.write("fromenv.ts", `import { dag } from "sluice";
export default dag("fromenv", { defaults: { env: { API_TOKEN: process.env["CANARY_TOKEN"] ?? "tok-from-env" } } }, (d) => { d.task("t", async () => 1); });
`);
  process.env["CANARY_TOKEN"] = "tok-9e8d7c";
  for (const [file, expected] of [
    ["dag.ts", /env API_TOKEN of task "t" \(DAG "literal"\) is written in the code/],
    ["fromenv.ts", null],
  ] as const) {
    const path = join(sb.dags, file);
    const loaded = await loadDagFile(path);
    assert.ok("dags" in loaded);
    const why = secretInCode(await bundleDagFile(path), loaded.dags);
    if (expected === null) assert.equal(why, null);
    else assert.match(why ?? "", expected);
  }
});
