/** Task instance and run states, with Airflow's names so that operators feel at home. */

export const TASK_STATES = [
  "none", // waiting for upstream tasks (Airflow shows this as "no status")
  "scheduled", // ready: every dependency is met, waiting for a worker slot
  "running",
  "success",
  "failed",
  "skipped",
  "upstream_failed",
  "up_for_retry", // failed, another attempt is due at `readyAt`
  "up_for_reschedule", // a sensor between pokes: holds no worker slot; its next poke is due at `readyAt`
  "removed", // no longer part of the run (e.g. a map index that vanished)
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** States a task instance never leaves unless it is cleared. */
export const FINISHED_TASK_STATES: ReadonlySet<TaskState> = new Set<TaskState>([
  "success",
  "failed",
  "skipped",
  "upstream_failed",
  "removed",
]);

export function isFinished(state: TaskState): boolean {
  return FINISHED_TASK_STATES.has(state);
}

export const RUN_STATES = ["queued", "running", "success", "failed"] as const;
export type RunState = (typeof RUN_STATES)[number];

export const FINISHED_RUN_STATES: ReadonlySet<RunState> = new Set<RunState>(["success", "failed"]);

/**
 * Attempt states: an attempt is running until it ends, then it is immutable. A sensor's attempt (one try)
 * spans its pokes: it is running during a poke and up_for_reschedule between pokes, with no worker and no
 * lease (docs/decisions/0004-sensors.md). An attempt handed back by a draining worker (SIGTERM) ends
 * `interrupted`: it does not count against retries (docs/decisions/0012-workers-and-capacity.md). An attempt
 * whose task skipped itself (`SkipTask`, `skipOnExitCode`) ends `skipped`, its reason as the error message.
 */
export const ATTEMPT_STATES = ["running", "up_for_reschedule", "success", "failed", "interrupted", "skipped"] as const;
export type AttemptState = (typeof ATTEMPT_STATES)[number];

/**
 * A run's final state, Airflow's rule: failed when any leaf task failed or is upstream_failed,
 * otherwise success (leaves that were skipped count as fine).
 */
export function deriveRunState(leafStates: Iterable<TaskState>): RunState {
  for (const s of leafStates) if (s === "failed" || s === "upstream_failed") return "failed";
  return "success";
}
