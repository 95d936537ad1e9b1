/**
 * The dead-letter queue's policy (docs/decisions/0020-dead-letter-queue.md): which failures skip the
 * remaining retries, what a dead-lettered task does to its run, and the states of an entry. Pure: the
 * engine writes entries (engine/transitions.ts), the store keeps them (store/deadLetters.ts).
 */

/**
 * What a dead-lettered task instance does to its run (a DAG's `deadLetter` option):
 * - `fail_run` (default, as before the queue existed): the task is failed, and so is the run when it is a
 *   leaf or its failure reaches one (trigger rules as ever);
 * - `park`: the task is failed and parked in the queue; the run still finishes, and ends `success` when
 *   every failure in it is parked (downstream tasks follow their trigger rules: `all_success` ones are
 *   upstream_failed, `all_done` ones run). For pipelines whose items are processed independently.
 */
export const DEAD_LETTER_MODES = ["fail_run", "park"] as const;
export type DeadLetterMode = (typeof DEAD_LETTER_MODES)[number];

/** open: waiting for a person; retried: given a fresh set of retries (the run resumed); discarded: acknowledged, kept for history. */
export const DEAD_LETTER_STATES = ["open", "retried", "discarded"] as const;
export type DeadLetterState = (typeof DEAD_LETTER_STATES)[number];

/**
 * Why an instance was dead-lettered: its retries were used up, its error was non-retryable (it skipped
 * the retries left), or — a sensor — it timed out (sensors never retry a timeout).
 */
export type DeadLetterReason = "exhausted" | "non_retryable" | "sensor_timeout";

export function isDeadLetterState(v: unknown): v is DeadLetterState {
  return typeof v === "string" && (DEAD_LETTER_STATES as readonly string[]).includes(v);
}

export function isDeadLetterMode(v: unknown): v is DeadLetterMode {
  return typeof v === "string" && (DEAD_LETTER_MODES as readonly string[]).includes(v);
}

/**
 * The names a thrown value answers to: its `name` and the names of its classes (a subclass of Error keeps
 * the name "Error" unless it sets one, so `class ValidationError extends Error {}` is matched by its class
 * name), plus names it carried across a process boundary (`details.errorNames`, executors/childMain.ts).
 */
export function errorNames(e: unknown): string[] {
  if (typeof e !== "object" || e === null) return [];
  const names = new Set<string>();
  const name = (e as { name?: unknown }).name;
  if (typeof name === "string" && name) names.add(name);
  for (let p: unknown = Object.getPrototypeOf(e); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const ctor = (p as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === "string" && ctor.name) names.add(ctor.name);
  }
  const carried = (e as { details?: { errorNames?: unknown } }).details?.errorNames;
  if (Array.isArray(carried)) for (const n of carried) if (typeof n === "string") names.add(n);
  return [...names];
}

/**
 * Whether a thrown value skips the retries left: it says so itself (`NonRetryableError`, or any error
 * with `nonRetryable: true` — duck-typed, so that a DAG bundle's own copy of the class counts too), or
 * one of its names is in the task's `nonRetryable` list (Airflow's AirflowFailException, Celery's
 * `dont_autoretry_for`).
 */
export function isNonRetryable(e: unknown, names: readonly string[] | undefined): boolean {
  if (typeof e !== "object" || e === null) return false;
  if ((e as { nonRetryable?: unknown }).nonRetryable === true) return true;
  if ((e as { details?: { nonRetryable?: unknown } }).details?.nonRetryable === true) return true;
  if (!names?.length) return false;
  return errorNames(e).some((n) => names.includes(n));
}
