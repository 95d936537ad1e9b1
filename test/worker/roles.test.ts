/**
 * Roles as processes: `sluice worker` drains on SIGTERM (running tasks get the grace period, the rest are
 * handed back and restart at once on another worker, not counted against retries), `sluice status`
 * shows the deployment, `sluice server` serves the API alone.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { after, test } from "node:test";
import { cli, cliJson, waitFor } from "../helpers.js";
import { Procs, attempts, query, runStates } from "./procs.js";

const procs = new Procs();
after(() => procs.cleanup());

test("SIGTERM drains a worker: a task still running after the grace period is handed back and restarts at once elsewhere, not counted as a failure", async () => {
  const sb = procs.sandbox((marks) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("long", (d) => {
  d.task("quick", async () => "done");
  d.task("t", { retries: 0 }, async (_i, ctx) => {
    if (ctx.attempt > 1) return "second attempt";
    appendFileSync(${JSON.stringify(marks)}, "started\\n");
    await new Promise((_, reject) =>
      ctx.signal.addEventListener("abort", () => {
        appendFileSync(${JSON.stringify(marks)}, "aborted " + ctx.signal.reason.code + "\\n");
        reject(ctx.signal.reason);
      }),
    );
  });
});
`);
  const marks = `${sb.dir}/marks`;
  // a 10-minute lease: if the task restarts within the test, it was handed back, not found by a sweep
  const env = { SLUICE_LEASE_MS: "600000" };
  const a = procs.start(sb, ["worker", "--grace-period", "1s"], env);
  await waitFor(() => query(sb, "select 1 from workers where state = 'running'").length > 0, 60_000, `worker A to register\n${a.out()}`);
  assert.equal(cli(sb, ["trigger", "long"], env).code, 0);
  await waitFor(() => existsSync(marks), 60_000, `the task to start\n${a.out()}`);
  a.proc.kill("SIGTERM");
  assert.equal(await a.exited, 0, a.out());
  assert.match(a.out(), /handing them back/);
  assert.match(readFileSync(marks, "utf8"), /aborted INTERRUPTED/);
  const [first] = attempts(sb, "long").filter((x) => x.task_id === "t");
  assert.equal(first!.state, "interrupted");
  assert.equal(first!.error_code, "INTERRUPTED");
  const [ti] = query<{ state: string; try_base: number }>(sb, "select state, try_base from task_instances where task_id = 't'");
  assert.deepEqual(ti, { state: "scheduled", try_base: 1 }, "back in the ready queue, its try not counted");
  assert.deepEqual(query(sb, "select state from workers"), [{ state: "stopped" }]);

  const b = procs.start(sb, ["worker"], env);
  await waitFor(() => runStates(sb, "long")[0] === "success" || runStates(sb, "long")[0] === "failed", 60_000, `the run to end\n${b.out()}`);
  assert.equal(runStates(sb, "long")[0], "success", "retries: 0, yet the run succeeds: the handed-back try did not count");
  const rows = attempts(sb, "long").filter((x) => x.task_id === "t");
  assert.deepEqual(rows.map((r) => [r.try_number, r.state]), [[1, "interrupted"], [2, "success"]]);
  assert.notEqual(rows[1]!.worker_id, rows[0]!.worker_id);
  b.proc.kill("SIGTERM");
  assert.equal(await b.exited, 0);
});

test("a second SIGTERM hands running attempts back at once (grace period or not) and exits; the tries are not counted", async () => {
  const sb = procs.sandbox((marks) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("stubborn", (d) => {
  d.task("ignores_abort", { retries: 0 }, async (_i, ctx) => {
    if (ctx.attempt > 1) return "second attempt";
    appendFileSync(${JSON.stringify(marks)}, "started\\n");
    setInterval(() => undefined, 1000); // keeps the event loop busy, like a client with a socket
    await new Promise(() => undefined); // never ends, never looks at ctx.signal
  });
});
`);
  const marks = `${sb.dir}/marks`;
  // a grace period and a lease far longer than the test: only the hand-back can end it in time
  const env = { SLUICE_LEASE_MS: "600000" };
  const a = procs.start(sb, ["worker", "--grace-period", "10m"], env);
  await waitFor(() => query(sb, "select 1 from workers where state = 'running'").length > 0, 60_000, `the worker to register\n${a.out()}`);
  assert.equal(cli(sb, ["trigger", "stubborn"], env).code, 0);
  await waitFor(() => existsSync(marks), 60_000, `the task to start\n${a.out()}`);
  a.proc.kill("SIGTERM");
  await waitFor(() => a.out().includes("stopping"), 30_000, `the drain to start\n${a.out()}`);
  a.proc.kill("SIGTERM");
  assert.equal(await a.exited, 130, a.out());
  assert.match(a.out(), /handing back 1 running task\(s\) now/);
  const [first] = attempts(sb, "stubborn");
  assert.equal(first!.state, "interrupted", "recorded before the exit, not left to its lease");
  const [ti] = query<{ state: string; try_base: number }>(sb, "select state, try_base from task_instances where task_id = 'ignores_abort'");
  assert.deepEqual(ti, { state: "scheduled", try_base: 1 }, "back in the ready queue, its try not counted");
  assert.deepEqual(query(sb, "select state from workers"), [{ state: "stopped" }]);

  const b = procs.start(sb, ["worker"], env);
  await waitFor(() => runStates(sb, "stubborn")[0] === "success", 60_000, `the run to succeed on the second worker\n${b.out()}`);
  b.proc.kill("SIGTERM");
  assert.equal(await b.exited, 0);
});

test("run timeouts live in the store: a run created by `sluice trigger` (no process armed a timer) times out under a worker that never saw it created", async () => {
  const sb = procs.sandbox((marks) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("bounded", { runTimeout: "3s" }, (d) => {
  d.task("slow", async (_i, ctx) => {
    appendFileSync(${JSON.stringify(marks)}, "started\\n");
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
    appendFileSync(${JSON.stringify(marks)}, "aborted " + ctx.signal.reason.code + "\\n");
  });
});
`);
  const marks = `${sb.dir}/marks`;
  // the sweep runs every lease/2: 1 s here
  const env = { SLUICE_LEASE_MS: "2000" };
  const t = cli(sb, ["trigger", "bounded"], env); // creates the run and exits: its timer dies with it
  assert.equal(t.code, 0, t.stderr);
  const w = procs.start(sb, ["worker"], env);
  await waitFor(() => existsSync(marks), 60_000, `the task to start\n${w.out()}`);
  await waitFor(() => runStates(sb, "bounded")[0] === "failed", 60_000, `the run to time out\n${w.out()}`);
  const [run] = query<{ state: string; state_reason: string; timeout_at: number; ended_at: number }>(sb, "select state, state_reason, timeout_at, ended_at from runs");
  assert.match(run!.state_reason, /^run timed out after 3(\.00)?s$/);
  assert.ok(run!.ended_at >= run!.timeout_at, "not before its deadline");
  assert.ok(run!.ended_at - run!.timeout_at < 20_000, `within a sweep or two of it (${run!.ended_at - run!.timeout_at} ms late)`);
  await waitFor(() => readFileSync(marks, "utf8").includes("aborted"), 30_000, "the task to be aborted");
  assert.match(readFileSync(marks, "utf8"), /aborted TIMEOUT/);
  w.proc.kill("SIGTERM");
  assert.equal(await w.exited, 0);
});

test("the queued timeout: a task nothing can run (no worker serves its queue) fails with QUEUED_TIMEOUT saying why; one that waits for a pool slot does not", async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("stuck", (d) => {
  const gpu = d.task("gpu_only", { queue: "gpu" }, async () => "never");
  d.task("after_gpu", { after: [gpu] }, async () => "never either");
  d.task("slow_a", { pool: "one" }, async () => { await new Promise((r) => setTimeout(r, 3000)); return "a"; });
  d.task("slow_b", { pool: "one" }, async () => { await new Promise((r) => setTimeout(r, 3000)); return "b"; });
});
`);
  // the sweep runs every lease/2 (1 s); ready for 1.5 s with nothing able to run it: failed
  const env = { SLUICE_LEASE_MS: "2000", SLUICE_QUEUED_TIMEOUT_MS: "1500" };
  assert.equal(cli(sb, ["pools", "set", "one", "--slots", "1"], env).code, 0);
  // triggered while no worker is up, and ready past the timeout when the first worker starts: tasks a
  // worker can run must not be failed for "no live worker" in the moment it is registering
  assert.equal(cli(sb, ["trigger", "stuck"], env).code, 0);
  await new Promise((r) => setTimeout(r, 2500));
  const w = procs.start(sb, ["worker"], env);
  await waitFor(() => query(sb, "select 1 from workers where state = 'running'").length > 0, 60_000, `the worker to register\n${w.out()}`);
  await waitFor(() => runStates(sb, "stuck")[0] === "failed", 60_000, `the run to end\n${w.out()}`);
  const runId = cliJson(sb, ["runs", "list", "--dag", "stuck"], env).json.runs[0].runId as string;
  const show = cliJson(sb, ["runs", "show", runId], env).json as { tasks: { taskId: string; state: string; attempts: { errorCode: string | null; errorMessage: string | null }[] }[] };
  const byId = Object.fromEntries(show.tasks.map((t) => [t.taskId, t]));
  assert.deepEqual(Object.fromEntries(show.tasks.map((t) => [t.taskId, t.state])), { gpu_only: "failed", after_gpu: "upstream_failed", slow_a: "success", slow_b: "success" });
  const [never] = byId["gpu_only"]!.attempts;
  assert.equal(never!.errorCode, "QUEUED_TIMEOUT");
  assert.match(never!.errorMessage!, /^task "gpu_only" was ready for [\d.]+s and nothing can run it: no live worker serves queue gpu/);
  assert.match(cli(sb, ["runs", "show", runId], env).stdout, /gpu_only\s+failed\s+1\s+.*QUEUED_TIMEOUT: task "gpu_only" was ready/);
  w.proc.kill("SIGTERM");
  assert.equal(await w.exited, 0);
});

test("sluice status shows schedulers, workers (queues, capacity, running tasks), queue depths and pools", async () => {
  const sb = procs.sandbox((marks) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("mixed", (d) => {
  d.task("waits", { queue: "default" }, async (_i, ctx) => {
    appendFileSync(${JSON.stringify(marks)}, "started\\n");
    await new Promise((r) => ctx.signal.addEventListener("abort", r));
  });
  d.task("nobody_serves", { queue: "orphan" }, async () => "never");
});
`);
  const marks = `${sb.dir}/marks`;
  const s = procs.start(sb, ["scheduler"]);
  await waitFor(() => s.out().includes("Trigger a run"), 60_000, `the scheduler to start\n${s.out()}`);
  const w = procs.start(sb, ["worker", "--queues", "default,gpu", "--resources", "cpu=4,memory=16Gi,gpu=1", "--concurrency", "3"]);
  await waitFor(() => query(sb, "select 1 from workers where role = 'worker'").length > 0, 60_000, `the worker to register\n${w.out()}`);
  assert.equal(cli(sb, ["trigger", "mixed"]).code, 0);
  await waitFor(() => existsSync(marks), 60_000, `the task to start\n${w.out()}`);

  const { code, json } = cliJson(sb, ["status"]);
  assert.equal(code, 0);
  assert.equal(json.schedulers.length, 1);
  assert.equal(json.schedulers[0].pid, s.proc.pid);
  assert.equal(json.schedulers[0].state, "running");
  assert.equal(json.workers.length, 1);
  const worker = json.workers[0];
  assert.equal(worker.pid, w.proc.pid);
  assert.deepEqual(worker.queues, ["default", "gpu"]);
  assert.deepEqual(worker.resources, { cpu: 4, memoryMb: 16384, gpu: 1 });
  assert.equal(worker.concurrency, 3);
  assert.equal(worker.running, 1);
  assert.equal(typeof worker.host, "string");
  assert.ok(worker.lastHeartbeatAt >= worker.startedAt);
  const queue = (name: string) => json.queues.find((q: { queue: string }) => q.queue === name);
  assert.deepEqual(queue("orphan"), { queue: "orphan", ready: 1, running: 0, workers: 0 }, "a queue no worker serves: its task waits");
  assert.deepEqual(queue("default"), { queue: "default", ready: 0, running: 1, workers: 1 });
  assert.deepEqual(queue("gpu"), { queue: "gpu", ready: 0, running: 0, workers: 1 });
  const pool = json.pools.find((p: { name: string }) => p.name === "default_pool");
  assert.deepEqual(pool, { name: "default_pool", slots: 128, description: "tasks that name no pool", used: 1, queued: 1 });

  const text = cli(sb, ["status"]);
  assert.equal(text.code, 0);
  for (const heading of ["SCHEDULERS (1)", "WORKERS (1)", "QUEUES", "POOLS"]) assert.ok(text.stdout.includes(heading), text.stdout);
  assert.match(text.stdout, /cpu=4,memory=16Gi,gpu=1/);
  assert.match(text.stdout, /orphan\s+1\s+0\s+0/);

  // the task nobody can run says why, in `runs show` (JSON and table)
  const runId = cliJson(sb, ["runs", "list", "--dag", "mixed"]).json.runs[0].runId as string;
  const show = cliJson(sb, ["runs", "show", runId]);
  const reasons = Object.fromEntries(show.json.tasks.map((t: { taskId: string; waitingReason: string | null }) => [t.taskId, t.waitingReason]));
  assert.deepEqual(reasons, { waits: null, nobody_serves: "waiting: no live worker serves queue orphan (sluice worker --queues orphan)" });
  assert.match(cli(sb, ["runs", "show", runId]).stdout, /nobody_serves\s+scheduled\s+0\s+waiting: no live worker serves queue orphan/);
});

test("sluice server serves the web UI and API alone; events need SLUICE_EVENT_TOKEN", async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("noop", (d) => { d.task("a", async () => 1); });
`);
  const srv = procs.start(sb, ["server", "--port", "0"], { SLUICE_ADMIN_PASSWORD: "an-admin-password" });
  await waitFor(() => /http:\/\/[^\s]+/.test(srv.out()), 60_000, `the server to start\n${srv.out()}`);
  const url = /(http:\/\/[^\s/]+)/.exec(srv.out())![1]!;
  const health = await fetch(`${url}/api/v1/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: "ok", db: "ok", disk: "ok" });
  assert.equal((await fetch(`${url}/api/v1/dags`)).status, 401, "deny by default");
  const events = await fetch(`${url}/api/v1/events/x`, { method: "POST" });
  assert.equal(events.status, 401);
  assert.match(((await events.json()) as { message: string }).message, /SLUICE_EVENT_TOKEN/);
  srv.proc.kill("SIGTERM");
  assert.equal(await srv.exited, 0);
});

test("bad worker flags exit 2 with a message naming the flag, before anything starts", () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("noop", (d) => { d.task("a", async () => 1); });
`);
  for (const [args, message] of [
    [["--resources", "cpu=four"], /--resources cpu: "four" is not a number/],
    [["--resources", "disk=1"], /--resources: "disk=1" is not cpu=<n>, memory=<amount> or gpu=<n>/],
    [["--queues", ","], /--queues: name at least one queue/],
    [["--grace-period", "soon"], /--grace-period: "soon" is not a duration/],
  ] as const) {
    const r = cli(sb, ["worker", ...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
  assert.deepEqual(query(sb, "select worker_id from workers"), [], "no worker registered");
});

test("sluice worker imports its DAGs folder before it registers: its first task does not wait for the import", async () => {
  const sb = procs.sandbox((marks) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
appendFileSync(${JSON.stringify(marks)}, "imported by " + process.pid + "\\n");
export default dag("preloaded", (d) => {
  d.task("t", async () => "done");
});
`);
  const marks = `${sb.dir}/marks`;
  const w = procs.start(sb, ["worker"]);
  const byWorker = () => readFileSync(marks, "utf8").split("\n").filter((l) => l === `imported by ${w.proc.pid}`).length;
  await waitFor(() => query(sb, "select 1 from workers where state = 'running'").length > 0, 60_000, `the worker to register\n${w.out()}`);
  assert.equal(byWorker(), 1, "imported before registering, before any run");
  assert.equal(cli(sb, ["trigger", "preloaded"]).code, 0);
  await waitFor(() => runStates(sb, "preloaded")[0] === "success", 60_000, `the run to succeed\n${w.out()}`);
  assert.equal(byWorker(), 1, "its task ran on the code imported at start");
  w.proc.kill("SIGTERM");
  assert.equal(await w.exited, 0);
});

test("an idle sluice worker keeps its row alive (its heartbeat thread starts with its first attempt, the main thread beats until then)", async () => {
  const sb = procs.sandbox(() => `import { dag } from "sluice";
export default dag("idle", (d) => { d.task("t", async () => 1); });
`);
  // a short lease: the row must be renewed several times while the worker runs nothing
  const env = { SLUICE_LEASE_MS: "1500" };
  const w = procs.start(sb, ["worker"], env);
  await waitFor(() => query(sb, "select 1 from workers where state = 'running'").length > 0, 60_000, `the worker to register\n${w.out()}`);
  const beat = () => query<{ heartbeat_at: number }>(sb, "select heartbeat_at from workers where state = 'running'")[0]?.heartbeat_at ?? 0;
  const first = beat();
  await waitFor(() => beat() >= first + 3000, 30_000, `the idle worker's row to be renewed past two leases\n${w.out()}`);
  assert.deepEqual(query(sb, "select state from workers"), [{ state: "running" }], "still alive, never swept");
  // and once it runs an attempt, its thread takes over: the run succeeds
  assert.equal(cli(sb, ["trigger", "idle"], env).code, 0);
  await waitFor(() => runStates(sb, "idle")[0] === "success", 60_000, `the run to succeed\n${w.out()}`);
  w.proc.kill("SIGTERM");
  assert.equal(await w.exited, 0, w.out());
});
