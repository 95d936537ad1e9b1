/**
 * The invariants of ARCHITECTURE.md, checked against the recorded history (runs, task instances, attempts,
 * DAG versions, pools, workers) rather than against timings — one checker for every test that records a
 * history worth checking:
 *
 * 1. `terminal`  every accepted run reached a terminal state (except runs the caller says may still run),
 *                and a run that ended has nothing left unfinished or live;
 * 2. `one-live`  at most one live attempt per task instance at any time (each attempt starts at or after
 *                the end of the one before it, so no two [startedAt, endedAt) intervals overlap), and only
 *                the current attempt's writes count: a live attempt is the last one, earlier ones failed,
 *                and the task instance's state and attempt id agree with its last attempt;
 * 3. `attempts`  attempts ≤ retries + 1 (counted from each clear, interrupted tries not counted; retries
 *                from the run's DAG version), try numbers 1..n, every attempt a complete record, and —
 *                given an earlier snapshot — every attempt still there and unchanged once it had ended;
 * 4. `limits`    pool slots, maxActiveTasks, maxActiveTisPerDag, and each worker's slots, queues and
 *                declared resources are never exceeded: a sweep over the attempts' intervals computes the
 *                most in use per pool, DAG, task and worker at every instant;
 * 5. `dead-letters` the dead-letter queue agrees with the task instances (docs/decisions/0020): a task
 *                instance that failed through its last attempt (not a person's mark, not a cancelled or
 *                timed-out run) has an entry for that attempt, written with the failure; every entry is
 *                of an instance that exists and one of its attempts; an instance has at most one open
 *                entry, and an open entry's instance is failed (unless a person changed it since).
 *
 * `checkInvariants(database, options)` loads the history and fails with every violation at once;
 * `findViolations(history, options)` returns them (the checker's own tests use it).
 *
 * The history is read with plain SQL on a connection of our own (`loadHistory`, the one place that knows
 * the tables): the crash tests read the database of a killed process as it lies, read-only, with no store
 * open (opening one migrates, i.e. writes); attempts' `try_base`, pools and workers have no public read
 * method; and one snapshot transaction gives a consistent view while other processes still write (a store's
 * reads are separate statements). Only table and column names tie it to the store.
 */
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import type { DagSpec, TaskSpec } from "../src/core/dagSpec.js";

export type Invariant = "terminal" | "one-live" | "attempts" | "limits" | "dead-letters";
export const INVARIANTS: readonly Invariant[] = ["terminal", "one-live", "attempts", "limits", "dead-letters"];

export interface Violation {
  invariant: Invariant;
  message: string;
}

export interface HistoryRun {
  runId: string;
  dagId: string;
  dagVersion: string;
  state: string;
  unfinished: number;
}

export interface HistoryTaskInstance {
  runId: string;
  taskId: string;
  mapIndex: number;
  state: string;
  tryNumber: number;
  tryBase: number;
  attemptId: number | null;
  queue: string;
  /** Who last cleared or marked it (a person), or null: a mark may leave it disagreeing with its last attempt. */
  changedBy: string | null;
}

export interface HistoryAttempt {
  attemptId: number;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  /** The task instance's try_base when the attempt was claimed: retries count from here. */
  tryBase: number;
  state: string;
  workerId: string;
  startedAt: number;
  endedAt: number | null;
  leaseExpiresAt: number;
  errorCode: string | null;
  hasOutput: boolean;
  /** Every column as read (binary as hex), to tell whether an ended attempt changed. */
  row: Record<string, unknown>;
}

export interface HistoryDeadLetter {
  id: number;
  runId: string;
  taskId: string;
  mapIndex: number;
  attemptId: number | null;
  state: string;
}

export interface HistoryWorker {
  workerId: string;
  concurrency: number;
  /** null: every queue. */
  queues: string[] | null;
  /** The declared capacity (an undeclared dimension is unlimited); null: none declared. */
  resources: { cpu?: number; memoryMb?: number; gpu?: number } | null;
}

export interface History {
  runs: HistoryRun[];
  taskInstances: HistoryTaskInstance[];
  attempts: HistoryAttempt[];
  /** By `${dagId}\0${version}`. */
  specs: Map<string, DagSpec>;
  /** Pool name -> slots (now: the history does not record changes of a pool's slots). */
  pools: Map<string, number>;
  workers: Map<string, HistoryWorker>;
  /** Absent in histories built by hand (the checker's own tests): the dead-letters check then has nothing to check. */
  deadLetters?: HistoryDeadLetter[];
}

export interface CheckOptions {
  /** Which invariants to check; default all four. */
  check?: readonly Invariant[];
  /** Check invariants 1–3 on these runs only; default every run. Limits always sweep every attempt (they hold across runs). */
  runs?: readonly string[];
  /** Runs that may still be running (true: any): they need not be terminal yet. */
  mayRun?: true | readonly string[];
  /**
   * Processes were killed (kill -9): an attempt still marked running when the history is read may belong to a
   * dead worker that nobody has swept yet; its interval ends at its lease's expiry instead of staying open.
   * (An attempt already failed as WORKER_LOST ends where the sweep ended it: until then, claims counted it.)
   */
  killed?: boolean;
  /** Draining workers may have handed attempts back (`interrupted`); default false: an interrupted attempt is a violation. */
  interrupted?: boolean;
  /** An earlier snapshot (the value `checkInvariants` returns): its attempts must all still be there, and those that had ended unchanged. */
  before?: History;
  /** A bound on a task instance's attempts that the test states itself, checked besides the spec's retries + 1. */
  maxAttempts?: (task: { dagId: string; taskId: string }) => number;
}

/** Load the history, assert every invariant that applies, and return the history (a snapshot for `before`). */
export async function checkInvariants(database: string, opts: CheckOptions = {}): Promise<History> {
  const history = await loadHistory(database);
  const bad = findViolations(history, opts);
  if (bad.length > 0) {
    assert.fail(`${bad.length} invariant violation(s) in the recorded history:\n${bad.map((v) => `  [${v.invariant}] ${v.message}`).join("\n")}`);
  }
  return history;
}

// ---- reading the history: the only code that knows the tables ------------------------------------------

type Rows = Record<string, unknown>[];
interface Snapshot {
  runs: Rows;
  tis: Rows;
  attempts: Rows;
  versions: Rows;
  pools: Rows;
  workers: Rows;
  deadLetters: Rows;
}

const QUERIES: Record<keyof Snapshot, string> = {
  runs: "select run_id, dag_id, dag_version, state, unfinished from runs",
  tis: "select run_id, task_id, map_index, state, try_number, try_base, attempt_id, queue, changed_by from task_instances",
  attempts: "select * from attempts order by run_id, task_id, map_index, try_number, attempt_id",
  versions: "select dag_id, version, spec from dag_versions",
  pools: "select name, slots from pools",
  workers: "select worker_id, concurrency, queues, resources from workers",
  deadLetters: "select dead_letter_id, run_id, task_id, map_index, attempt_id, state from dead_letters",
};

/**
 * The recorded history of `database`: a SQLite file (`sqlite:<file>` or a path), read-only, or a
 * PostgreSQL URL (`?schema=` as Sluice reads it), in one read-only snapshot transaction.
 */
export async function loadHistory(database: string): Promise<History> {
  const s = /^postgres(ql)?:\/\//.test(database) ? await readPostgres(database) : readSqlite(database.replace(/^sqlite:(\/\/)?/, ""));
  const num = (v: unknown) => Number(v);
  const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const specs = new Map<string, DagSpec>();
  for (const v of s.versions) specs.set(`${v["dag_id"]}\0${v["version"]}`, JSON.parse(String(v["spec"])) as DagSpec);
  return {
    runs: s.runs.map((r) => ({
      runId: String(r["run_id"]),
      dagId: String(r["dag_id"]),
      dagVersion: String(r["dag_version"]),
      state: String(r["state"]),
      unfinished: num(r["unfinished"]),
    })),
    taskInstances: s.tis.map((t) => ({
      runId: String(t["run_id"]),
      taskId: String(t["task_id"]),
      mapIndex: num(t["map_index"]),
      state: String(t["state"]),
      tryNumber: num(t["try_number"]),
      tryBase: num(t["try_base"]),
      attemptId: numOrNull(t["attempt_id"]),
      queue: String(t["queue"]),
      changedBy: t["changed_by"] === null || t["changed_by"] === undefined ? null : String(t["changed_by"]),
    })),
    attempts: s.attempts.map((a) => ({
      attemptId: num(a["attempt_id"]),
      runId: String(a["run_id"]),
      taskId: String(a["task_id"]),
      mapIndex: num(a["map_index"]),
      tryNumber: num(a["try_number"]),
      tryBase: num(a["try_base"]),
      state: String(a["state"]),
      workerId: String(a["worker_id"]),
      startedAt: num(a["started_at"]),
      endedAt: numOrNull(a["ended_at"]),
      leaseExpiresAt: num(a["lease_expires_at"]),
      errorCode: (a["error_code"] as string | null) ?? null,
      hasOutput: a["output_inline"] !== null || a["output_ref"] !== null,
      row: Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v instanceof Uint8Array ? `hex:${Buffer.from(v).toString("hex")}` : v])),
    })),
    deadLetters: s.deadLetters.map((d) => ({
      id: num(d["dead_letter_id"]),
      runId: String(d["run_id"]),
      taskId: String(d["task_id"]),
      mapIndex: num(d["map_index"]),
      attemptId: numOrNull(d["attempt_id"]),
      state: String(d["state"]),
    })),
    specs,
    pools: new Map(s.pools.map((p) => [String(p["name"]), num(p["slots"])])),
    workers: new Map(
      s.workers.map((w) => {
        const queues = String(w["queues"] ?? "").split(",").filter(Boolean);
        return [
          String(w["worker_id"]),
          {
            workerId: String(w["worker_id"]),
            concurrency: num(w["concurrency"]),
            queues: queues.length === 0 || queues.includes("*") ? null : queues,
            resources: w["resources"] ? (JSON.parse(String(w["resources"])) as HistoryWorker["resources"]) : null,
          },
        ];
      }),
    ),
  };
}

function readSqlite(file: string): Snapshot {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    // one read transaction: one snapshot of the WAL, whatever other processes commit meanwhile
    return db.transaction(() => {
      const out = {} as Snapshot;
      for (const [k, q] of Object.entries(QUERIES)) out[k as keyof Snapshot] = db.prepare(q).all() as Rows;
      return out;
    })();
  } finally {
    db.close();
  }
}

async function readPostgres(url: string): Promise<Snapshot> {
  const u = new URL(url);
  const schema = u.searchParams.get("schema");
  u.searchParams.delete("schema");
  // not the processes' application_name: a test that terminates their backends must not end this one
  u.searchParams.delete("application_name");
  const c = new pg.Client({ connectionString: u.toString(), application_name: "sluice_invariants" });
  c.on("error", () => undefined);
  await c.connect();
  try {
    if (schema) await c.query(`set search_path to "${schema.replace(/"/g, '""')}"`);
    await c.query("begin isolation level repeatable read read only");
    const out = {} as Snapshot;
    for (const [k, q] of Object.entries(QUERIES)) out[k as keyof Snapshot] = (await c.query(q)).rows as Rows;
    await c.query("commit");
    return out;
  } finally {
    await c.end().catch(() => undefined);
  }
}

// ---- the checks -----------------------------------------------------------------------------------------

const TERMINAL_RUN = new Set(["success", "failed"]);
/** Finished task instance states. (`removed` is in core's list but nothing sets it yet: add it when something does.) */
const FINISHED_TI = new Set(["success", "failed", "skipped", "upstream_failed"]);
const LIVE_ATTEMPT = new Set(["running", "up_for_reschedule"]);
// skipped: the task skipped itself (SkipTask, skipOnExitCode)
const ENDED_ATTEMPT = new Set(["success", "failed", "interrupted", "skipped"]);
const DEFAULT_POOL = "default_pool";

const tiKey = (runId: string, taskId: string, mapIndex: number) => `${runId}\0${taskId}\0${mapIndex}`;
const tiName = (t: { runId: string; taskId: string; mapIndex: number }) => `run ${t.runId} task ${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}`;
const attemptName = (a: HistoryAttempt) => `${tiName(a)} attempt ${a.tryNumber} (id ${a.attemptId})`;
const at = (t: number) => `${new Date(t).toISOString()} (${t})`;

/** All violations of the invariants `opts.check` selects (all by default), each naming its run, task and attempt. */
export function findViolations(h: History, opts: CheckOptions = {}): Violation[] {
  const out: Violation[] = [];
  const checks = new Set(opts.check ?? INVARIANTS);
  const add = (invariant: Invariant, message: string) => {
    if (checks.has(invariant)) out.push({ invariant, message });
  };
  const inScope = opts.runs ? new Set(opts.runs) : null;
  const mayRun = (runId: string) => opts.mayRun === true || (opts.mayRun?.includes(runId) ?? false);
  const runs = new Map(h.runs.map((r) => [r.runId, r]));
  const specOf = (runId: string): DagSpec | undefined => {
    const r = runs.get(runId);
    return r && h.specs.get(`${r.dagId}\0${r.dagVersion}`);
  };
  const taskOf = (runId: string, taskId: string): TaskSpec | undefined => specOf(runId)?.tasks.find((t) => t.id === taskId);
  /** When an attempt stopped being live: its end, or — not ended — never, or its lease's expiry when its worker may have been killed. */
  const endOf = (a: HistoryAttempt) => a.endedAt ?? (opts.killed && a.state === "running" ? a.leaseExpiresAt : Infinity);

  const group = <T>(items: readonly T[], key: (x: T) => string) => {
    const m = new Map<string, T[]>();
    for (const x of items) {
      const k = key(x);
      const list = m.get(k);
      if (list) list.push(x);
      else m.set(k, [x]);
    }
    return m;
  };
  const tis = new Map<string, HistoryTaskInstance>();
  for (const t of h.taskInstances) tis.set(tiKey(t.runId, t.taskId, t.mapIndex), t);
  const tisByRun = group(h.taskInstances, (t) => t.runId);
  const attemptsByRun = group(h.attempts, (a) => a.runId);
  const byTi = group(h.attempts, (a) => tiKey(a.runId, a.taskId, a.mapIndex));
  for (const list of byTi.values()) list.sort((x, y) => x.tryNumber - y.tryNumber || x.attemptId - y.attemptId);

  // 1. terminal runs
  for (const r of h.runs) {
    if (inScope && !inScope.has(r.runId)) continue;
    if (!TERMINAL_RUN.has(r.state)) {
      if (!mayRun(r.runId)) add("terminal", `run ${r.runId} (DAG ${r.dagId}) is ${r.state}, not terminal`);
      continue;
    }
    if (r.unfinished !== 0) add("terminal", `run ${r.runId} (DAG ${r.dagId}) is ${r.state} with unfinished = ${r.unfinished}`);
    for (const t of tisByRun.get(r.runId) ?? []) {
      if (!FINISHED_TI.has(t.state)) add("terminal", `${tiName(t)} is ${t.state} in a run that is ${r.state}`);
    }
    for (const a of attemptsByRun.get(r.runId) ?? []) {
      if (LIVE_ATTEMPT.has(a.state) || a.endedAt === null) add("terminal", `${attemptName(a)} is ${a.state} (ended_at ${a.endedAt}) in a run that is ${r.state}`);
    }
  }

  // 2. one live attempt per task instance; only the current attempt's writes count
  for (const [k, list] of byTi) {
    const first = list[0]!;
    if (inScope && !inScope.has(first.runId)) continue;
    const ti = tis.get(k);
    if (!ti) add("one-live", `${tiName(first)}: ${list.length} attempt(s) but no task instance`);
    const live = list.filter((a) => LIVE_ATTEMPT.has(a.state));
    if (live.length > 1) add("one-live", `${tiName(first)}: ${live.length} live attempts at once (${live.map((a) => `${a.tryNumber} ${a.state}`).join(", ")})`);
    // one after the other: each attempt starts at or after the end of the one before it (so no two overlap)
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const a = list[i]!;
      const prevEnd = endOf(prev);
      if (a.startedAt < prevEnd) {
        add("one-live", `${tiName(a)}: attempt ${a.tryNumber} (id ${a.attemptId}) started at ${at(a.startedAt)}, ${Number.isFinite(prevEnd) ? `before attempt ${prev.tryNumber} (id ${prev.attemptId}) ended at ${at(prevEnd)}` : `while attempt ${prev.tryNumber} (id ${prev.attemptId}) had not ended`}`);
      }
    }
    const last = list.at(-1)!;
    for (const [i, a] of list.slice(0, -1).entries()) {
      // a success followed by a clear (a later attempt counts its tries from a base at or past this one) was
      // superseded by it; a hand-back moves the base too, so only a success is judged so
      const cleared = (a.state === "success" || a.state === "skipped") && list.slice(i + 1).some((b) => b.tryBase >= a.tryNumber);
      if (a.state !== "failed" && !(opts.interrupted && a.state === "interrupted") && !cleared) {
        add("one-live", `${attemptName(a)} is ${a.state} but not the last attempt (${list.length})`);
      }
    }
    if (!ti) continue;
    if (ti.attemptId !== null && ti.attemptId !== last.attemptId) add("one-live", `${tiName(ti)}: its current attempt is id ${ti.attemptId}, but its last attempt is ${attemptName(last)}`);
    const want: Record<string, string[]> = { running: ["running"], up_for_reschedule: ["up_for_reschedule"], success: ["success"], failed: ["failed"], up_for_retry: ["failed"] };
    const allowed = want[ti.state];
    // marked success or failed by a person after its last attempt ended: the mark is its state
    const marked = ti.changedBy !== null && !LIVE_ATTEMPT.has(last.state) && (ti.state === "success" || ti.state === "failed");
    if (allowed && !marked && !allowed.includes(last.state)) add("one-live", `${tiName(ti)} is ${ti.state}, but its last attempt ${last.tryNumber} (id ${last.attemptId}) is ${last.state}`);
    if (LIVE_ATTEMPT.has(last.state) && ti.state !== last.state) add("one-live", `${attemptName(last)} is ${last.state}, but its task instance is ${ti.state}`);
  }
  for (const t of h.taskInstances) {
    if (inScope && !inScope.has(t.runId)) continue;
    const n = byTi.get(tiKey(t.runId, t.taskId, t.mapIndex))?.length ?? 0;
    const markedWithout = t.changedBy !== null && (t.state === "success" || t.state === "failed");
    if (n === 0 && !markedWithout && ["running", "up_for_reschedule", "success", "failed", "up_for_retry"].includes(t.state)) {
      add("one-live", `${tiName(t)} is ${t.state} without any attempt`);
    }
  }

  // 3. attempts ≤ retries + 1, try numbers 1..n, complete and immutable records
  for (const r of h.runs) {
    if ((!inScope || inScope.has(r.runId)) && !specOf(r.runId)) add("attempts", `run ${r.runId}: its DAG version ${r.dagId}@${r.dagVersion} is not recorded`);
  }
  for (const [k, list] of byTi) {
    const first = list[0]!;
    if (inScope && !inScope.has(first.runId)) continue;
    const ti = tis.get(k);
    const tries = list.map((a) => a.tryNumber);
    if (tries.some((n, i) => n !== i + 1)) add("attempts", `${tiName(first)}: try numbers ${tries.join(",")} are not 1..${list.length}`);
    if (ti && ti.tryNumber !== list.length) add("attempts", `${tiName(ti)}: try_number ${ti.tryNumber}, but ${list.length} attempt(s)`);
    const task = taskOf(first.runId, first.taskId);
    if (specOf(first.runId) && !task) add("attempts", `${tiName(first)}: the run's DAG version has no task ${first.taskId}`);
    if (task) {
      // tries count from the last clear (or interruption), which gives a task its full retries again
      const max = task.retry.retries + 1;
      for (const [base, tries] of group(list.filter((a) => a.state !== "interrupted"), (a) => String(a.tryBase))) {
        if (tries.length > max) add("attempts", `${tiName(first)}: ${tries.length} attempts${base !== "0" ? ` after try ${base}` : ""}, more than retries + 1 = ${max} (tries ${tries.map((a) => a.tryNumber).join(",")})`);
      }
    }
    const dagId = runs.get(first.runId)?.dagId ?? "?";
    const bound = opts.maxAttempts?.({ dagId, taskId: first.taskId });
    if (bound !== undefined && list.length > bound) add("attempts", `${tiName(first)}: ${list.length} attempts, more than the ${bound} expected`);
    for (const a of list) {
      if (!LIVE_ATTEMPT.has(a.state) && !ENDED_ATTEMPT.has(a.state)) add("attempts", `${attemptName(a)}: unknown state ${a.state}`);
      if (a.state === "interrupted" && !opts.interrupted) add("attempts", `${attemptName(a)} is interrupted, and no worker was drained`);
      if (ENDED_ATTEMPT.has(a.state) && a.endedAt === null) add("attempts", `${attemptName(a)} is ${a.state} without ended_at`);
      if (LIVE_ATTEMPT.has(a.state) && a.endedAt !== null) add("attempts", `${attemptName(a)} is ${a.state} with ended_at ${a.endedAt}`);
      if (a.endedAt !== null && a.endedAt < a.startedAt) add("attempts", `${attemptName(a)} ended at ${at(a.endedAt)}, before it started at ${at(a.startedAt)}`);
      if (a.state === "failed" && !a.errorCode) add("attempts", `${attemptName(a)} failed without an error code`);
      if (a.state === "success" && !a.hasOutput) add("attempts", `${attemptName(a)} succeeded without an output`);
    }
  }
  if (opts.before) {
    const now = new Map(h.attempts.map((a) => [a.attemptId, a]));
    const runIds = new Set(h.runs.map((r) => r.runId));
    for (const r of opts.before.runs) {
      if ((!inScope || inScope.has(r.runId)) && !runIds.has(r.runId)) add("attempts", `run ${r.runId} (DAG ${r.dagId}) was recorded, and is gone`);
    }
    for (const was of opts.before.attempts) {
      if (inScope && !inScope.has(was.runId)) continue;
      const a = now.get(was.attemptId);
      if (!a) {
        add("attempts", `${attemptName(was)} was recorded (${was.state}), and is gone`);
        continue;
      }
      if (!ENDED_ATTEMPT.has(String(was.row["state"])) || isDeepStrictEqual(was.row, a.row)) continue;
      const changed = Object.keys({ ...was.row, ...a.row }).filter((c) => !isDeepStrictEqual(was.row[c], a.row[c]));
      add("attempts", `${attemptName(was)} changed after it had ended ${was.state}: ${changed.map((c) => `${c} ${JSON.stringify(was.row[c])} -> ${JSON.stringify(a.row[c])}`).join(", ")}`);
    }
  }

  // 4. limits
  if (checks.has("limits")) for (const m of limitViolations(h, { specOf, endOf, tiOf: (a) => tis.get(tiKey(a.runId, a.taskId, a.mapIndex)) })) add("limits", m);

  // 5. the dead-letter queue agrees with the task instances
  if (checks.has("dead-letters") && h.deadLetters) {
    const byAttempt = new Map(h.deadLetters.filter((d) => d.attemptId !== null).map((d) => [d.attemptId!, d]));
    const open = new Map<string, number>();
    const attemptIds = new Set(h.attempts.map((a) => a.attemptId));
    for (const d of h.deadLetters) {
      if (inScope && !inScope.has(d.runId)) continue;
      const k = tiKey(d.runId, d.taskId, d.mapIndex);
      const ti = tis.get(k);
      if (!ti) {
        add("dead-letters", `dead letter ${d.id}: ${tiName(d)} does not exist`);
        continue;
      }
      if (d.attemptId !== null && !attemptIds.has(d.attemptId)) add("dead-letters", `dead letter ${d.id}: ${tiName(d)}: its attempt ${d.attemptId} does not exist`);
      if (d.state !== "open") continue;
      open.set(k, (open.get(k) ?? 0) + 1);
      if (ti.state !== "failed" && ti.changedBy === null) add("dead-letters", `dead letter ${d.id} is open, but ${tiName(d)} is ${ti.state}`);
    }
    for (const [k, n] of open) if (n > 1) add("dead-letters", `${tiName(tis.get(k)!)}: ${n} open dead letters`);
    // ended by the run (cancel, run timeout, stall, a corrupt row) or never run: not a task that failed its tries
    const notDeadLettered = new Set(["CANCELLED", "TIMEOUT", "STALLED", "CORRUPT_ROW", "QUEUED_TIMEOUT"]);
    for (const ti of h.taskInstances) {
      if (inScope && !inScope.has(ti.runId)) continue;
      if (ti.state !== "failed" || ti.changedBy !== null) continue;
      const last = byTi.get(tiKey(ti.runId, ti.taskId, ti.mapIndex))?.at(-1);
      if (!last || last.state !== "failed" || notDeadLettered.has(last.errorCode ?? "")) continue;
      if (!byAttempt.has(last.attemptId)) add("dead-letters", `${attemptName(last)} failed the task instance (${last.errorCode}), but has no dead letter`);
    }
  }
  return out;
}

/** What one running attempt holds, and the limit its claim had to respect (null: none). */
interface Use {
  key: string;
  what: string;
  weight: number;
  limit: number | null;
}

/**
 * Sweep the attempts' intervals ([startedAt, end): an end at t comes before a start at t) and report each
 * pool, DAG, task and worker whose usage exceeded its limit, once, at the first instant it did. A claim
 * checks the limits of the attempt it starts against everything running, so a start is where an excess
 * appears. Sensors are left out: they hold a slot only while they poke, which the history does not record.
 */
function limitViolations(
  h: History,
  { specOf, endOf, tiOf }: { specOf(runId: string): DagSpec | undefined; endOf(a: HistoryAttempt): number; tiOf(a: HistoryAttempt): HistoryTaskInstance | undefined },
): string[] {
  const out: string[] = [];
  const uses = new Map<number, Use[]>();
  const events: { t: number; d: 1 | -1; a: HistoryAttempt }[] = [];
  for (const a of h.attempts) {
    const spec = specOf(a.runId);
    const task = spec?.tasks.find((t) => t.id === a.taskId);
    if (!spec || !task || task.kind === "sensor") continue;
    const dagId = spec.id;
    const worker = h.workers.get(a.workerId);
    const queue = tiOf(a)?.queue ?? task.queue;
    if (worker?.queues && !worker.queues.includes(queue)) out.push(`${attemptName(a)} of queue "${queue}" ran on worker ${a.workerId}, which serves only ${worker.queues.join(", ")}`);
    const end = endOf(a);
    if (end <= a.startedAt) continue; // empty: it held nothing at any instant
    const pool = task.pool ?? DEFAULT_POOL;
    const list: Use[] = [
      { key: `pool\0${pool}`, what: `pool "${pool}": slots in use`, weight: task.poolSlots ?? 1, limit: h.pools.get(pool) ?? null },
      { key: `dag\0${dagId}`, what: `DAG ${dagId}: running task instances (maxActiveTasks)`, weight: 1, limit: spec.maxActiveTasks ?? null },
      { key: `task\0${dagId}\0${a.taskId}`, what: `task ${dagId}.${a.taskId}: running instances (maxActiveTisPerDag)`, weight: 1, limit: task.maxActiveTisPerDag ?? null },
    ];
    if (worker) {
      list.push({ key: `worker\0${a.workerId}`, what: `worker ${a.workerId}: slots in use (concurrency)`, weight: 1, limit: worker.concurrency });
      for (const dim of ["cpu", "memoryMb", "gpu"] as const) {
        const weight = task.resources?.[dim] ?? 0;
        if (weight > 0) list.push({ key: `worker\0${a.workerId}\0${dim}`, what: `worker ${a.workerId}: ${dim} in use`, weight, limit: worker.resources?.[dim] ?? null });
      }
    }
    uses.set(a.attemptId, list);
    events.push({ t: a.startedAt, d: 1, a }, { t: end, d: -1, a });
  }
  events.sort((x, y) => x.t - y.t || x.d - y.d || x.a.attemptId - y.a.attemptId);
  const used = new Map<string, number>();
  const holders = new Map<string, Set<HistoryAttempt>>();
  const reported = new Set<string>();
  for (const e of events) {
    for (const u of uses.get(e.a.attemptId)!) {
      used.set(u.key, (used.get(u.key) ?? 0) + e.d * u.weight);
      let set = holders.get(u.key);
      if (!set) holders.set(u.key, (set = new Set()));
      if (e.d === 1) set.add(e.a);
      else set.delete(e.a);
      const n = used.get(u.key)!;
      if (e.d === 1 && u.limit !== null && n > u.limit + 1e-9 && !reported.has(u.key)) {
        reported.add(u.key);
        out.push(`${u.what}: ${n} > ${u.limit} at ${at(e.t)}, when ${attemptName(e.a)} started; held by ${[...set].map(attemptName).join("; ")}`);
      }
    }
  }
  return out;
}
