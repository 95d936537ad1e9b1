/**
 * `throw new NonRetryableError("bad input")`: the task fails at once, whatever retries it has left, and
 * its instance goes to the dead-letter queue (Airflow's AirflowFailException). For errors that another
 * try cannot fix: invalid input, a record rejected by a validator, a missing permission.
 *
 * @example
 * d.task("parse", { retries: 3 }, async () => {
 *   if (!valid(row)) throw new NonRetryableError(`row ${row.id} is invalid`);
 * });
 */
export class NonRetryableError extends Error {
  /** What the worker looks at (core/deadLetters.ts `isNonRetryable`), not the class: a DAG bundle may hold its own copy. */
  readonly nonRetryable = true as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}
