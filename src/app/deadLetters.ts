/**
 * The dead-letter queue as a person uses it (docs/operations.md, "Dead-letter queue"): list and show the
 * task instances that failed after their last try, retry them (a fresh set of retries; the run resumes)
 * or discard them (acknowledged, kept for history). Per-DAG: an entry of a DAG the actor may not read is
 * not found, as a missing one; acting needs the operator role on its DAG. Bulk actions are the single
 * action per id, each with its own check and audit entry, so that one refused or resolved id does not
 * undo the others.
 */
import type { DeadLetterState } from "../core/deadLetters.js";
import { deadLetterNotFound } from "../engine/operations.js";
import type { Sluice } from "../sluice.js";
import type { DeadLetterRecord } from "../store/deadLetters.js";
import { SluiceError, toSluiceError } from "../errors.js";
import { canRead, dagIdsWith, holdsAnywhere, requireRoleOn } from "./access.js";
import { operation, requireRole, type Actor, type DagTarget } from "./actor.js";

/** At most this many ids in one bulk request (a page of the UI's list is 50–100). */
export const MAX_BULK = 500;

/** The entry's DAG: an entry of a DAG the actor may not read is not found, as a missing one. */
const dagOfEntry = async (s: Sluice, input: { id: number }): Promise<DagTarget> => ({ dagId: (await requireEntry(s, input.id)).dagId, notFound: () => deadLetterNotFound(input.id) });

async function requireEntry(s: Sluice, id: number): Promise<DeadLetterRecord> {
  const e = await s.store.deadLetters.get(id);
  if (!e) throw deadLetterNotFound(id);
  return e;
}

export interface DeadLetterFilter {
  dagId?: string;
  state?: DeadLetterState;
  runId?: string;
  limit: number;
  /** The last id of the previous page. */
  after: number | null;
}

/** Entries newest first, of the DAGs the actor may read; `limit` + 1 rows are read by callers that page. */
export async function listDeadLetters(s: Sluice, actor: Actor, f: DeadLetterFilter): Promise<DeadLetterRecord[]> {
  if (f.dagId !== undefined && !(await canRead(actor, f.dagId))) return [];
  const readable = f.dagId === undefined ? await dagIdsWith(actor) : null;
  return s.store.deadLetters.page({
    ...(f.dagId !== undefined ? { dagId: f.dagId } : {}),
    ...(readable !== null ? { dagIds: readable } : {}),
    ...(f.state !== undefined ? { state: f.state } : {}),
    ...(f.runId !== undefined ? { runId: f.runId } : {}),
    limit: f.limit,
    after: f.after,
  });
}

/** One entry, when the actor may read its DAG. */
export async function getDeadLetter(s: Sluice, actor: Actor, id: number): Promise<DeadLetterRecord> {
  const e = await requireEntry(s, id);
  await requireRoleOn(actor, e.dagId, "viewer", () => deadLetterNotFound(id));
  return e;
}

/** Retry an open entry: its instance and downstream are cleared with a fresh set of retries; the run resumes. */
export const retryDeadLetter = operation(
  "dlq.retry",
  "operator",
  async (s: Sluice, actor, input: { id: number }, audit): Promise<DeadLetterRecord> => s.engine.retryDeadLetter(input.id, actor.name, audit),
  { dag: dagOfEntry },
);

/** Discard an open entry: acknowledged by the actor, kept (state `discarded`) for history; the run is left as it is. */
export const discardDeadLetter = operation(
  "dlq.discard",
  "operator",
  async (s: Sluice, actor, input: { id: number }, audit): Promise<DeadLetterRecord> =>
    s.store.tx(async (tx) => {
      const cur = await tx.deadLetters.get(input.id);
      if (!cur) throw deadLetterNotFound(input.id);
      if (!(await tx.deadLetters.resolve(input.id, "discarded", actor.name, tx.now()))) {
        throw new SluiceError("CONFLICT", `dead letter ${input.id} is ${cur.state} already${cur.resolvedBy ? ` (by ${cur.resolvedBy})` : ""}`, { details: { id: input.id, state: cur.state } });
      }
      await audit(tx, { dagId: cur.dagId, runId: cur.runId, target: `dead letter ${input.id}: task ${cur.taskId}${cur.mapIndex >= 0 ? ` (map index ${cur.mapIndex})` : ""}`, before: { state: cur.state }, after: { state: "discarded" } });
      return (await tx.deadLetters.get(input.id))!;
    }),
  { dag: dagOfEntry },
);

export type BulkOutcome = { id: number; ok: true; entry: DeadLetterRecord } | { id: number; ok: false; error: SluiceError };

/**
 * Retry or discard several entries: one operation per id (its own check, transaction and audit entry), in
 * the order given, duplicates once. Each id's outcome is reported; none stops the others.
 */
export async function bulkDeadLetters(s: Sluice, actor: Actor, action: "retry" | "discard", ids: readonly number[]): Promise<BulkOutcome[]> {
  if (ids.length > MAX_BULK) throw new SluiceError("INVALID_INPUT", `at most ${MAX_BULK} dead letters at once, got ${ids.length}`, { details: { field: "ids" } });
  const op = action === "retry" ? retryDeadLetter : discardDeadLetter;
  // an actor without the role on any DAG is refused as a whole (403), before any id is looked up
  if (!(await holdsAnywhere(actor, op.role))) requireRole(actor, op.role);
  const out: BulkOutcome[] = [];
  for (const id of new Set(ids)) {
    try {
      out.push({ id, ok: true, entry: await op(s, actor, { id }) });
    } catch (e) {
      out.push({ id, ok: false, error: toSluiceError(e) });
    }
  }
  return out;
}
