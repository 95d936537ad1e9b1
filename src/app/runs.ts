/** Operations on runs: trigger, cancel, clear and mark task instances. */
import { SluiceError } from "../errors.js";
import type { Sluice } from "../sluice.js";
import type { RunRecord } from "../store/store.js";
import { operation, type Actor, type DagTarget } from "./actor.js";
import { dagNotFound, requireKnownDag } from "./dags.js";

/** The DAG of a trigger: a DAG the actor may not read is not found, as an unknown one. */
const dagOfInput = async (s: Sluice, input: { dagId: string }): Promise<DagTarget> => ({ dagId: input.dagId, notFound: () => dagNotFound(s, input.dagId) });
/** The DAG of a run: a run of a DAG the actor may not read is not found, as an unknown run. */
const dagOfRun = async (s: Sluice, input: { runId: string }): Promise<DagTarget> => ({ dagId: (await requireRun(s, input.runId)).dagId, notFound: () => runNotFound(input.runId) });

export interface TriggerInput {
  dagId: string;
  /** Validated against the DAG's params schema (INVALID_PARAM names the param). */
  params?: Record<string, unknown>;
  /** Default: now. */
  logicalDate?: Date;
  /** The same key never creates a second run of the DAG: the existing run is returned. */
  idempotencyKey?: string;
  /** Reuse no cache entry: cached tasks run and refresh their entries (TriggerOptions.noCache). */
  noCache?: boolean;
}

/** Create a run of a DAG (app/dags: which DAGs are known); workers of a running deployment run it. */
export const triggerRun = operation(
  "runs.trigger",
  "operator",
  async (s: Sluice, _actor, input: TriggerInput, audit): Promise<RunRecord> => {
    await requireKnownDag(s, input.dagId);
    return s.engine.createRun(input.dagId, {
      audit,
      params: input.params ?? {},
      ...(input.logicalDate !== undefined ? { logicalDate: input.logicalDate } : {}),
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
      ...(input.noCache ? { noCache: true } : {}),
    });
  },
  { dag: dagOfInput },
);

/** Fail a run that is still going: running attempts are aborted, the rest is not started. */
export const cancelRun = operation(
  "runs.cancel",
  "operator",
  async (s: Sluice, actor, input: { runId: string }, audit): Promise<RunRecord> => {
    await requireRun(s, input.runId);
    return s.engine.cancelRun(input.runId, cancelReason(actor), "CANCELLED", audit);
  },
  { dag: dagOfRun },
);

/**
 * Clear task instances so they run again (every map index, or `mapIndex`; with `downstream`, every task
 * after them too). Returns the task ids cleared, in DAG order.
 */
export const clearTasks = operation(
  "runs.clearTasks",
  "operator",
  async (s: Sluice, _actor, input: { runId: string; taskIds: string[]; downstream: boolean; mapIndex?: number }, audit): Promise<{ cleared: string[] }> => {
    await requireTasks(s, input.runId, input.taskIds);
    return s.engine.clearTasks(input.runId, input.taskIds, input.downstream, input.mapIndex, audit);
  },
  { dag: dagOfRun },
);

/** Mark a task's instances (every map index, or one) success or failed; waiting downstream tasks are re-evaluated. */
export const markTasks = operation(
  "runs.markTasks",
  "operator",
  async (s: Sluice, _actor, input: { runId: string; taskId: string; state: "success" | "failed"; mapIndex?: number }, audit): Promise<{ marked: number; run: RunRecord }> => {
    await requireTasks(s, input.runId, [input.taskId]);
    const { marked } = await s.engine.markTasks(input.runId, input.taskId, input.state, input.mapIndex, audit);
    if (marked === 0) {
      throw new SluiceError("TASK_NOT_FOUND", `run "${input.runId}" has no instance of task "${input.taskId}"${input.mapIndex !== undefined ? ` with map index ${input.mapIndex}` : ""}`, {
        details: { runId: input.runId, taskId: input.taskId },
      });
    }
    return { marked, run: await requireRun(s, input.runId) };
  },
  { dag: dagOfRun },
);

/** The reason a cancelled run records: who asked, as far as the channel tells. */
export function cancelReason(actor: Actor): string {
  return actor.via === "cli" ? "cancelled by user" : "cancelled through the API";
}

const runNotFound = (runId: string) => new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`, { details: { runId } });

async function requireRun(s: Sluice, runId: string): Promise<RunRecord> {
  const run = await s.store.runs.get(runId);
  if (!run) throw runNotFound(runId);
  return run;
}

async function requireTasks(s: Sluice, runId: string, taskIds: readonly string[]): Promise<void> {
  await requireRun(s, runId);
  const idx = await s.engine.specFor(runId);
  const unknown = taskIds.filter((t) => !idx.byId.has(t));
  if (unknown.length) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task ${unknown.map((t) => `"${t}"`).join(", ")}`, { details: { runId, taskId: unknown[0] } });
}
