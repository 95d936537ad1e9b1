/**
 * The checks behind `d.setup` and `d.teardown` (dsl/dag.ts): what they accept, with messages that name
 * the DAG, the task and the field. The semantics are in core/setupTeardown.ts and core/triggerRules.ts.
 */
import { SluiceError } from "../errors.js";
import type { AnyRef, TaskOptions } from "./types.js";

/** Every option a task takes, kept in step with `TaskOptions` by the compiler. */
const TASK_OPTION_KEYS = {
  inputs: true,
  after: true,
  triggerRule: true,
  description: true,
  produces: true,
  deadline: true,
  onDeadlineMiss: true,
  timeout: true,
  owner: true,
  isolation: true,
  memoryLimitMb: true,
  env: true,
  queue: true,
  pool: true,
  poolSlots: true,
  priority: true,
  resources: true,
  maxActiveTisPerDag: true,
  retries: true,
  retryDelay: true,
  retryBackoff: true,
  maxRetryDelay: true,
  retryJitter: true,
  nonRetryable: true,
  onFailure: true,
  onSuccess: true,
  onRetry: true,
  onSkipped: true,
  dependsOnPast: true,
  waitForDownstream: true,
  ignoreFirstDependsOnPast: true,
  fresh: true,
  cache: true,
  cacheExpires: true,
  cacheVersion: true,
  cacheParams: true,
  cacheKey: true,
} satisfies Record<keyof TaskOptions, true>;

/** A setup's or teardown's options, an object of known options (a typo such as `setup` for `setups` is an error). */
export function checkOptions(where: string, options: unknown, extra: readonly string[]): Record<string, unknown> {
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw new SluiceError("INVALID_DAG", `${where}: options must be an object`);
  const unknown = Object.keys(options).filter((k) => !Object.hasOwn(TASK_OPTION_KEYS, k) && !extra.includes(k));
  if (unknown.length) {
    throw new SluiceError("INVALID_DAG", `${where}: unknown option${unknown.length === 1 ? "" : "s"} ${unknown.map((k) => `"${k}"`).join(", ")}`, {
      details: { field: unknown[0] },
    });
  }
  return options as Record<string, unknown>;
}

/**
 * A teardown's `setups` as a list of handles, and its `onFailureFailDagRun`; the trigger rule is not the
 * teardown's to choose. Which of the handles are setups is the builder's to check (it knows the tasks).
 */
export function teardownOptions(where: string, o: Record<string, unknown>): { setups: AnyRef[]; onFailureFailDagRun: boolean } {
  if (o.triggerRule !== undefined) {
    throw new SluiceError("INVALID_DAG", `${where}: triggerRule cannot be set on a teardown; it runs under "all_done_setup_success" (once everything before it is done, when one of its setups succeeded)`, {
      details: { field: "triggerRule" },
    });
  }
  const raw = o.setups;
  const setups = (raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : [raw]) as AnyRef[];
  if (setups.length === 0) {
    throw new SluiceError("INVALID_DAG", `${where}: a teardown needs the setup task(s) whose resource it releases, e.g. setups: [createTable]`, { details: { field: "setups" } });
  }
  const fail = o.onFailureFailDagRun;
  if (fail !== undefined && typeof fail !== "boolean") throw new SluiceError("INVALID_DAG", `${where}: onFailureFailDagRun must be true or false`, { details: { field: "onFailureFailDagRun" } });
  return { setups, onFailureFailDagRun: fail === true };
}
