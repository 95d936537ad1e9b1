/**
 * Capacity with real worker processes on one SQLite file: pools, queues, resources, priorities, fairness
 * between DAGs, maxActiveTasks and maxActiveTisPerDag. Limits are checked on the recorded history (the
 * attempts' intervals), never on timings.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cli, waitFor, type Sandbox } from "../helpers.js";
import { Procs, attempts, query, runStates, type AttemptRow } from "./procs.js";

const procs = new Procs();
after(() => procs.cleanup());

/** The most attempts running at one instant (an end at t comes before a start at t). */
function maxOverlap(rows: AttemptRow[]): number {
  const events = rows.flatMap((r) => [
    [r.started_at, 1],
    [r.ended_at!, -1],
  ]);
  events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let now = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (now += d!));
  return max;
}

const sleepTask = (id: string, opts: string, ms = 300) => `  d.task("${id}", ${opts}, async () => { await new Promise((r) => setTimeout(r, ${ms})); return "${id}"; });`;

async function worker(sb: Sandbox, args: string[] = []): Promise<string> {
  const before = new Set(query<{ worker_id: string }>(sb, "select worker_id from workers").map((w) => w.worker_id));
  const w = procs.start(sb, ["worker", "--quiet", ...args]);
  let id: string | undefined;
  await waitFor(
    () => (id = query<{ worker_id: string }>(sb, "select worker_id from workers where state = 'running'").find((x) => !before.has(x.worker_id))?.worker_id) !== undefined,
    60_000,
    `the worker to register\n${w.out()}`,
  );
  return id!;
}

async function runToEnd(sb: Sandbox, dagId: string, n = 1): Promise<void> {
  await waitFor(() => {
    const s = runStates(sb, dagId);
    return s.length >= n && s.every((x) => x === "success" || x === "failed");
  }, 90_000, `the runs of ${dagId} to end`);
  assert.deepEqual(runStates(sb, dagId), Array(n).fill("success"));
}

function trigger(sb: Sandbox, dagId: string): void {
  const r = cli(sb, ["trigger", dagId]);
  assert.equal(r.code, 0, r.stderr);
}

test("a pool of 2 never has more than 2 tasks running across two workers; poolSlots counts; an unknown pool fails the task naming pool and task", async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("pooled", (d) => {
${Array.from({ length: 8 }, (_, i) => sleepTask(`t${i}`, `{ pool: "two" }`)).join("\n")}
${sleepTask("wide", `{ pool: "two", poolSlots: 2 }`)}
});
`);
  sb.write("unknown.ts", `import { dag } from "sluice";
export default dag("nopool", (d) => { d.task("lonely", { pool: "missing" }, async () => 1); });
`);
  const set = cli(sb, ["pools", "set", "two", "--slots", "2", "--description", "two at once"]);
  assert.equal(set.code, 0, set.stderr);
  trigger(sb, "pooled");
  await worker(sb, ["--concurrency", "4"]);
  await worker(sb, ["--concurrency", "4"]);
  await runToEnd(sb, "pooled");
  const rows = attempts(sb, "pooled");
  assert.equal(rows.length, 9);
  assert.ok(maxOverlap(rows) <= 2, `at most 2 slots in use, got ${maxOverlap(rows)} tasks at once`);
  const wide = rows.find((r) => r.task_id === "wide")!;
  const beside = rows.filter((r) => r !== wide && r.started_at < wide.ended_at! && r.ended_at! > wide.started_at);
  assert.deepEqual(beside, [], "a task holding both slots runs alone");

  const list = cli(sb, ["pools", "list", "--json"]);
  assert.deepEqual(
    JSON.parse(list.stdout).pools.map((p: { name: string; slots: number }) => [p.name, p.slots]),
    [["default_pool", 128], ["two", 2]],
  );

  trigger(sb, "nopool");
  await waitFor(() => ["success", "failed"].includes(runStates(sb, "nopool")[0] ?? ""), 60_000, "the run naming a missing pool to end");
  assert.equal(runStates(sb, "nopool")[0], "failed");
  const [a] = attempts(sb, "nopool");
  assert.equal(a!.error_code, "POOL_NOT_FOUND");
  const msg = query<{ error_message: string }>(sb, "select error_message from attempts where attempt_id = ?", a!.attempt_id)[0]!.error_message;
  assert.match(msg, /task "lonely" of DAG "nopool" names the pool "missing", which does not exist/);

  const bad = cli(sb, ["pools", "delete", "nothere"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no pool named "nothere"/);
  const keep = cli(sb, ["pools", "delete", "default_pool"]);
  assert.equal(keep.code, 2);
  assert.equal(cli(sb, ["pools", "delete", "two"]).code, 0);
});

test("queues and resources: a gpu-queue task runs only on the gpu worker; a worker's declared cpu bounds its running tasks' requests", async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("routed", (d) => {
${sleepTask("train", `{ queue: "gpu", resources: { gpu: 1 } }`)}
${Array.from({ length: 4 }, (_, i) => sleepTask(`prep${i}`, `{ resources: { cpu: 1, memory: "1Gi" } }`)).join("\n")}
${sleepTask("toobig", `{ resources: { cpu: 1, gpu: 1 } }`)}
});
`);
  trigger(sb, "routed");
  // the default worker: 8 slots but 2 cpus and no gpu; the gpu worker serves only the gpu queue
  const cpuWorker = await worker(sb, ["--concurrency", "8", "--resources", "cpu=2,memory=8Gi,gpu=0"]);
  const gpuWorker = await worker(sb, ["--queues", "gpu", "--resources", "gpu=1"]);
  await waitFor(() => attempts(sb, "routed").filter((r) => r.state === "success").length === 5, 90_000, "train and the prep tasks to succeed");
  const rows = attempts(sb, "routed");
  assert.equal(rows.find((r) => r.task_id === "train")!.worker_id, gpuWorker);
  const preps = rows.filter((r) => r.task_id.startsWith("prep"));
  assert.ok(preps.every((r) => r.worker_id === cpuWorker));
  assert.ok(maxOverlap(preps) <= 2, `2 cpus: at most 2 cpu-1 tasks at once, got ${maxOverlap(preps)}`);
  // toobig asks for a gpu in the default queue; the only worker serving it declared gpu=0
  assert.equal(rows.filter((r) => r.task_id === "toobig").length, 0);
  const [ti] = query<{ state: string }>(sb, "select state from task_instances where task_id = 'toobig'");
  assert.equal(ti!.state, "scheduled");
});

test("priority: higher first; among equal priorities DAGs share the workers fairly", async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export const prio = dag("prio", (d) => {
${sleepTask("low", `{ priority: 1 }`, 50)}
${sleepTask("high", `{ priority: 5 }`, 50)}
${sleepTask("mid", `{ priority: 3 }`, 50)}
});
`);
  sb.write("fair.ts", `import { dag } from "sluice";
const many = (id: string, n: number) => dag(id, (d) => {
  for (let i = 0; i < n; i++) d.task("x" + i, async () => { await new Promise((r) => setTimeout(r, 20)); return i; });
});
// fa's 200 ready tasks are older than fb's and fill the rows a claim reads first
export const a = many("fa", 200);
export const b = many("fb", 4);
`);
  trigger(sb, "prio");
  await worker(sb, ["--concurrency", "1"]);
  await runToEnd(sb, "prio");
  assert.deepEqual(attempts(sb, "prio").map((r) => r.task_id), ["high", "mid", "low"]);
  await procs.stopAll("SIGTERM");

  // both runs are ready before a worker exists: fa's 200 tasks are older, yet fb gets its share at once
  trigger(sb, "fa");
  trigger(sb, "fb");
  procs.start(sb, ["worker", "--quiet", "--concurrency", "2"]);
  await runToEnd(sb, "fa");
  await runToEnd(sb, "fb");
  const order = query<{ dag_id: string }>(
    sb,
    "select r.dag_id from attempts a join runs r on r.run_id = a.run_id where r.dag_id in ('fa', 'fb') order by a.attempt_id",
  ).map((r) => r.dag_id);
  assert.deepEqual([...order.slice(0, 2)].sort(), ["fa", "fb"], `the first claim serves both DAGs: ${order.join(",")}`);
  assert.deepEqual([...order.slice(0, 4)].sort(), ["fa", "fa", "fb", "fb"], `the first four: ${order.join(",")}`);
});

test("maxActiveTasks bounds a DAG's running tasks; maxActiveTisPerDag bounds one task across runs", async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export const capped = dag("capped", { maxActiveTasks: 2 }, (d) => {
${Array.from({ length: 6 }, (_, i) => sleepTask(`c${i}`, `{}`)).join("\n")}
});
export const single = dag("single", { maxActiveRuns: 5 }, (d) => {
${sleepTask("only", `{ maxActiveTisPerDag: 1 }`)}
${sleepTask("free", `{}`)}
});
`);
  trigger(sb, "capped");
  for (let i = 0; i < 3; i++) trigger(sb, "single");
  await worker(sb, ["--concurrency", "16"]);
  await runToEnd(sb, "capped");
  await runToEnd(sb, "single", 3);
  const capped = attempts(sb, "capped");
  assert.equal(capped.length, 6);
  assert.ok(maxOverlap(capped) <= 2, `maxActiveTasks 2, got ${maxOverlap(capped)} at once`);
  const only = attempts(sb, "single").filter((r) => r.task_id === "only");
  assert.equal(only.length, 3);
  assert.equal(maxOverlap(only), 1, "one instance of the task at a time across runs");
});
