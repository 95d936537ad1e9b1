/**
 * What a person (or a run timeout, or the scheduler) does to runs that exist: cancel one, clear or mark its
 * task instances, start queued runs. Each is one transition (engine/transaction): the run is locked, the
 * change and everything that follows from it is written, and workers and waiters learn of it after commit.
 */
import { FINISHED_RUN_STATES } from "../core/states.js";
import { SluiceError } from "../errors.js";
import type { AuditHook } from "../store/audit.js";
import type { DeadLetterRecord } from "../store/deadLetters.js";
import type { TaskInstanceRecord } from "../store/records.js";
import type { RunRecord, Store, Tx } from "../store/store.js";
import type { Clock } from "../core/clock.js";
import type { RunSpecs } from "./runSpecs.js";
import type { Transitions } from "./transaction.js";
import { clearSet } from "../core/setupTeardown.js";
import { clearTasks, failRun, markTasks, settleRunState, type TransitionEnv } from "./transitions.js";

export class Operations {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly env: TransitionEnv,
    private readonly specs: RunSpecs,
    private readonly transitions: Transitions,
  ) {}

  /**
   * Fail a run that is still going: running attempts are aborted, the rest is not started. `audit`
   * (a person's cancel, app/runs) writes its entry in the same transaction; a run timeout has none.
   */
  async cancelRun(runId: string, reason = "cancelled by user", code: "CANCELLED" | "TIMEOUT" = "CANCELLED", audit?: AuditHook): Promise<RunRecord> {
    await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([runId]);
      const run = await tx.runs.get(runId);
      if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
      if (FINISHED_RUN_STATES.has(run.state)) throw new SluiceError("RUN_FINISHED", `run "${runId}" has already finished (${run.state})`);
      fx.abort(await failRun(tx, fx, runId, reason, code), new SluiceError(code, reason));
      fx.finishedRuns.set(runId, "failed");
      fx.notifyOthers = true;
      await audit?.(tx, { dagId: run.dagId, runId, before: { state: run.state }, after: { state: "failed", reason } });
    });
    return (await this.store.runs.get(runId))!;
  }

  /**
   * Clear task instances so they run again (with `downstream`, everything after them too). The run is
   * running again; a worker driving it (or `sluice runs resume`) runs them.
   */
  async clearTasks(runId: string, taskIds: string[], downstream: boolean, mapIndex?: number, audit?: AuditHook): Promise<{ cleared: string[] }> {
    const idx = await this.specs.of(runId);
    const unknown = taskIds.filter((t) => !idx.byId.has(t));
    if (unknown.length) {
      throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task ${unknown.map((t) => `"${t}"`).join(", ")}`, { details: { runId, taskId: unknown[0] } });
    }
    if (mapIndex !== undefined) {
      // one map index (Airflow clears mapped instances one by one too): it must exist
      const tis = await this.store.taskInstances.list(runId);
      const missing = taskIds.filter((t) => !tis.some((ti) => ti.taskId === t && ti.mapIndex === mapIndex));
      if (missing.length) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no instance of task "${missing[0]}" with map index ${mapIndex}`, { details: { runId, taskId: missing[0], mapIndex } });
    }
    // with their downstream tasks when asked, and the setups and teardowns they need (core/setupTeardown.ts)
    const cleared = clearSet(idx.byId, taskIds, downstream);
    // the instances the clear touches: one map index of the named tasks, or all; their downstream whole
    const touched = (ti: TaskInstanceRecord) => cleared.has(ti.taskId) && (mapIndex === undefined || !taskIds.includes(ti.taskId) || ti.mapIndex === mapIndex);
    await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([runId]);
      const before = audit ? await instanceStates(tx, runId, touched) : null;
      fx.abort(await clearTasks(tx, this.env, fx, runId, taskIds, downstream, mapIndex, audit?.actor ?? null), new SluiceError("CANCELLED", "the task was cleared"));
      await fx.flush(tx, this.env);
      fx.notifyOthers = true;
      const run = (await tx.runs.get(runId))!;
      fx.watchTimeout(run);
      if (audit) {
        await tx.taskInstances.setChangedBy(runId, taskIds, audit.actor, mapIndex);
        const rest = [...cleared].filter((t) => !taskIds.includes(t));
        if (rest.length) await tx.taskInstances.setChangedBy(runId, rest, audit.actor);
        await audit(tx, { dagId: run.dagId, runId, before, after: await instanceStates(tx, runId, touched), target: describeTasks(taskIds, downstream, mapIndex) });
      }
    });
    return { cleared: idx.spec.tasks.filter((t) => cleared.has(t.id)).map((t) => t.id) };
  }

  /**
   * Retry a dead-lettered task instance: it is cleared with its downstream tasks (a fresh set of retries,
   * as a clear gives), its entry becomes `retried`, and the run is running again — a worker of a running
   * deployment (or `sluice runs resume`) runs it. The entry is read and resolved in the transaction of the
   * clear, so that two retries of one entry clear it once: the second finds it resolved (CONFLICT).
   */
  async retryDeadLetter(id: number, by: string, audit?: AuditHook): Promise<DeadLetterRecord> {
    const entry = await this.store.deadLetters.get(id);
    if (!entry) throw deadLetterNotFound(id);
    const idx = await this.specs.of(entry.runId);
    if (!idx.byId.has(entry.taskId)) throw new SluiceError("TASK_NOT_FOUND", `dead letter ${id}: run "${entry.runId}" has no task "${entry.taskId}" any more`, { details: { id } });
    await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([entry.runId]);
      const cur = await tx.deadLetters.get(id);
      if (!cur) throw deadLetterNotFound(id);
      if (cur.state !== "open") throw new SluiceError("CONFLICT", `dead letter ${id} is ${cur.state} already${cur.resolvedBy ? ` (by ${cur.resolvedBy})` : ""}`, { details: { id, state: cur.state } });
      const before = { state: cur.state, runState: (await tx.runs.get(cur.runId))?.state ?? null };
      // resolved first, by its state: a discard that committed since the read above (it takes no run lock) wins, and this rolls back
      if (!(await tx.deadLetters.resolve(id, "retried", by, tx.now()))) throw new SluiceError("CONFLICT", `dead letter ${id} was resolved meanwhile`, { details: { id } });
      // the instance alone (one map index of a mapped task), its downstream tasks whole: as `runs clear --downstream`
      fx.abort(await clearTasks(tx, this.env, fx, cur.runId, [cur.taskId], true, cur.mapIndex, by), new SluiceError("CANCELLED", "the task was cleared"));
      await fx.flush(tx, this.env);
      fx.notifyOthers = true;
      const run = (await tx.runs.get(cur.runId))!;
      fx.watchTimeout(run);
      await audit?.(tx, { dagId: cur.dagId, runId: cur.runId, target: `dead letter ${id}: ${describeTasks([cur.taskId], true, cur.mapIndex >= 0 ? cur.mapIndex : undefined)}`, before, after: { state: "retried", runState: run.state } });
    });
    return (await this.store.deadLetters.get(id))!;
  }

  /**
   * Airflow's "mark success" / "mark failed": set task instances (every map index, or one) to `state`
   * without running them. A running attempt is ended and aborted; waiting downstream tasks are
   * re-evaluated against their upstream's states now (they may run, skip or fail upstream), and a run
   * with nothing left gets its state derived again. Downstream tasks that already finished keep their
   * state (clear them to run them again).
   */
  async markTasks(runId: string, taskId: string, state: "success" | "failed", mapIndex?: number, audit?: AuditHook): Promise<{ marked: number }> {
    const idx = await this.specs.of(runId);
    if (!idx.byId.has(taskId)) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task "${taskId}"`, { details: { runId, taskId } });
    const touched = (ti: TaskInstanceRecord) => ti.taskId === taskId && (mapIndex === undefined || ti.mapIndex === mapIndex);
    const { value: marked } = await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([runId]);
      const before = audit ? await instanceStates(tx, runId, touched) : null;
      const r = await markTasks(tx, this.env, fx, runId, taskId, state, mapIndex);
      fx.abort(r.aborted, new SluiceError("CANCELLED", `the task was marked ${state}`));
      await fx.flush(tx, this.env);
      await settleRunState(tx, this.env, fx, runId);
      // nothing marked (no such map index): the caller reports it; nothing changed, nothing to audit
      if (audit && r.marked > 0) {
        await tx.taskInstances.setChangedBy(runId, [taskId], audit.actor, mapIndex);
        const run = (await tx.runs.get(runId))!;
        await audit(tx, { dagId: run.dagId, runId, before, after: await instanceStates(tx, runId, touched), target: describeTasks([taskId], false, mapIndex) });
      }
      return r.marked;
    });
    return { marked };
  }

  /**
   * The queued timeout: a ready task instance nothing can ever run fails, with a never-ran attempt that
   * carries `QUEUED_TIMEOUT` and why (so `runs show`, the API and the UI show it where every error is);
   * downstream follows its trigger rules. Nothing happens when a worker claimed it meanwhile.
   */
  async failNeverRunnable(ti: TaskInstanceRecord, message: string): Promise<boolean> {
    const { value: failed } = await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([ti.runId]);
      const cur = (await tx.taskInstances.getMany(ti.runId, [ti.taskId])).find((x) => x.mapIndex === ti.mapIndex);
      if (!cur || (cur.state !== "scheduled" && cur.state !== "up_for_retry")) return false;
      const now = tx.now();
      await tx.attempts.insertNeverRan({ runId: ti.runId, taskId: ti.taskId, mapIndex: ti.mapIndex, tryNumber: cur.tryNumber + 1, tryBase: cur.tryBase, at: now, errorCode: "QUEUED_TIMEOUT", errorMessage: message });
      await markTasks(tx, this.env, fx, ti.runId, ti.taskId, "failed", ti.mapIndex);
      await fx.flush(tx, this.env);
      await settleRunState(tx, this.env, fx, ti.runId);
      fx.notifyOthers = true;
      return true;
    });
    return failed;
  }

  /** Start queued runs of a DAG while it has fewer than `maxActiveRuns` running, oldest logical date first. */
  async promoteQueuedRuns(dagId: string, maxActiveRuns: number): Promise<RunRecord[]> {
    const now = this.clock.now();
    const { value: started } = await this.transitions.run(async (tx, fx) => {
      const ids = await tx.runs.promoteQueued(dagId, maxActiveRuns, now);
      const runs: RunRecord[] = [];
      for (const id of ids) {
        const idx = await this.specs.of(id).catch(() => null);
        const limit = idx?.spec.runTimeoutMs ?? null;
        if (limit !== null) await tx.runs.setTimeoutAt(id, now + limit);
        const run = (await tx.runs.get(id))!;
        fx.watchTimeout(run);
        runs.push(run);
      }
      // their roots are ready to claim
      if (ids.length) {
        fx.notifyOthers = true;
        fx.wakeWorkers = true;
      }
      return runs;
    });
    return started;
  }
}

export function deadLetterNotFound(id: number | string): SluiceError {
  return new SluiceError("NOT_FOUND", `no dead letter with id ${JSON.stringify(String(id))}`, { details: { deadLetter: String(id) } });
}

/** At most this many instances are listed in an audit entry (a mapped task may have thousands); counts are complete. */
const LISTED_INSTANCES = 100;

/**
 * The states of a run's instances that `touched` selects, as an audit entry's before/after: the run's
 * state, counts by state, and the instances themselves (the first LISTED_INSTANCES).
 */
async function instanceStates(tx: Tx, runId: string, touched: (ti: TaskInstanceRecord) => boolean): Promise<unknown> {
  const run = await tx.runs.get(runId);
  const tis = (await tx.taskInstances.list(runId)).filter(touched);
  const counts: Record<string, number> = {};
  for (const ti of tis) counts[ti.state] = (counts[ti.state] ?? 0) + 1;
  return {
    runState: run?.state ?? null,
    counts,
    instances: tis.slice(0, LISTED_INSTANCES).map((ti) => ({ taskId: ti.taskId, mapIndex: ti.mapIndex, state: ti.state })),
  };
}

/** An audit entry's target for a clear or mark: `task a, b (map index 2) and downstream`. */
function describeTasks(taskIds: readonly string[], downstream: boolean, mapIndex?: number): string {
  return `task ${taskIds.join(", ")}${mapIndex !== undefined ? ` (map index ${mapIndex})` : ""}${downstream ? " and downstream" : ""}`;
}
