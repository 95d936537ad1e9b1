/**
 * Callbacks and notifiers (decision 0019): which events they follow, how the spec names them, and how a
 * callback that failed is tried again. Pure: the rows are store/callbacks.ts, running them engine/callbacks.ts.
 */

/** Events of a task; `deadline_miss` of a run or a task. */
export type TaskCallbackEvent = "failure" | "success" | "retry" | "skipped";
export type CallbackEvent = TaskCallbackEvent | "deadline_miss";

/**
 * The callbacks of one scope (a task, or the DAG) by event, as the spec keeps them: a name per callback
 * (a notifier's name, or the function's) in declaration order. The code is beside the spec, in the same
 * order (dsl/dag.ts `Dag.callbacks`). Absent events have none: the hot path asks `callbacks?.failure`.
 */
export type CallbackNames = Partial<Record<CallbackEvent, string[]>>;

/** The DSL option for each event. */
export const EVENT_OPTIONS = { failure: "onFailure", success: "onSuccess", retry: "onRetry", skipped: "onSkipped", deadline_miss: "onDeadlineMiss" } as const;

/** Tries of one callback before it is given up (logged as failed for good). */
export const CALLBACK_TRIES = 5;

/** How long one try may take before it counts as failed (a hung webhook must not hold the row for ever). */
export const CALLBACK_TIMEOUT_MS = 30_000;

/** Delay before try `failedTry + 1`: 10 s, 20 s, 40 s, 80 s (exponential, capped at 10 minutes). */
export function callbackRetryDelayMs(failedTry: number): number {
  return Math.min(10_000 * 2 ** Math.max(0, failedTry - 1), 600_000);
}

/** The key of one callback's code in `Dag.callbacks`: the task id ("" for the DAG) and the event. */
export function callbackKey(taskId: string, event: CallbackEvent): string {
  return `${taskId}\0${event}`;
}
