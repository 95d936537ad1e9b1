/** Operations on runs: trigger, cancel, clear and mark task instances. */
import type { ClearScope } from "../core/clearSelection.js";
import type { ClearOutcome, MarkOutcome, MarkScope } from "../engine/operations.js";
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
 * Clear task instances so they run again: the named tasks (every map index, or `mapIndex`), with their
 * downstream and/or upstream tasks, only the failed ones (core/clearSelection.ts), and the setups they need
 * with those setups' teardowns, as Airflow clears them (core/setupTeardown.ts `clearSet`). `dryRun`: what
 * it would clear, changing nothing (the UI's preview: the same selection, so it lists exactly what a clear
 * clears). Returns the task ids in DAG order and the instances with the states they had.
 */
export const clearTasks = operation(
  "runs.clearTasks",
  "operator",
  async (s: Sluice, _actor, input: ClearScope & { runId: string; dryRun?: boolean }, audit): Promise<ClearOutcome & { dryRun: boolean }> => {
    await requireTasks(s, input.runId, input.taskIds);
    const { runId, dryRun, ...scope } = input;
    if (dryRun) return { dryRun: true, ...(await s.engine.previewClear(runId, scope)) };
    return { dryRun: false, ...(await s.engine.clearTasks(runId, scope, audit)) };
  },
  { dag: dagOfRun },
);

/**
 * Mark a task's instances (every map index, or one) success, failed or skipped, with its downstream
 * and/or upstream tasks; waiting downstream tasks are re-evaluated. `dryRun`: the instances it would
 * change, changing nothing. `sluice tasks mark` and the API call this.
 */
export const markTasks = operation(
  "runs.markTasks",
  "operator",
  async (s: Sluice, _actor, input: MarkScope & { runId: string; dryRun?: boolean }, audit): Promise<MarkOutcome & { dryRun: boolean; run: RunRecord | null }> => {
    await requireTasks(s, input.runId, [input.taskId]);
    const { runId, dryRun, ...scope } = input;
    const r = dryRun ? await s.engine.previewMark(runId, scope) : await s.engine.markTasks(runId, scope, audit);
    if (r.marked === 0) {
      throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no instance of task "${input.taskId}"${input.mapIndex !== undefined ? ` with map index ${input.mapIndex}` : ""}`, {
        details: { runId, taskId: input.taskId },
      });
    }
    return { ...r, dryRun: !!dryRun, run: dryRun ? null : await requireRun(s, runId) };
  },
  { dag: dagOfRun },
);

/** A note is markdown a person writes; this bounds it (Airflow's notes: 1,000 characters; ours are longer). */
export const NOTE_MAX_CHARS = 10_000;

function checkNote(note: string): string {
  if (note.length > NOTE_MAX_CHARS) {
    throw new SluiceError("INVALID_INPUT", `note: at most ${NOTE_MAX_CHARS} characters, got ${note.length}`, { details: { field: "note" } });
  }
  return note.trim();
}

/**
 * Set the note of a run, or of one of its task instances (`taskId`, and `mapIndex` for a mapped one): a
 * person's markdown, shown in the run page and `runs show`, with who wrote it and when. An empty note
 * removes it. Airflow's DAG run and task instance notes; editing needs the operator role, as marking does.
 */
export const setNote = operation(
  "runs.setNote",
  "operator",
  async (s: Sluice, _actor, input: { runId: string; note: string; taskId?: string; mapIndex?: number }, audit): Promise<{ note: string | null; updatedBy: string; updatedAt: number }> => {
    const note = checkNote(input.note);
    const { runId, taskId } = input;
    const mapIndex = input.mapIndex ?? -1;
    const { dagId } = await requireRun(s, runId);
    if (taskId !== undefined) {
      await requireTasks(s, runId, [taskId]);
      if (!(await s.store.taskInstances.get(runId, taskId, mapIndex))) {
        throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no instance of task "${taskId}" with map index ${mapIndex}`, { details: { runId, taskId } });
      }
    }
    return s.store.tx(async (tx) => {
      const at = tx.now();
      const before = taskId === undefined ? await tx.notes.ofRun(runId) : ((await tx.notes.ofTasks(runId)).find((n) => n.taskId === taskId && n.mapIndex === mapIndex) ?? null);
      if (taskId === undefined) await tx.notes.setRun(runId, note, audit.actor, at);
      else await tx.notes.setTask(runId, taskId, mapIndex, note, audit.actor, at);
      await audit(tx, {
        dagId,
        runId,
        ...(taskId !== undefined ? { target: mapIndex >= 0 ? `${taskId}[${mapIndex}]` : taskId } : {}),
        before: before && { note: before.note },
        after: note === "" ? null : { note },
      });
      return { note: note === "" ? null : note, updatedBy: audit.actor, updatedAt: at };
    });
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
