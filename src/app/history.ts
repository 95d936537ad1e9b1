/**
 * Runs and task instances across DAGs (the runs and task-instance lists, the dashboard): what the actor
 * may read (app/access.ts), filtered. The HTTP routes (server/routes/history.ts) page and format them.
 */
import { canRead, dagIdsWith } from "./access.js";
import type { Actor } from "./actor.js";
import type { Sluice } from "../sluice.js";
import type { RecentRuns, RunFilter, RunListFilter, TaskInstanceListFilter, TaskInstanceRow } from "../store/history.js";
import type { RunRecord } from "../store/store.js";

const NOTHING = Symbol("nothing readable");

/** The filter narrowed to the DAGs the actor may read; NOTHING when it names one it may not. */
async function scoped<F extends RunFilter>(actor: Actor, f: F): Promise<F | typeof NOTHING> {
  if (f.dagId !== undefined) return (await canRead(actor, f.dagId)) ? f : NOTHING;
  const readable = await dagIdsWith(actor);
  return readable === null ? f : { ...f, dagIds: readable };
}

/** Runs of every DAG the actor may read, newest first; `limit` rows (callers that page ask one more). */
export async function listRuns(s: Sluice, actor: Actor, f: RunListFilter): Promise<RunRecord[]> {
  const q = await scoped(actor, f);
  return q === NOTHING ? [] : s.store.history.runs(q);
}

/** Task instances of the runs of every DAG the actor may read, newest run first. */
export async function listTaskInstances(s: Sluice, actor: Actor, f: TaskInstanceListFilter): Promise<TaskInstanceRow[]> {
  const q = await scoped(actor, f);
  return q === NOTHING ? [] : s.store.history.taskInstances(q);
}

/** The last `hours` at a glance: failed, running, queued and late runs of the DAGs the actor may read. */
export async function recentRuns(s: Sluice, actor: Actor, o: { since: number; limit: number }): Promise<RecentRuns> {
  const readable = await dagIdsWith(actor);
  return s.store.history.recent({ since: o.since, now: s.store.now(), limit: o.limit, ...(readable !== null ? { dagIds: readable } : {}) });
}
