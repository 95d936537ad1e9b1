/**
 * Ending a task from inside it, Airflow's way (AirflowSkipException, AirflowFailException): in-process,
 * in `isolation: "process"` children (the mark crosses IPC) and, by exit code, from shell and Python tasks
 * (`skipOnExitCode`, default 99).
 */
import { NonRetryableError } from "./nonRetryable.js";

/**
 * `throw new SkipTask("no new files")`: the task instance ends `skipped` (not failed, no retry); its
 * downstream tasks follow their trigger rules (`all_success` ones are skipped, `all_done` ones run). The
 * reason is written to the attempt's log and shown with the task (`sluice runs show`, the API).
 *
 * @example
 * d.task("load", async (_, ctx) => {
 *   const files = await listNewFiles();
 *   if (files.length === 0) throw new SkipTask("no new files today");
 * });
 */
export class SkipTask extends Error {
  /** What the worker looks at (core/taskSignals.ts `isSkipSignal`), not the class: a DAG bundle may hold its own copy. */
  readonly skipTask = true as const;

  constructor(reason: string) {
    super(reason);
    this.name = "SkipTask";
  }
}

/**
 * `throw new FailTask("the input file is malformed")`: the task fails at once, whatever retries it has
 * left (Airflow's AirflowFailException). Like `NonRetryableError`, whose name it also answers to, the
 * instance goes to the dead-letter queue.
 *
 * @example
 * d.task("parse", { retries: 3 }, async () => {
 *   if (!valid(file)) throw new FailTask(`${file} is malformed: retrying will not help`);
 * });
 */
export class FailTask extends NonRetryableError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = "FailTask";
  }
}
