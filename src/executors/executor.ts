/**
 * The executor seam: one small interface, several ways to run a task (in this process, in a child Node
 * process, a program, a Python script). Every executor passes the shared contract suite in
 * test/executors.test.ts.
 */
import type { TaskSpec } from "../core/dagSpec.js";
import type { TaskImpl } from "../dsl/dag.js";
import type { TaskContext } from "../dsl/types.js";
import type { AttemptLog } from "../logs/attemptLog.js";
import type { Masker } from "../secrets/mask.js";
import type { ProcessPoolLimits } from "../core/processReuse.js";

export interface TaskRun {
  task: TaskSpec;
  impl: TaskImpl;
  /** Absolute path of the DAG file (relative paths resolve from its folder). */
  dagFile: string;
  /** The module a child process imports for the task's code: the run's code bundle, else the DAG file. */
  moduleUrl: string | null;
  /** Resolved input values, with the map item merged in for a mapped task. */
  inputs: Record<string, unknown>;
  ctx: TaskContext<unknown>;
  /**
   * The attempt's stop, without an AbortSignal (worker/attemptAbort.ts): the in-process executor waits on
   * it, so that a task that never reads `ctx.signal` costs none. Absent: `ctx.signal` is used.
   */
  abort?: AbortWatch;
  log: AttemptLog;
  /** The secrets this attempt can reach: every value resolved for it is added, every text it writes masked. */
  masker: Masker;
  /** Default Python interpreter. */
  python: string;
  /**
   * The clean environment a task process starts from (config's taskEnv): never Sluice's own SLUICE_*
   * variables. Executors that start a process never pass process.env.
   */
  env: Record<string, string>;
  /** When a warm process of `isolation: "process"` is retired (childPool.ts); absent: the defaults. */
  processPool?: ProcessPoolLimits;
}

export interface Executor {
  /** Run the task; resolve with its output value, reject with its error. Rejects promptly once ctx.signal aborts. */
  run(run: TaskRun): Promise<unknown>;
}

/** Reject as soon as `signal` aborts, with its reason; otherwise settle like `work`. */
/** What the in-process executor needs of an attempt's stop (worker/attemptAbort.ts AttemptAbort). */
export interface AbortWatch {
  readonly aborted: boolean;
  readonly reason: unknown;
  onAbort(fn: () => void): () => void;
}

/** raceAbort for an AbortWatch: no EventTarget, no listener objects. */
export function raceAbortWatch<T>(work: Promise<T>, abort: AbortWatch): Promise<T> {
  if (abort.aborted) return Promise.reject(abort.reason);
  return new Promise<T>((resolve, reject) => {
    const forget = abort.onAbort(() => reject(abort.reason));
    work.then(
      (v) => {
        forget();
        resolve(v);
      },
      (e: unknown) => {
        forget();
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
