/**
 * Depending on the past, in the engine (decision 0025): the gate a dependsOnPast task instance passes
 * before it is scheduled, and the wake-ups that decide it again. The rules are core/pastDeps.ts; the
 * reads are index seeks (store/pastWaits.ts: the previous run by runs_dag_logical, its instances by
 * primary key), never a scan of history.
 *
 * Event-driven, never polled: a held instance has a `past_waits` row naming the run it waits on. When a
 * task instance of that run ends successful or skipped (also when a person marks it), the commit's
 * follow-up finds the waiters through past_waits_prev and decides them again (`Recovery.reconcile`).
 * Closing the race on PostgreSQL (the two transactions interleave): the ending side looks for waiters
 * after its commit, and a new hold looks at the previous run once more after its own commit — whichever
 * commits second sees the other.
 */
import type { TaskSpec } from "../core/dagSpec.js";
import { pastDepsMet } from "../core/pastDeps.js";
import type { Tx } from "../store/store.js";
import type { Effects } from "./effects.js";
import type { SpecIndex } from "./specIndex.js";

/** Whether the task instance may be scheduled now; if not, it is held (a past_waits row, its reason). */
export async function pastGate(tx: Tx, fx: Effects, idx: SpecIndex, runId: string, task: TaskSpec): Promise<boolean> {
  const run = await tx.runs.get(runId);
  if (!run) return true;
  const firstInBackfill = run.backfillId !== null && (await tx.pastWaits.firstInBackfill(run.backfillId, runId));
  // Airflow: with catchup the previous *scheduled* run (manual runs in between do not count), else any
  const previous = firstInBackfill ? null : await tx.pastWaits.previousRun(run.dagId, run.logicalDate, idx.spec.catchup);
  const rows = previous ? await tx.taskInstances.getMany(previous.runId, task.waitForDownstream ? [task.id, ...task.downstream] : [task.id]) : [];
  const decision = pastDepsMet(task, task.id, {
    firstInBackfill,
    previous,
    task: rows.filter((r) => r.taskId === task.id).map((r) => r.state),
    downstream: rows.filter((r) => r.taskId !== task.id).map((r) => r.state),
  });
  if (decision.met) {
    await tx.pastWaits.release(runId, [task.id]);
    return true;
  }
  const isNew = await tx.pastWaits.hold({ runId, taskId: task.id, prevRunId: previous!.runId, reason: decision.why, now: tx.now() });
  if (isNew) fx.pastHeld.push({ runId, taskId: task.id });
  return false;
}

const withPastDeps = new WeakMap<SpecIndex, boolean>();

/**
 * Whether a DAG version has a task that depends on the past (only such runs look for waiters). Asked after
 * every commit that ends tasks: remembered per version, so a 100,000-task DAG is not walked per commit.
 */
export function dependsOnPast(idx: SpecIndex): boolean {
  let v = withPastDeps.get(idx);
  if (v === undefined) withPastDeps.set(idx, (v = idx.spec.tasks.some((t) => t.dependsOnPast)));
  return v;
}
