/**
 * Durability with real processes: `sluice run` is killed with SIGKILL in the middle of a run, then
 * `sluice runs resume` finishes it. Tasks record their starts and ends in a marker file, and the recorded
 * history (the SQLite file, read directly and read-only) is checked against the invariants of
 * ARCHITECTURE.md: nothing acknowledged is lost, finished work is not redone, at most one live attempt
 * per task instance, attempts ≤ retries + 1, ended attempts never change.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import Database from "better-sqlite3";
import { cli, cliJson, cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";

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

/** The database every helper reads; the checker's self-test points it at a damaged copy. */
let current = dbFile;

function readDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(current, { readonly: true, fileMustExist: true });
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

/**
 * The invariants over the recorded history of one run. Returns the violations (empty when all hold), so
 * that a failure lists every broken rule at once.
 */
function checkInvariants(runId: string, opts: { finished: boolean }): string[] {
  const bad: string[] = [];
  const rows = attempts(runId);
  const { spec, run } = readDb((db) => {
    const run = db.prepare("select state, unfinished, dag_id, dag_version from runs where run_id = ?").get(runId) as {
      state: string;
      unfinished: number;
      dag_id: string;
      dag_version: string;
    };
    const v = db.prepare("select spec from dag_versions where dag_id = ? and version = ?").get(run.dag_id, run.dag_version) as { spec: string };
    return { run, spec: JSON.parse(v.spec) as { tasks: { id: string; retry: { retries: number } }[] } };
  });
  const retries = new Map(spec.tasks.map((t) => [t.id, t.retry.retries]));
  const byTi = new Map<string, AttemptRow[]>();
  for (const a of rows) byTi.set(key(a.task_id, a.map_index), [...(byTi.get(key(a.task_id, a.map_index)) ?? []), a]);
  const tis = taskStates(runId);
  for (const [k, list] of byTi) {
    const running = list.filter((a) => a.state === "running");
    if (running.length > 1) bad.push(`${k}: ${running.length} running attempts at once`);
    const max = (retries.get(list[0]!.task_id) ?? 0) + 1;
    if (list.length > max) bad.push(`${k}: ${list.length} attempts, more than retries + 1 = ${max}`);
    const tries = list.map((a) => a.try_number).sort((x, y) => x - y);
    if (tries.some((t, i) => t !== i + 1)) bad.push(`${k}: try numbers ${tries.join(",")} are not 1..${list.length}`);
    for (const a of list) {
      if (a.state !== "running" && a.ended_at === null) bad.push(`${k} attempt ${a.try_number}: ${a.state} without ended_at`);
      if (a.state === "running" && a.ended_at !== null) bad.push(`${k} attempt ${a.try_number}: running with ended_at`);
      if (a.state === "failed" && !a.error_code) bad.push(`${k} attempt ${a.try_number}: failed without an error code`);
      if (a.state === "success" && a.output_hex === null && a.output_ref === null) bad.push(`${k} attempt ${a.try_number}: success without an output`);
    }
    // only the last attempt may be running or successful
    for (const a of list.slice(0, -1)) if (a.state !== "failed") bad.push(`${k} attempt ${a.try_number}: ${a.state} but not the last attempt`);
    const ti = tis.get(k);
    if (!ti) bad.push(`${k}: attempts without a task instance`);
    else if (ti.tryNumber !== list.length) bad.push(`${k}: task instance try_number ${ti.tryNumber}, but ${list.length} attempts`);
  }
  for (const [k, ti] of tis) {
    if (ti.state === "success" && byTi.get(k)?.at(-1)?.state !== "success") bad.push(`${k}: success without a successful last attempt`);
    if (ti.state === "running" && byTi.get(k)?.at(-1)?.state !== "running") bad.push(`${k}: running without a running attempt`);
  }
  if (opts.finished) {
    if (run.state !== "success" && run.state !== "failed") bad.push(`run is ${run.state}, not finished`);
    if (run.unfinished !== 0) bad.push(`run has unfinished = ${run.unfinished}`);
    if (rows.some((a) => a.state === "running")) bad.push("a finished run has running attempts");
    for (const [k, ti] of tis) if (!["success", "failed", "skipped", "upstream_failed", "removed"].includes(ti.state)) bad.push(`${k}: ${ti.state} in a finished run`);
  }
  return bad;
}

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

/** Ended attempts, keyed by id: they must be byte-for-byte the same after recovery. */
function endedSnapshot(runId: string): Map<number, AttemptRow> {
  return new Map(attempts(runId).filter((a) => a.state !== "running").map((a) => [a.attempt_id, a]));
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
      await new Promise((r) => setTimeout(r, 250));
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
  assert.deepEqual(checkInvariants(runId, { finished: false }), []);
  integrityOk();
  const endedBefore = endedSnapshot(runId);
  assert.equal(endedBefore.size, 3);
  const allBefore = attempts(runId);

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
  for (const [id, a] of endedBefore) assert.deepEqual(attempts(runId).find((x) => x.attempt_id === id), a, `ended attempt ${id} changed`);
  for (const a of allBefore) assert.ok(all.some((x) => x.attempt_id === a.attempt_id), `attempt ${a.attempt_id} was lost`);
  assert.equal(all.length, n + 1);
  assert.deepEqual(checkInvariants(runId, { finished: true }), []);
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
  assert.deepEqual(checkInvariants(runId, { finished: false }), []);
  const endedBefore = endedSnapshot(runId);

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
  for (const [id, a] of endedBefore) assert.deepEqual(attempts(runId).find((x) => x.attempt_id === id), a, `ended attempt ${id} changed`);
  assert.deepEqual(checkInvariants(runId, { finished: true }), []);
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
  const endedAfterFirst = endedSnapshot(runId);
  const second = cliSpawn(sb, ["runs", "resume", runId]);
  try {
    await waitFor(() => markers(marker).some((m) => m.event === "start" && m.task === "b" && m.attempt === 2), 60_000, "b's second attempt");
    await killAndWait(second);
  } finally {
    await killAndWait(second);
  }
  assert.deepEqual(checkInvariants(runId, { finished: false }), []);
  const endedAfterSecond = endedSnapshot(runId);
  for (const [id, a] of endedAfterFirst) assert.deepEqual(endedAfterSecond.get(id), a, `ended attempt ${id} changed`);

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
  for (const [id, a] of endedAfterSecond) assert.deepEqual(attempts(runId).find((x) => x.attempt_id === id), a, `ended attempt ${id} changed`);
  assert.deepEqual(checkInvariants(runId, { finished: true }), []);
  integrityOk();
});

test("the invariant checker catches a broken history (it can fail)", () => {
  // Copy the database, break the chain run's history in the copy in three ways: the checker must notice.
  const runId = cliJson<{ runs: { runId: string }[] }>(sb, ["runs", "list", "--dag", "chain"]).json.runs[0]!.runId;
  assert.deepEqual(checkInvariants(runId, { finished: true }), []);
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
  current = copy;
  try {
    const bad = checkInvariants(runId, { finished: true });
    assert.ok(bad.some((b) => /t1: 2 running attempts/.test(b)), bad.join("\n"));
    assert.ok(bad.some((b) => /t4: 3 attempts, more than retries \+ 1 = 2/.test(b)), bad.join("\n"));
    assert.ok(bad.some((b) => /finished run has running attempts/.test(b)), bad.join("\n"));
  } finally {
    current = dbFile;
  }
});
