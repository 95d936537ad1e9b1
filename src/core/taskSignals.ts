/**
 * Skipping a task from inside it (Airflow's AirflowSkipException, BashOperator's `skip_on_exit_code`):
 * what marks a thrown value as "skip me", and which exit codes of a shell or Python task mean it. Pure:
 * the classes users throw live in dsl/taskSignals.ts, the worker turns a skip into a `skipped` attempt
 * (worker/runAttempt.ts), the engine skips the instance and applies its downstream trigger rules.
 */
import { SluiceError } from "../errors.js";

/** Airflow's BashOperator default: a program that exits 99 skips its task. */
export const DEFAULT_SKIP_EXIT_CODE = 99;

/**
 * Whether a thrown value asks to skip its task: it says so itself (`SkipTask`, or anything with
 * `skipTask: true` — duck-typed, so that a DAG bundle's own copy of the class counts too), or it carried
 * the mark across a process boundary (`details.skipTask`: executors/childMain.ts, shell and Python exits).
 */
export function isSkipSignal(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  if ((e as { skipTask?: unknown }).skipTask === true) return true;
  return (e as { details?: { skipTask?: unknown } }).details?.skipTask === true;
}

/**
 * The `skipOnExitCode` option of shell and Python tasks: the exit codes that skip the task instead of
 * failing it, sorted and deduplicated. Absent: [99]; `null` or `[]`: none (every non-zero exit fails).
 * Anything else is INVALID_DAG, naming `where`.
 */
export function skipExitCodes(v: unknown, where: string): number[] {
  if (v === undefined) return [DEFAULT_SKIP_EXIT_CODE];
  if (v === null) return [];
  const list = Array.isArray(v) ? (v as unknown[]) : [v];
  const bad = list.find((c) => typeof c !== "number" || !Number.isInteger(c) || c < 1 || c > 255);
  if (bad !== undefined) {
    throw new SluiceError("INVALID_DAG", `${where}: skipOnExitCode must be an exit code from 1 to 255 or a list of them (or null for none), got ${JSON.stringify(bad)}`);
  }
  return [...new Set(list as number[])].sort((a, b) => a - b);
}
