/**
 * Durability with real processes: `sluice run` is killed with SIGKILL in the middle of a run, then
 * `sluice runs resume` finishes it. Tasks record their starts and ends in a marker file, and the recorded
 * history (the SQLite file, read directly and read-only) is checked against the invariants of
 * ARCHITECTURE.md (test/invariants.ts): nothing acknowledged is lost, finished work is not redone, at most
 * one live attempt per task instance, attempts ≤ retries + 1, ended attempts never change.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliJson, cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";
import { checkInvariants, findViolations, loadHistory } from "../invariants.js";

const sb = sandbox("sluice-crash-");
after(() => sb.cleanup());
const dbFile = join(sb.home, "sluice.db");

interface AttemptRow {
  attempt_id: number;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  state: string;
  worker_id: string;
  pid: number;
  started_at: number;
  ended_at: number | null;
  error_code: string | null;
  error_message: string | null;
  output_size: number | null;
  output_ref: string | null;
  output_hex: string | null;
}

function readDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

function attempts(runId: string): AttemptRow[] {
  return readDb(
    (db) =>
      db
        .prepare(
          `select attempt_id, run_id, task_id, map_index, try_number, state, worker_id, pid, started_at, ended_at,
                  error_code, error_message, output_size, output_ref, hex(output_inline) as output_hex
             from attempts where run_id = ? order by attempt_id`,
        )
        .all(runId) as AttemptRow[],
  );
}

function taskStates(runId: string): Map<string, { state: string; tryNumber: number }> {
  const rows = readDb(
    (db) =>
      db.prepare("select task_id, map_index, state, try_number from task_instances where run_id = ?").all(runId) as {
        task_id: string;
        map_index: number;
        state: string;
        try_number: number;
      }[],
  );
  return new Map(rows.map((r) => [key(r.task_id, r.map_index), { state: r.state, tryNumber: r.try_number }]));
}

const key = (taskId: string, mapIndex: number) => (mapIndex >= 0 ? `${taskId}[${mapIndex}]` : taskId);

function integrityOk(): void {
  const r = readDb((db) => db.pragma("integrity_check") as { integrity_check: string }[]);
  assert.deepEqual(r, [{ integrity_check: "ok" }]);
}

/** Marker lines: "start <task> <attempt>" / "finish <task> <attempt>". */
function markers(file: string): { event: string; task: string; attempt: number }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [event, task, attempt] = l.split(" ");
      return { event: event!, task: task!, attempt: Number(attempt) };
    });
}

function count(file: string, event: string, task: string): number {
  return markers(file).filter((m) => m.event === event && m.task === task).length;
}

/** The newest run of a DAG, straight from the database (fast enough to catch a run while it goes). */
function latestRunId(dagId: string): string {
  if (!existsSync(dbFile)) return "";
  try {
    const row = readDb((db) => db.prepare("select run_id from runs where dag_id = ? order by created_at desc limit 1").get(dagId) as { run_id: string } | undefined);
    return row?.run_id ?? "";
  } catch {
    return ""; // the database is still being created
  }
}

async function runIdOf(s: Sandbox, dagId: string): Promise<string> {
  let id = "";
  await waitFor(
    () => {
      const r = cliJson<{ runs: { runId: string }[] }>(s, ["runs", "list", "--dag", dagId]);
      id = r.json.runs[0]?.runId ?? "";
      return id !== "";
    },
    30_000,
    `a run of ${dagId}`,
  );
  return id;
}

function killAndWait(p: ReturnType<typeof cliSpawn>): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once("exit", () => resolve());
    p.kill("SIGKILL");
  });
}

test("kill -9 in the middle of a chain: resume re-runs only the interrupted task, nothing recorded is lost", async () => {
  const marker = join(sb.dir, "chain.marker");
  const n = 8;
  sb.write(
    "chain.ts",
    `import { dag, type TaskRef } from "sluice";
import { appendFileSync } from "node:fs";
const mark = (what: string, id: string, attempt: number) => appendFileSync(${JSON.stringify(marker)}, what + " " + id + " " + attempt + "\\n");
export default dag("chain", { defaults: { retries: 1, retryDelay: "10ms" } }, (d) => {
  let prev: TaskRef<number> | null = null;
  for (let i = 1; i <= ${n}; i++) {
    const id = "t" + i;
    const body = async (input: { prev?: number }, ctx: { attempt: number }) => {
      mark("start", id, ctx.attempt);
      // t4 is killed while it runs: long enough that a loaded machine's kill still lands in it
      await new Promise((r) => setTimeout(r, id === "t4" ? 3000 : 250));
      mark("finish", id, ctx.attempt);
      return (input.prev ?? 0) + i;
    };
    prev = prev === null ? d.task(id, async (_i, ctx) => body({}, ctx)) : d.task(id, { inputs: { prev } }, async (inputs, ctx) => body(inputs, ctx));
  }
});
`,
  );
  const proc = cliSpawn(sb, ["run", "chain"]);
  let killedAfter: string;
  try {
    // t4 has started: t1..t3 are finished and committed (t4 is claimed in the transaction that records t3)
    await waitFor(() => count(marker, "start", "t4") === 1, 60_000, "task t4 to start");
    await killAndWait(proc);
    killedAfter = readFileSync(marker, "utf8");
  } finally {
    await killAndWait(proc);
  }
  const runId = await runIdOf(sb, "chain");
  const before = taskStates(runId);
  assert.deepEqual(
    ["t1", "t2", "t3", "t4", "t5"].map((t) => before.get(t)?.state),
    ["success", "success", "success", "running", "none"],
    `after the kill:\n${killedAfter}`,
  );
  const listed = cliJson<{ runs: { runId: string; state: string }[] }>(sb, ["runs", "list", "--dag", "chain"]);
  assert.equal(listed.json.runs[0]!.state, "running", "the killed run is still running, not lost");
  // the killed process's attempt is still marked running: its run may still run
  const snapshot = await checkInvariants(dbFile, { mayRun: [runId], killed: true });
  integrityOk();
  assert.equal(snapshot.attempts.filter((a) => a.runId === runId && a.state !== "running").length, 3);

  const r = cliJson<{ state: string; tasks: { taskId: string; attempts: number; state: string }[] }>(sb, ["runs", "resume", runId]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.state, "success");
  assert.ok(r.json.tasks.every((t) => t.state === "success"));
  assert.deepEqual(
    r.json.tasks.map((t) => [t.taskId, t.attempts]),
    Array.from({ length: n }, (_, i) => [`t${i + 1}`, i + 1 === 4 ? 2 : 1]),
  );

  // finished tasks were not re-run; the interrupted one ran twice; later ones once
  for (let i = 1; i <= n; i++) {
    const id = `t${i}`;
    assert.equal(count(marker, "start", id), id === "t4" ? 2 : 1, `${id} starts\n${readFileSync(marker, "utf8")}`);
    assert.equal(count(marker, "finish", id), 1, `${id} finishes`);
  }
  const out = cli(sb, ["output", runId, `t${n}`]);
  assert.equal(out.stdout.trim(), String((n * (n + 1)) / 2), "the data passed through the crash intact");

  // the history: the lost attempt failed with WORKER_LOST and was retried; nothing that had ended changed
  const all = attempts(runId);
  const t4 = all.filter((a) => a.task_id === "t4");
  assert.deepEqual(
    t4.map((a) => [a.try_number, a.state, a.error_code]),
    [
      [1, "failed", "WORKER_LOST"],
      [2, "success", null],
    ],
  );
  assert.notEqual(t4[0]!.pid, t4[1]!.pid, "the new attempt ran in the resuming process");
  assert.equal(all.length, n + 1);
  // every attempt recorded before the resume is still there, and those that had ended are unchanged
  await checkInvariants(dbFile, { before: snapshot });
  integrityOk();

  // runs show tells the story too
  const show = cliJson<{ tasks: { taskId: string; attempts: { errorCode: string | null; errorMessage: string | null }[] }[] }>(sb, ["runs", "show", runId]);
  const shown = show.json.tasks.find((t) => t.taskId === "t4")!;
  assert.equal(shown.attempts[0]!.errorCode, "WORKER_LOST");
  assert.match(shown.attempts[0]!.errorMessage!, /worker .* died/);

  // resuming a finished run is harmless: nothing runs again
  const again = cliJson<{ state: string }>(sb, ["runs", "resume", runId]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.json.state, "success");
  assert.equal(attempts(runId).length, n + 1);
  assert.equal(markers(marker).length, 2 * n + 1);
});

test("kill -9 during a mapped fan-out: committed map indexes are kept, the rest finish on resume", async () => {
  const marker = join(sb.dir, "fan.marker");
  sb.write(
    "fan.ts",
    `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
const mark = (what: string, id: string, attempt: number) => appendFileSync(${JSON.stringify(marker)}, what + " " + id + " " + attempt + "\\n");
export default dag("fan", { defaults: { retries: 1, retryDelay: "10ms" } }, (d) => {
  const items = d.task("items", async () => [1, 2, 3, 4, 5, 6, 7, 8]);
  const work = d.map("work", { over: { n: items } }, async ({ n }, ctx) => {
    mark("start", "work" + ctx.mapIndex, ctx.attempt);
    await new Promise((r) => setTimeout(r, 400));
    mark("finish", "work" + ctx.mapIndex, ctx.attempt);
    return n * 10;
  });
  d.task("total", { inputs: { work } }, async ({ work }) => work.reduce((a, b) => a + b, 0));
});
`,
  );
  const proc = cliSpawn(sb, ["run", "fan", "--concurrency", "2"]);
  let runId = "";
  try {
    await waitFor(() => (runId = latestRunId("fan")) !== "", 60_000, "the run to be created");
    // some map indexes committed as success, some running, some not started yet
    await waitFor(
      () => {
        const st = [...taskStates(runId).entries()].filter(([k]) => k.startsWith("work["));
        if (st.length > 0 && st.every(([, v]) => v.state === "success")) throw new Error("the fan-out finished before the test could kill it");
        return st.filter(([, v]) => v.state === "success").length >= 2 && st.some(([, v]) => v.state === "running");
      },
      60_000,
      "the fan-out to be under way",
    );
    await killAndWait(proc);
  } finally {
    await killAndWait(proc);
  }
  const before = taskStates(runId);
  const work = [...before.entries()].filter(([k]) => k.startsWith("work["));
  assert.equal(work.length, 8, "the mapped task had expanded to 8 instances");
  const done = work.filter(([, v]) => v.state === "success").map(([k]) => Number(/\[(\d+)\]/.exec(k)![1]));
  const wasRunning = work.filter(([, v]) => v.state === "running").map(([k]) => Number(/\[(\d+)\]/.exec(k)![1]));
  assert.ok(done.length >= 2 && done.length < 8, `done: ${done.join(",")}`);
  assert.ok(wasRunning.length >= 1);
  const snapshot = await checkInvariants(dbFile, { mayRun: [runId], killed: true });

  const r = cliJson<{ state: string; tasks: { taskId: string; mapIndex: number; attempts: number; state: string }[] }>(sb, ["runs", "resume", runId]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.state, "success");
  assert.equal(cli(sb, ["output", runId, "total"]).stdout.trim(), "360");

  for (let i = 0; i < 8; i++) {
    const starts = count(marker, "start", `work${i}`);
    const t = r.json.tasks.find((x) => x.taskId === "work" && x.mapIndex === i)!;
    assert.equal(t.state, "success");
    if (done.includes(i)) {
      assert.equal(starts, 1, `work[${i}] had finished before the kill and must not run again`);
      assert.equal(t.attempts, 1);
    } else if (wasRunning.includes(i)) {
      assert.equal(t.attempts, 2, `work[${i}] was running: it gets a second attempt`);
      const a = attempts(runId).filter((x) => x.task_id === "work" && x.map_index === i);
      assert.equal(a[0]!.error_code, "WORKER_LOST");
    } else {
      assert.equal(t.attempts, 1, `work[${i}] had not started`);
      assert.equal(starts, 1);
    }
  }
  await checkInvariants(dbFile, { before: snapshot });
  integrityOk();
});

test("kill -9 twice on the same task: it runs out of attempts and fails; attempts never exceed retries + 1", async () => {
  const marker = join(sb.dir, "twice.marker");
  sb.write(
    "twice.ts",
    `import { dag } from "sluice";
import { appendFileSync } from "node:fs";
const mark = (what: string, id: string, attempt: number) => appendFileSync(${JSON.stringify(marker)}, what + " " + id + " " + attempt + "\\n");
export default dag("twice", { defaults: { retries: 1, retryDelay: "10ms" } }, (d) => {
  const step = (id: string) => async (_i: unknown, ctx: { attempt: number }) => {
    mark("start", id, ctx.attempt);
    await new Promise((r) => setTimeout(r, 400));
    mark("finish", id, ctx.attempt);
    return id;
  };
  const a = d.task("a", step("a"));
  const b = d.task("b", { after: [a] }, step("b"));
  const c = d.task("c", { after: [b] }, step("c"));
  d.task("cleanup", { after: [b], triggerRule: "all_done" }, step("cleanup"));
  void c;
});
`,
  );
  const first = cliSpawn(sb, ["run", "twice"]);
  try {
    await waitFor(() => count(marker, "start", "b") === 1, 60_000, "b to start");
    await killAndWait(first);
  } finally {
    await killAndWait(first);
  }
  const runId = await runIdOf(sb, "twice");
  const afterFirst = await checkInvariants(dbFile, { mayRun: [runId], killed: true });
  const second = cliSpawn(sb, ["runs", "resume", runId]);
  try {
    await waitFor(() => markers(marker).some((m) => m.event === "start" && m.task === "b" && m.attempt === 2), 60_000, "b's second attempt");
    await killAndWait(second);
  } finally {
    await killAndWait(second);
  }
  const afterSecond = await checkInvariants(dbFile, { mayRun: [runId], killed: true, before: afterFirst });

  const r = cliJson<{ state: string; tasks: { taskId: string; attempts: number; state: string }[] }>(sb, ["runs", "resume", runId]);
  assert.equal(r.code, 1, `${JSON.stringify(r.json)}\n${r.stderr}\n${readFileSync(marker, "utf8")}`);
  assert.equal(r.json.state, "failed");
  assert.deepEqual(
    r.json.tasks.map((t) => [t.taskId, t.state, t.attempts]),
    [
      ["a", "success", 1],
      ["b", "failed", 2],
      ["c", "upstream_failed", 0],
      ["cleanup", "success", 1],
    ],
  );
  const b = attempts(runId).filter((a) => a.task_id === "b");
  assert.deepEqual(
    b.map((a) => [a.try_number, a.state, a.error_code]),
    [
      [1, "failed", "WORKER_LOST"],
      [2, "failed", "WORKER_LOST"],
    ],
  );
  assert.equal(count(marker, "start", "a"), 1);
  assert.equal(count(marker, "finish", "b"), 0);
  assert.equal(count(marker, "start", "c"), 0);
  await checkInvariants(dbFile, { before: afterSecond });
  integrityOk();
});

test("the invariant checker catches a broken history (it can fail)", async () => {
  // Copy the database, break the chain run's history in the copy in three ways: the checker must notice.
  // (test/invariants.test.ts breaks a history in every other way the checker knows.)
  const runId = cliJson<{ runs: { runId: string }[] }>(sb, ["runs", "list", "--dag", "chain"]).json.runs[0]!.runId;
  assert.deepEqual(findViolations(await loadHistory(dbFile)), []);
  const copy = join(sb.dir, "broken.db");
  readDb((db) => db.exec(`VACUUM INTO '${copy.replace(/'/g, "''")}'`));
  const db = new Database(copy);
  db.prepare("update attempts set state = 'running', ended_at = null where run_id = ? and task_id = 't1'").run(runId);
  db.prepare(
    `insert into attempts (run_id, task_id, map_index, try_number, state, worker_id, hostname, pid, started_at, heartbeat_at, lease_expires_at)
     select run_id, task_id, map_index, 2, 'running', worker_id, hostname, pid, started_at, heartbeat_at, lease_expires_at from attempts where run_id = ? and task_id = 't1'`,
  ).run(runId);
  db.prepare(
    `insert into attempts (run_id, task_id, map_index, try_number, state, worker_id, hostname, pid, started_at, ended_at, heartbeat_at, lease_expires_at, error_code)
     select run_id, task_id, map_index, 3, 'failed', worker_id, hostname, pid, started_at, started_at, heartbeat_at, lease_expires_at, 'TASK_FAILED' from attempts where run_id = ? and task_id = 't4' and try_number = 2`,
  ).run(runId);
  db.close();
  const bad = findViolations(await loadHistory(copy)).map((v) => `[${v.invariant}] ${v.message}`);
  assert.ok(bad.some((b) => /^\[one-live\] run \S+ task t1: 2 live attempts at once/.test(b)), bad.join("\n"));
  assert.ok(bad.some((b) => /^\[attempts\] run \S+ task t4: 3 attempts, more than retries \+ 1 = 2/.test(b)), bad.join("\n"));
  assert.ok(bad.some((b) => /^\[terminal\] run \S+ task t1 attempt \d \(id \d+\) is running \(ended_at null\) in a run that is success/.test(b)), bad.join("\n"));
});
