/**
 * What a person (or a run timeout, or the scheduler) does to runs that exist: cancel one, clear or mark its
 * task instances, start queued runs. Each is one transition (engine/transaction): the run is locked, the
 * change and everything that follows from it is written, and workers and waiters learn of it after commit.
 */
import { instancesToClear, type ClearScope } from "../core/clearSelection.js";
import { FINISHED_RUN_STATES } from "../core/states.js";
import { SluiceError } from "../errors.js";
import type { AuditHook } from "../store/audit.js";
import type { DeadLetterRecord } from "../store/deadLetters.js";
import type { ApprovalRecord } from "../store/models.js";
import type { TaskInstanceRecord } from "../store/records.js";
import type { RunRecord, Store, Tx } from "../store/store.js";
import type { Clock } from "../core/clock.js";
import type { RunSpecs } from "./runSpecs.js";
import type { Transitions } from "./transaction.js";
import { clearSet } from "../core/setupTeardown.js";
import type { SpecIndex } from "./specIndex.js";
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
   * Record a person's decision on a promotion gate's approval and wake the gate at once: its instance,
   * waiting in `up_for_reschedule`, is made due now and workers are told (in this process, and others
   * through NOTIFY with the commit) — no poll. The run is locked first, as a gate's poke settles under
   * the same lock (engine/transitions.ts applyPoke looks at the approval there), so a decision made
   * while the gate is between asking and waiting still wakes it. NOT_FOUND for an unknown id; CONFLICT
   * when it was decided already or its gate no longer waits (the run ended, the gate was cleared).
   */
  async decideApproval(id: number, d: { state: "approved" | "rejected"; by: string; comment: string | null }, audit?: AuditHook): Promise<ApprovalRecord> {
    const { value } = await this.transitions.run(async (tx, fx) => {
      const before = await tx.models.approval(id);
      if (!before) throw new SluiceError("NOT_FOUND", `no approval #${id} (sluice models approvals lists the pending ones)`, { details: { approvalId: id } });
      await tx.lockRuns([before.runId]);
      const key = { runId: before.runId, taskId: before.taskId, mapIndex: before.mapIndex };
      const ti = (await fx.tis.load(tx, before.runId, [before.taskId])).find((t) => t.mapIndex === before.mapIndex);
      const waiting = ti && ti.attemptId === before.attemptId && (ti.state === "up_for_reschedule" || ti.state === "running");
      if (before.state !== "pending") throw new SluiceError("CONFLICT", `approval #${id} was already ${before.state} by ${before.decidedBy ?? "?"}`, { details: { approvalId: id } });
      if (!waiting) throw new SluiceError("CONFLICT", `approval #${id}: its gate (run ${before.runId}, task ${before.taskId}) no longer waits for it (the run ended or the gate was cleared)`, { details: { approvalId: id } });
      const after = await tx.models.decide(id, d);
      if (!after) throw new SluiceError("CONFLICT", `approval #${id} was decided meanwhile`, { details: { approvalId: id } });
      if (ti.state === "up_for_reschedule") {
        fx.tis.update(key, { readyAt: tx.now() });
        fx.ready(key.runId, key.taskId, key.mapIndex);
      }
      fx.notifyOthers = true;
      await audit?.(tx, { dagId: before.dagId, runId: before.runId, target: `${before.name}@${before.alias} v${before.version}`, before: { state: before.state }, after: { state: after.state, comment: after.comment } });
      return after;
    });
    return value;
  }

  /**
   * Clear task instances so they run again: the named tasks (one map index, or all) and, per `scope`,
   * their downstream and/or upstream tasks, only the failed ones (core/clearSelection.ts). The run is
   * running again; a worker driving it (or `sluice runs resume`) runs them. Returns what was cleared:
   * the instances with the states they had.
   */
  async clearTasks(runId: string, scope: ClearScope, audit?: AuditHook): Promise<ClearOutcome> {
    const idx = await this.checkScope(runId, scope);
    const { value } = await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([runId]);
      const all = await tx.taskInstances.list(runId);
      const chosen = selectForClear(idx, all, scope);
      const keys = new Set(chosen.map(instanceKey));
      const touched = (ti: TaskInstanceRecord) => keys.has(instanceKey(ti));
      const taskIds = [...new Set(chosen.map((ti) => ti.taskId))];
      const before = audit ? await instanceStates(tx, runId, touched) : null;
      fx.abort(await clearTasks(tx, this.env, fx, runId, taskIds, false, undefined, audit?.actor ?? null, touched), new SluiceError("CANCELLED", "the task was cleared"));
      await fx.flush(tx, this.env);
      fx.notifyOthers = true;
      const run = (await tx.runs.get(runId))!;
      fx.watchTimeout(run);
      if (audit) {
        // a task cleared whole is one update; only a task cleared in part (a map index, only failed) goes by instance
        const whole = taskIds.filter((t) => all.filter((ti) => ti.taskId === t).every(touched));
        if (whole.length) await tx.taskInstances.setChangedBy(runId, whole, audit.actor);
        for (const ti of chosen) if (!whole.includes(ti.taskId)) await tx.taskInstances.setChangedBy(runId, [ti.taskId], audit.actor, ti.mapIndex);
        await audit(tx, { dagId: run.dagId, runId, before, after: await instanceStates(tx, runId, touched), target: describeTasks([...scope.taskIds], scope.downstream, scope.mapIndex) });
      }
      return chosen;
    });
    return outcome(value);
  }

  /** What `clearTasks` with this scope would clear now, changing nothing (the API's dry run, the UI's preview). */
  async previewClear(runId: string, scope: ClearScope): Promise<ClearOutcome> {
    const idx = await this.checkScope(runId, scope);
    return outcome(selectForClear(idx, await this.store.taskInstances.list(runId), scope));
  }

  /** The run's spec, when every named task (and the map index, if one) exists; TASK_NOT_FOUND otherwise. */
  private async checkScope(runId: string, scope: ClearScope) {
    const idx = await this.specs.of(runId);
    const unknown = scope.taskIds.filter((t) => !idx.byId.has(t));
    if (unknown.length) {
      throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task ${unknown.map((t) => `"${t}"`).join(", ")}`, { details: { runId, taskId: unknown[0] } });
    }
    const mapIndex = scope.mapIndex;
    if (mapIndex !== undefined) {
      // one map index (Airflow clears mapped instances one by one too): it must exist
      const tis = await this.store.taskInstances.list(runId);
      const missing = scope.taskIds.filter((t) => !tis.some((ti) => ti.taskId === t && ti.mapIndex === mapIndex));
      if (missing.length) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no instance of task "${missing[0]}" with map index ${mapIndex}`, { details: { runId, taskId: missing[0], mapIndex } });
    }
    return idx;
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
  async markTasks(runId: string, scope: MarkScope, audit?: AuditHook): Promise<MarkOutcome> {
    const idx = await this.checkScope(runId, { taskIds: [scope.taskId], downstream: false });
    const { value } = await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([runId]);
      const chosen = instancesToClear(idx.spec.tasks, await tx.taskInstances.list(runId), markScope(scope));
      const keys = new Set(chosen.map(instanceKey));
      const touched = (ti: TaskInstanceRecord) => keys.has(instanceKey(ti));
      const before = audit ? await instanceStates(tx, runId, touched) : null;
      let marked = 0;
      // the named task first, then its upstream or downstream tasks whole, in DAG order
      for (const taskId of [...new Set(chosen.map((ti) => ti.taskId))]) {
        const r = await markTasks(tx, this.env, fx, runId, taskId, scope.state, taskId === scope.taskId ? scope.mapIndex : undefined);
        fx.abort(r.aborted, new SluiceError("CANCELLED", `the task was marked ${scope.state}`));
        marked += r.marked;
      }
      await fx.flush(tx, this.env);
      await settleRunState(tx, this.env, fx, runId);
      // nothing marked (no such map index): the caller reports it; nothing changed, nothing to audit
      if (audit && marked > 0) {
        await tx.taskInstances.setChangedBy(runId, [scope.taskId], audit.actor, scope.mapIndex);
        const others = [...new Set(chosen.map((ti) => ti.taskId))].filter((t) => t !== scope.taskId);
        if (others.length) await tx.taskInstances.setChangedBy(runId, others, audit.actor);
        const run = (await tx.runs.get(runId))!;
        await audit(tx, { dagId: run.dagId, runId, before, after: await instanceStates(tx, runId, touched), target: describeTasks([scope.taskId], scope.downstream ?? false, scope.mapIndex) });
      }
      return { marked, chosen };
    });
    return { marked: value.marked, instances: changing(value.chosen, scope.state) };
  }

  /** What markTasks would change now: the instances not in `state` yet (a dry run, the UI's preview). */
  async previewMark(runId: string, scope: MarkScope): Promise<MarkOutcome> {
    const idx = await this.checkScope(runId, { taskIds: [scope.taskId], downstream: false });
    const chosen = instancesToClear(idx.spec.tasks, await this.store.taskInstances.list(runId), markScope(scope));
    return { marked: chosen.length, instances: changing(chosen, scope.state) };
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

/** What a clear changed (or would change): the task ids, and each instance with the state it had. */
export interface ClearOutcome {
  cleared: string[];
  instances: { taskId: string; mapIndex: number; state: string }[];
}

const instanceKey = (ti: { taskId: string; mapIndex: number }) => `${ti.taskId}\0${ti.mapIndex}`;

function outcome(chosen: readonly TaskInstanceRecord[]): ClearOutcome {
  return { cleared: [...new Set(chosen.map((ti) => ti.taskId))], instances: chosen.map((ti) => ({ taskId: ti.taskId, mapIndex: ti.mapIndex, state: ti.state })) };
}

/** Airflow's "mark success / failed / skipped": the task (one map index, or all), with its downstream and/or upstream tasks. */
export interface MarkScope {
  taskId: string;
  state: "success" | "failed" | "skipped";
  mapIndex?: number;
  downstream?: boolean;
  upstream?: boolean;
}

export interface MarkOutcome {
  /** Instances the scope matched (some may have been in the state already). */
  marked: number;
  /** The instances whose state changes, with the state they had. */
  instances: { taskId: string; mapIndex: number; state: string }[];
}

function markScope(m: MarkScope): ClearScope {
  return { taskIds: [m.taskId], downstream: m.downstream ?? false, upstream: m.upstream ?? false, ...(m.mapIndex !== undefined ? { mapIndex: m.mapIndex } : {}) };
}

function changing(chosen: readonly TaskInstanceRecord[], state: string): MarkOutcome["instances"] {
  return chosen.filter((ti) => ti.state !== state).map((ti) => ({ taskId: ti.taskId, mapIndex: ti.mapIndex, state: ti.state }));
}

/**
 * What a clear with `scope` clears (core/clearSelection.ts), with the setups those tasks need and the
 * setups' teardowns taken whole (core/setupTeardown.ts `clearSet`, Airflow's rule): a re-run has its
 * resource again and releases it. The clear and its preview both use this.
 */
function selectForClear(idx: SpecIndex, all: readonly TaskInstanceRecord[], scope: ClearScope): TaskInstanceRecord[] {
  const base = instancesToClear(idx.spec.tasks, all, scope);
  const baseTasks = new Set(base.map((ti) => ti.taskId));
  const needed = clearSet(idx.byId, [...baseTasks], false);
  const extra = all.filter((ti) => needed.has(ti.taskId) && !baseTasks.has(ti.taskId));
  if (extra.length === 0) return base;
  const order = new Map(idx.spec.tasks.map((t, i) => [t.id, i]));
  return [...base, ...extra].sort((a, b) => order.get(a.taskId)! - order.get(b.taskId)! || a.mapIndex - b.mapIndex);
}
