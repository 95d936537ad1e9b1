/**
 * The deadline checker (decision 0019). Each active run keeps its next deadline to check in the store
 * (`runs.deadline_at`); this process arms one timer, for the earliest it knows of, and at it handles every
 * run whose deadline has come (the store's clock; served by a partial index, never a scan of all runs). A
 * miss is a row with a unique key, inserted in the transaction that writes the miss's callbacks: many
 * schedulers noticing it at once still fire them once. A run's end checks its deadlines too (finished
 * after one: a miss), in the transaction that ends it.
 *
 * Every long-running process sweeps (`Engine.sweep`), so a deadline is met even when the process that
 * armed its timer is gone.
 */
import type { Clock } from "../core/clock.js";
import { checkDeadlines, type DeadlineSpec } from "../core/deadlines.js";
import { FINISHED_RUN_STATES, FINISHED_TASK_STATES } from "../core/states.js";
import type { Store, Tx } from "../store/store.js";
import type { Effects } from "./effects.js";
import type { RunSpecs } from "./runSpecs.js";
import type { SpecIndex } from "./specIndex.js";
import type { Transitions } from "./transaction.js";

export class Deadlines {
  private timer: { at: number; cancel: () => void } | null = null;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly specs: RunSpecs,
    private readonly transitions: () => Transitions,
  ) {}

  /** Whether a DAG version has deadlines at all (most have none: their runs' ends check nothing). */
  static has(idx: SpecIndex): boolean {
    return idx.spec.deadline !== undefined || idx.deadlineTasks.length > 0;
  }

  /** The deadlines of a spec that a new run's first check is computed from. */
  static of(idx: SpecIndex): DeadlineSpec[] {
    return [...(idx.spec.deadline ? [idx.spec.deadline] : []), ...idx.deadlineTasks.map((t) => t.deadline!)];
  }

  /**
   * Check one run's deadlines in `tx` (which holds its lock): record the misses this transaction is the
   * first to see, with their callbacks due, and write the run's next deadline to check.
   */
  async checkRun(tx: Tx, fx: Effects, idx: SpecIndex, runId: string): Promise<void> {
    const run = await tx.runs.get(runId);
    if (!run) return;
    const finished = FINISHED_RUN_STATES.has(run.state);
    const tis = idx.deadlineTasks.length ? await tx.taskInstances.getMany(runId, idx.deadlineTasks.map((t) => t.id)) : [];
    const now = tx.now();
    const { missed, next } = checkDeadlines(
      { deadline: idx.spec.deadline ?? null, logicalDate: run.logicalDate, queuedAt: run.createdAt, finished, endedAt: run.endedAt },
      idx.deadlineTasks.map((t) => ({ id: t.id, deadline: t.deadline! })),
      tis.map((t) => ({ taskId: t.taskId, mapIndex: t.mapIndex, finished: FINISHED_TASK_STATES.has(t.state), startedAt: t.startedAt, endedAt: t.endedAt })),
      now,
    );
    for (const m of missed) {
      if (!(await tx.deadlines.record({ runId, taskId: m.taskId, mapIndex: m.mapIndex, deadlineAt: m.deadlineAt, missedAt: now }))) continue;
      const names = m.taskId === "" ? idx.spec.callbacks : idx.byId.get(m.taskId)?.callbacks;
      fx.callbackDue(names, { runId, taskId: m.taskId, mapIndex: m.mapIndex, tryNumber: 0 }, "deadline_miss");
      fx.deadlineMisses.push({ runId, taskId: m.taskId });
    }
    if (!finished && next !== run.deadlineAt) await tx.deadlines.setNext(runId, next);
    if (!finished && next !== null) fx.deadlineAt(next);
  }

  /**
   * Handle every active run whose next deadline has come, then arm the timer for the earliest still ahead.
   * Each run in its own transaction: one run's trouble does not hold back the others' misses.
   */
  async sweep(): Promise<number> {
    let misses = 0;
    for (;;) {
      const { due, next } = await this.store.deadlines.due(100);
      for (const runId of due) {
        const idx = await this.specs.of(runId).catch(() => null);
        if (!idx) continue; // its spec cannot be read: the run fails elsewhere (CORRUPT_ROW)
        const { fx } = await this.transitions().run(async (tx, fx) => {
          await tx.lockRuns([runId]);
          await this.checkRun(tx, fx, idx, runId);
        });
        misses += fx.deadlineMisses.length;
      }
      if (due.length < 100) {
        if (next !== null) this.arm(next);
        return misses;
      }
    }
  }

  /** A deadline to come (a run created here, a task started here): the timer goes off at it, if it is the earliest. */
  arm(at: number): void {
    if (this.closed || (this.timer && this.timer.at <= at)) return;
    this.timer?.cancel();
    // at most an hour ahead: a longer wait would overflow setTimeout (24.8 days: it then fires at once),
    // and an early wake-up only finds nothing due and arms again
    const cancel = this.clock.setTimer(Math.min(at - this.clock.now(), 3_600_000), () => {
      this.timer = null;
      void this.sweep().catch(() => undefined); // the next sweep of Engine.sweep tries again
    });
    this.timer = { at, cancel };
  }

  /** A task with a deadline from its start has started (claimed here): its run's next check comes no later than that. */
  async started(runId: string, at: number): Promise<void> {
    await this.store.deadlines.lower(runId, at);
    this.arm(at);
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = null;
  }
}
