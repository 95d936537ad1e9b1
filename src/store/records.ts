/**
 * The records the store returns (runs, task instances, attempts, outputs) and the mappers from rows to
 * them, shared by the files of store/ that read those tables.
 */
import type { Kysely } from "kysely";
import { RUN_STATES, TASK_STATES, type AttemptState, type RunState, type TaskState } from "../core/states.js";
import type { Database } from "./schema.js";

export interface RunRecord {
  runId: string;
  dagId: string;
  dagVersion: string;
  runKey: string;
  runType: string;
  state: RunState;
  stateReason: string | null;
  logicalDate: number;
  dataIntervalStart: number | null;
  dataIntervalEnd: number | null;
  params: Record<string, unknown>;
  unfinished: number;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  timeoutAt: number | null;
  /** 0016: the code bundle its tasks (and callbacks) import; null: the DAG file as it is. */
  codeHash: string | null;
  /** 0018: the next deadline (its own or a task's) the checker looks at; null: none left. */
  deadlineAt: number | null;
  /** The backfill the run belongs to (engine/backfill), or null. */
  backfillId: number | null;
  /**
   * What of this row the code cannot interpret (params that are not a JSON object, an unknown state),
   * or null. A corrupt row is still returned — readers show it as broken instead of failing a whole list;
   * the engine fails its work with CORRUPT_ROW instead of stopping (issue 11: poison rows).
   */
  corrupt: string | null;
  /** The person or token that triggered it (audit log); null: the scheduler, an asset, a backfill. */
  triggeredBy: string | null;
}

export interface TaskInstanceRecord {
  runId: string;
  taskId: string;
  mapIndex: number;
  state: TaskState;
  tryNumber: number;
  tryBase: number;
  nUpstream: number;
  nSuccess: number;
  nFailed: number;
  nUpstreamFailed: number;
  nSkipped: number;
  readyAt: number | null;
  priority: number;
  queue: string;
  attemptId: number | null;
  startedAt: number | null;
  endedAt: number | null;
  /** Sensors: when a poke that finds the condition unmet times the sensor out (set at its first wait). */
  sensorDeadline: number | null;
  /** Sensors: pokes that found the condition unmet, since the last clear. */
  pokeCount: number;
  /** What of this row the code cannot interpret (an unknown state), or null (see RunRecord.corrupt). */
  corrupt: string | null;
  /** Who last cleared or marked it (audit log); null: no person did. */
  changedBy: string | null;
}

export interface AttemptRecord {
  attemptId: number;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  state: AttemptState;
  workerId: string;
  hostname: string;
  pid: number;
  startedAt: number;
  endedAt: number | null;
  heartbeatAt: number;
  leaseExpiresAt: number;
  errorCode: string | null;
  errorMessage: string | null;
  errorStack: string | null;
  exitCode: number | null;
  outputSize: number | null;
  outputRef: string | null;
  /** A cache hit: the attempt whose output it reused (it ran nothing); null: it ran. */
  cachedFrom: number | null;
}

/** An attempt a worker has just claimed, with what it needs to run the task. */
export interface ClaimedAttempt {
  attemptId: number;
  runId: string;
  dagId: string;
  dagVersion: string;
  /** The run's code bundle (store/dagCode.ts); null: the DAG file as it is. */
  codeHash: string | null;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  /** Tries before the last clear (core/tries.ts): tryNumber - tryBase is the try of this round. */
  tryBase: number;
  logicalDate: number;
  dataIntervalStart: number | null;
  dataIntervalEnd: number | null;
  params: Record<string, unknown>;
  /** Sensors: pokes before this one (0 for a first poke; a later poke continues the same attempt). */
  pokes: number;
  /** The task instance's queue, and since when it was due (metrics: queue wait; null when unknown). */
  queue: string;
  readyAt: number | null;
  /** When this claim took it (store time, ms): with readyAt, its queue wait in traces. */
  claimedAt: number;
  /** The run's row cannot be interpreted (RunRecord.corrupt): the attempt fails with CORRUPT_ROW at once. */
  corrupt: string | null;
}

export interface StoredOutput {
  mapIndex: number;
  inline: Uint8Array | null;
  ref: string | null;
}

export interface NewTaskInstance {
  taskId: string;
  mapIndex: number;
  state: TaskState;
  nUpstream: number;
  readyAt: number | null;
  priority: number;
  queue: string;
}

export interface AttemptEnd {
  attemptId: number;
  /**
   * interrupted: handed back by a draining worker (docs/decisions/0012-workers-and-capacity.md); skipped:
   * the task skipped itself (SkipTask, skipOnExitCode), errorCode SKIPPED and its reason as errorMessage.
   */
  state: "success" | "failed" | "interrupted" | "skipped";
  endedAt: number;
  errorCode?: string | null;
  errorMessage?: string | null;
  errorStack?: string | null;
  exitCode?: number | null;
  outputInline?: Uint8Array | null;
  outputRef?: string | null;
  outputSize?: number | null;
}

export interface EndedAttempt {
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  tryBase: number;
}

/** A sensor's attempt that now waits for its next poke (`rescheduleAttempts`). */
export interface WaitingAttempt extends EndedAttempt {
  /** When the attempt's first poke started. */
  startedAt: number;
}

/** @internal The columns of an AttemptRecord (never the output bytes). */
export const ATTEMPT_COLUMNS = [
  "attempt_id",
  "run_id",
  "task_id",
  "map_index",
  "try_number",
  "state",
  "worker_id",
  "hostname",
  "pid",
  "started_at",
  "ended_at",
  "heartbeat_at",
  "lease_expires_at",
  "error_code",
  "error_message",
  "error_stack",
  "exit_code",
  "output_size",
  "output_ref",
  "cached_from",
] as const;

/** @internal A table's row as read (generated columns resolved). */
export type Row<T extends keyof Database> = { [K in keyof Database[T]]: Database[T][K] extends import("kysely").Generated<infer X> ? X : Database[T][K] };

/** @internal */
export function toRun(r: Row<"runs">): RunRecord {
  const params = parseParams(r.params);
  return {
    runId: r.run_id,
    dagId: r.dag_id,
    dagVersion: r.dag_version,
    runKey: r.run_key,
    runType: r.run_type,
    state: r.state as RunState,
    stateReason: r.state_reason,
    logicalDate: r.logical_date,
    dataIntervalStart: r.data_interval_start,
    dataIntervalEnd: r.data_interval_end,
    params: params.value,
    unfinished: r.unfinished,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    timeoutAt: r.timeout_at,
    codeHash: r.code_hash ?? null,
    deadlineAt: r.deadline_at === null || r.deadline_at === undefined ? null : Number(r.deadline_at),
    backfillId: r.backfill_id,
    corrupt: problems([params.problem, unknownState(r.state, RUN_STATES)]),
    triggeredBy: r.triggered_by ?? null,
  };
}

/**
 * A run's params column as an object. Anything else (not JSON, not an object, NULL) is a problem to
 * report with the row, never an exception: one poison row must not stop a worker or a list.
 */
export function parseParams(text: string | null): { value: Record<string, unknown>; problem: string | null } {
  if (text === null) return { value: {}, problem: "params is NULL" };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { value: {}, problem: `params is not valid JSON (${(e as Error).message})` };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { value: {}, problem: "params is not a JSON object" };
  return { value: v as Record<string, unknown>, problem: null };
}

function unknownState(state: string | null, known: readonly string[]): string | null {
  return state !== null && known.includes(state) ? null : `unknown state ${JSON.stringify(state)}`;
}

function problems(list: (string | null)[]): string | null {
  const found = list.filter((p): p is string => p !== null);
  return found.length ? found.join("; ") : null;
}

/** @internal */
export function toTaskInstance(r: Row<"task_instances">): TaskInstanceRecord {
  return {
    runId: r.run_id,
    taskId: r.task_id,
    mapIndex: r.map_index,
    state: r.state as TaskState,
    tryNumber: r.try_number,
    tryBase: r.try_base,
    nUpstream: r.n_upstream,
    nSuccess: r.n_success,
    nFailed: r.n_failed,
    nUpstreamFailed: r.n_upstream_failed,
    nSkipped: r.n_skipped,
    readyAt: r.ready_at,
    priority: r.priority,
    queue: r.queue,
    attemptId: r.attempt_id,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    sensorDeadline: r.sensor_deadline,
    pokeCount: r.poke_count,
    corrupt: unknownState(r.state, TASK_STATES),
    changedBy: r.changed_by ?? null,
  };
}

/** @internal */
export function toAttempt(r: Omit<Row<"attempts">, "output_inline" | "try_base">): AttemptRecord {
  return {
    attemptId: r.attempt_id,
    runId: r.run_id,
    taskId: r.task_id,
    mapIndex: r.map_index,
    tryNumber: r.try_number,
    state: r.state as AttemptState,
    workerId: r.worker_id,
    hostname: r.hostname,
    pid: r.pid,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    heartbeatAt: r.heartbeat_at,
    leaseExpiresAt: r.lease_expires_at,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    errorStack: r.error_stack,
    exitCode: r.exit_code,
    outputSize: r.output_size,
    outputRef: r.output_ref,
    // a bigint on PostgreSQL (pg returns it as a string)
    cachedFrom: r.cached_from === null ? null : Number(r.cached_from),
  };
}

/** @internal Successful outputs of a task in a run, in map-index order (Store and Tx read them alike). */
export async function selectOutputs(db: Kysely<Database>, runId: string, taskId: string): Promise<StoredOutput[]> {
  const rows = await db
    .selectFrom("task_instances as ti")
    .leftJoin("attempts as a", (j) => j.onRef("a.attempt_id", "=", "ti.attempt_id").on("a.state", "=", "success"))
    .select(["ti.map_index", "a.output_inline", "a.output_ref"])
    .where("ti.run_id", "=", runId)
    .where("ti.task_id", "=", taskId)
    .orderBy("ti.map_index")
    .execute();
  return rows.map((r) => ({ mapIndex: r.map_index, inline: r.output_inline ?? null, ref: r.output_ref ?? null }));
}
