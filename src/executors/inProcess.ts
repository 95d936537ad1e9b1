import { SluiceError } from "../errors.js";
import { raceAbort, raceAbortWatch, type Executor, type TaskRun } from "./executor.js";

/**
 * Runs the task function in this process: the fastest path (no serialisation of inputs). A function that
 * ignores its AbortSignal cannot be stopped; its attempt still ends at the timeout and its late result
 * is dropped. CPU-bound or crash-prone code belongs in `isolation: "process"`.
 */
export const inProcessExecutor: Executor = {
  run(r: TaskRun): Promise<unknown> {
    const impl = r.impl;
    if (impl.kind !== "fn") return Promise.reject(new SluiceError("INTERNAL", `task "${r.task.id}" is not a function task`));
    const stop = r.abort ?? r.ctx.signal;
    // raceAbort would reject too, but only after the function had been started
    if (stop.aborted) return Promise.reject(stop.reason as Error);
    const work = Promise.resolve().then(() => impl.fn(r.inputs, r.ctx));
    return r.abort ? raceAbortWatch(work, r.abort) : raceAbort(work, r.ctx.signal);
  },
};
