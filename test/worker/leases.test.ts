/**
 * Leases with real processes: a `sluice worker` and a `sluice scheduler` (whose sweep fails attempts
 * whose lease expired) on one SQLite file, with a 1 s lease.
 *
 * - A CPU-bound in-process task blocks the worker's event loop for 4 leases: its heartbeats come from a
 *   worker thread, so it keeps its lease and succeeds on its first attempt.
 * - A worker frozen (SIGSTOP) past its lease loses the attempt to the sweep; when it wakes, its heartbeat
 *   thread learns the attempt is no longer its own and the task is aborted with LEASE_LOST (fencing).
 * - A worker that never heartbeats at all (frozen right after its claim) is detected too: the lease
 *   starts at claim time.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";
import type { AttemptRow } from "./procs.js";

const LEASE = { SLUICE_LEASE_MS: "1000", SLUICE_HEARTBEAT_MS: "100" };
const procs: ChildProcess[] = [];
const boxes: Sandbox[] = [];

after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  for (const b of boxes) b.cleanup();
});

function start(sb: Sandbox, args: string[], env: NodeJS.ProcessEnv): { proc: ChildProcess; out: () => string } {
  const proc = cliSpawn(sb, args, env);
  procs.push(proc);
  let out = "";
  proc.stdout!.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  return { proc, out: () => out };
}

function query<T>(sb: Sandbox, text: string, ...params: unknown[]): T[] {
  const file = join(sb.home, "sluice.db");
  if (!existsSync(file)) return [];
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(text).all(...params) as T[];
  } catch {
    return []; // not migrated yet
  } finally {
    db.close();
  }
}

const attempts = (sb: Sandbox, dagId: string) =>
  query<AttemptRow>(
    sb,
    `select a.attempt_id, a.try_number, a.state, a.worker_id, a.started_at, a.ended_at, a.heartbeat_at, a.lease_expires_at, a.error_code
       from attempts a join runs r on r.run_id = a.run_id where r.dag_id = ? order by a.attempt_id`,
    dagId,
  );
const runState = (sb: Sandbox, dagId: string) => query<{ state: string }>(sb, "select state from runs where dag_id = ?", dagId)[0]?.state;

/** A sandbox with one DAG file; `marks` is a file the tasks append to. */
function setup(dagFile: (marks: string) => string): Sandbox {
  const sb = sandbox("sluice-leases-");
  boxes.push(sb);
  sb.write("dag.ts", dagFile(join(sb.dir, "marks")));
  return sb;
}

async function startRoles(sb: Sandbox, workerEnv: NodeJS.ProcessEnv = LEASE) {
  const scheduler = start(sb, ["scheduler"], LEASE);
  await waitFor(() => scheduler.out().includes("Trigger a run"), 60_000, "the scheduler to start");
  const worker = start(sb, ["worker", "--quiet"], workerEnv);
  await waitFor(() => query(sb, "select 1 from workers where state = 'running' and role = 'worker'").length > 0, 60_000, "the worker to register");
  return { scheduler, worker };
}

test("a CPU-bound in-process task blocking the event loop for 4 leases keeps its lease and succeeds", async () => {
  const sb = setup(() => `import { dag } from "sluice";
export default dag("busy", (d) => {
  d.task("spin", { retries: 2 }, () => {
    // no await: the worker's event loop is blocked for 4 s, four times the 1 s lease
    const end = Date.now() + 4000;
    let n = 0;
    while (Date.now() < end) n++;
    return n > 0;
  });
});
`);
  const { scheduler, worker } = await startRoles(sb);
  assert.equal(cli(sb, ["trigger", "busy"], LEASE).code, 0);
  await waitFor(() => runState(sb, "busy") === "success" || runState(sb, "busy") === "failed", 60_000, `the run to end\n${worker.out()}\n${scheduler.out()}`);
  const rows = attempts(sb, "busy");
  assert.equal(runState(sb, "busy"), "success");
  assert.equal(rows.length, 1, `one attempt, none lost to the sweep: ${JSON.stringify(rows)}`);
  const [a] = rows;
  assert.equal(a!.state, "success");
  assert.ok(a!.ended_at! - a!.started_at >= 3000, "the task blocked its loop for more than 3 leases");
  assert.ok(a!.heartbeat_at > a!.started_at, "its lease was renewed while the loop was blocked");
});

test("a worker frozen past its lease loses the attempt to the sweep; on waking its task is aborted with LEASE_LOST", async () => {
  const sb = setup((marks) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("frozen", (d) => {
  d.task("wait", { retries: 1 }, async (_i, ctx) => {
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
  const marks = join(sb.dir, "marks");
  const { worker } = await startRoles(sb);
  assert.equal(cli(sb, ["trigger", "frozen"], LEASE).code, 0);
  await waitFor(() => existsSync(marks) && readFileSync(marks, "utf8").includes("started"), 60_000, "the task to start");
  worker.proc.kill("SIGSTOP");
  try {
    await waitFor(() => attempts(sb, "frozen")[0]?.state === "failed", 60_000, "the sweep to fail the frozen worker's attempt");
  } finally {
    worker.proc.kill("SIGCONT");
  }
  assert.equal(attempts(sb, "frozen")[0]!.error_code, "WORKER_LOST");
  await waitFor(() => readFileSync(marks, "utf8").includes("aborted"), 60_000, `the fenced task to be aborted\n${worker.out()}`);
  assert.match(readFileSync(marks, "utf8"), /aborted LEASE_LOST/);
  await waitFor(() => runState(sb, "frozen") === "success", 60_000, "the second attempt to succeed");
  const rows = attempts(sb, "frozen");
  assert.deepEqual(rows.map((r) => [r.try_number, r.state]), [[1, "failed"], [2, "success"]]);
  assert.equal(rows[0]!.error_code, "WORKER_LOST", "the stale worker's own result did not overwrite the sweep's");
});

test("a worker that stops before its first heartbeat is detected: the lease starts at claim time", async () => {
  const sb = setup((marks) => `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
export default dag("early", (d) => {
  d.task("t", { retries: 1 }, async (_i, ctx) => {
    if (ctx.attempt > 1) return "second attempt";
    appendFileSync(${JSON.stringify(marks)}, "started\\n");
    await new Promise((r) => setTimeout(r, 600_000));
  });
});
`);
  const marks = join(sb.dir, "marks");
  // this worker never heartbeats: its first heartbeat would be due in 10 minutes
  const { scheduler, worker } = await startRoles(sb, { ...LEASE, SLUICE_HEARTBEAT_MS: "600000" });
  assert.equal(cli(sb, ["trigger", "early"], LEASE).code, 0);
  await waitFor(() => existsSync(marks), 60_000, "the task to start");
  worker.proc.kill("SIGSTOP"); // alive (its pid exists) but silent: only the lease can tell
  await waitFor(() => attempts(sb, "early")[0]?.state === "failed", 60_000, `the sweep to fail the silent attempt\n${scheduler.out()}`);
  const [first] = attempts(sb, "early");
  assert.equal(first!.error_code, "WORKER_LOST");
  assert.equal(first!.heartbeat_at, first!.started_at, "it never heartbeat");
  assert.equal(first!.lease_expires_at, first!.started_at + 1000, "its lease ran from the claim");
  worker.proc.kill("SIGKILL");
  // another worker takes the retry
  start(sb, ["worker", "--quiet"], LEASE);
  await waitFor(() => runState(sb, "early") === "success", 60_000, "the retry to succeed on another worker");
  const rows = attempts(sb, "early");
  assert.equal(rows.length, 2);
  assert.notEqual(rows[1]!.worker_id, rows[0]!.worker_id);
});
