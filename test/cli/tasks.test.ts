/**
 * The CLI siblings of the UI's actions and forms, through the real binary on a SQLite file: `tasks mark`
 * (the same application operation as the API: downstream, dry run, states), `tasks clear --dry-run`, a
 * quiet task's log (never empty), `--param` values checked against the schema's own words, and `trigger`
 * refusing a DAG that its deployment does not know (decision 0026).
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cli, cliJson, sandbox } from "../helpers.js";

const sb = sandbox("sluice-cli-tasks-");
after(() => sb.cleanup());
sb.write(
  "chain.ts",
  `import { dag } from "sluice";
import { z } from "zod";
export default dag("chain", { params: z.object({ limit: z.number().int().max(10).default(5), name: z.string().default("x") }) }, (d) => {
  const a = d.task("a", async () => 1);
  const b = d.task("b", { inputs: { a }, retries: 0 }, async ({ a }) => { throw new Error("b fails " + a); });
  d.task("c", { inputs: { b } }, async ({ b }) => b);
});
`,
);

const runJson = () => {
  const r = cliJson<{ runId: string; state: string }>(sb, ["run", "chain"]);
  return r.json;
};

test("tasks mark: success with --downstream, after a dry run that lists the same instances; bad state is a usage error", () => {
  const run = runJson();
  assert.equal(run.state, "failed");
  const dry = cliJson<{ dryRun: boolean; instances: { taskId: string; state: string }[] }>(sb, ["tasks", "mark", run.runId, "b", "--state", "success", "--downstream", "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.json.dryRun, true);
  assert.deepEqual(dry.json.instances.map((i) => `${i.taskId}:${i.state}`), ["b:failed", "c:upstream_failed"]);
  assert.equal(cliJson<{ state: string }>(sb, ["runs", "show", run.runId]).json.state, "failed", "a dry run changes nothing");

  const done = cliJson<{ dryRun: boolean; instances: { taskId: string }[]; runState: string }>(sb, ["tasks", "mark", run.runId, "b", "--state", "success", "--downstream"]);
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(done.json.instances.map((i) => i.taskId), ["b", "c"]);
  assert.equal(done.json.runState, "success");

  const text = cli(sb, ["tasks", "mark", run.runId, "a", "--state", "skipped"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /marked skipped 1 task instance\(s\) of run .*:\n {2}a \(success\)/);

  const bad = cli(sb, ["tasks", "mark", run.runId, "b", "--state", "done"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--state must be one of success, failed, skipped, got "done"/);
  const missing = cli(sb, ["tasks", "mark", run.runId, "nope", "--state", "success"]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /has no task "nope"/);
});

test("tasks clear --dry-run --only-failed lists what a clear would take, and changes nothing", () => {
  const run = runJson();
  const dry = cli(sb, ["tasks", "clear", run.runId, "a", "--downstream", "--only-failed", "--dry-run"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would clear 2 task instance\(s\)[^\n]*:\n {2}b \(failed\)\n {2}c \(upstream_failed\)\n$/);
  assert.equal(cliJson<{ state: string }>(sb, ["runs", "show", run.runId]).json.state, "failed");
});

test("a task that writes nothing still has a log: its attempt's start and end", () => {
  const run = runJson();
  const log = cli(sb, ["logs", run.runId, "a"]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /INFO\s+attempt 1 of 1 started on \S+ \(the task wrote no log lines\)\n/);
  assert.match(log.stdout, /INFO\s+attempt 1 of 1 succeeded after \d+ ms\n/);
});

test("--param against the schema: a number over the maximum says so (not 'expected number, received string'); text stays text", () => {
  const over = cli(sb, ["trigger", "chain", "--param", "limit=20"]);
  assert.notEqual(over.code, 0);
  assert.match(over.stderr, /limit/);
  assert.match(over.stderr, /10/);
  assert.doesNotMatch(over.stderr, /received string/);
  const ok = cliJson<{ params: Record<string, unknown> }>(sb, ["trigger", "chain", "--param", "limit=7", "--param", "name=123"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(ok.json.params, { limit: 7, name: "123" });
});

test("trigger refuses a DAG of another --dags folder when the store is another deployment's", () => {
  // the deployment's DAGs are registered in the store (a scheduler does it; `dags unpause` too, from this folder)
  assert.equal(cli(sb, ["dags", "unpause", "chain"]).code, 0);
  const other = sandbox("sluice-cli-tasks-other-");
  try {
    other.write("lonely.ts", `import { dag } from "sluice";\nexport default dag("lonely", (d) => { d.task("t", async () => 1); });\n`);
    const r = cli(sb, ["trigger", "lonely", "--dags", other.dags]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /DAG_NOT_FOUND/);
    assert.match(r.stderr, /"lonely" .* is not one of the deployment's DAGs/);
    assert.match(r.stderr, /put its file in the deployment's DAGs folder/);
    // a DAG of the deployment's own folder is triggered as before
    const same = cliJson<{ runId: string }>(sb, ["trigger", "chain"]);
    assert.equal(same.code, 0, same.stderr);
  } finally {
    other.cleanup();
  }
});
