/**
 * Recovery: what brings runs to an end when the transactions and processes that should have did not —
 * fan-in task instances and runs whose counts concurrent transactions completed (each thinking another was
 * left), runs stalled with nothing able to run, and attempts whose worker died or stopped heartbeating.
 * The scheduler and `sluice runs resume` sweep with `recoverLostAttempts`; the engine's own transitions
 * call `reconcile` and `finishRunIfDone` right after committing (engine/transaction, FollowUps).
 */
import type { Clock } from "../core/clock.js";
import type { Store } from "../store/store.js";
import type { AttemptResult, ClaimRequest } from "../worker/worker.js";
import type { RunSpecs } from "./runSpecs.js";
import type { FollowUps, Transitions } from "./transaction.js";
import { decideWaiting, failRun, finishRun, type TransitionEnv } from "./transitions.js";

export class Recovery implements FollowUps {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly env: TransitionEnv,
    private readonly specs: RunSpecs,
    private readonly transitions: Transitions,
    /** Records attempt ends (engine/settle): a lost attempt ends as any other. */
    private readonly settle: (results: AttemptResult[], claim: ClaimRequest | null) => Promise<unknown>,
    /** Workers' lease (config leaseMs): a worker silent for two leases with nothing running is buried. */
    private readonly leaseMs: number,
    /** The ids of this process's workers (worker.ts's localWorkers): alive, whatever their pid suggests. */
    private readonly localWorkers: { has(workerId: string): boolean },
  ) {}

  /**
   * Decide fan-in task instances whose counters other transactions completed meanwhile (Effects.
   * unconfirmedBumps): lock them, apply their trigger rules, cascade — as their deciding settle would have.
   */
  async reconcile(runId: string, taskIds: string[]): Promise<void> {
    await this.transitions.run(async (tx, fx) => {
      await tx.runRows([runId]);
      await decideWaiting(tx, this.env, fx, await tx.taskInstances.lockWaiting(runId, taskIds));
      await fx.flush(tx, this.env);
      if (fx.readyRuns.size > 0 || fx.finishedRuns.size > 0 || fx.nextRetryAt !== null) fx.notifyOthers = true;
    }, { lockRuns: [runId], runLock: "key share" });
  }

  /**
   * A stalled run (Store.runs.stalled): under its lock, apply the rules of its waiting fan-in task
   * instances to their counters. A run whose count says unfinished but whose task instances have all
   * ended is finished. One that still has nothing to do after that can never end by itself: it fails,
   * with a reason that says so (Airflow: "Deadlock; marking run failed").
   */
  async unstall(runId: string): Promise<void> {
    const idx = await this.specs.of(runId);
    await this.transitions.run(async (tx, fx) => {
      await tx.runRows([runId]); // FOR UPDATE: the run's only writer
      if (!(await tx.runs.isStalled(runId))) return;
      const decided = await decideWaiting(tx, this.env, fx, await tx.taskInstances.lockWaiting(runId, [...idx.fanIn]));
      await fx.flush(tx, this.env);
      if (decided === 0 && fx.finishedRuns.size === 0) {
        if ((await tx.runs.recountUnfinished(runId)) === 0) await finishRun(tx, this.env, fx, runId);
        else {
          await failRun(tx, fx, runId, "stalled: no task of the run can run any more (its unfinished tasks wait for upstream tasks that will not end)", "STALLED");
          fx.finishedRuns.set(runId, "failed");
        }
      }
      fx.notifyOthers = true;
    });
  }

  /**
   * Finish a run whose last task instances finished in transactions that each thought another one was
   * left (settles of one run run side by side; Effects.unconfirmed) — or whose finishing transaction's
   * process died right after committing (the sweep in `recoverLostAttempts`).
   */
  async finishRunIfDone(runId: string): Promise<void> {
    await this.transitions.run(async (tx, fx) => {
      await tx.runRows([runId]); // FOR UPDATE: the run's only writer
      const run = tx.knownRun(runId);
      if (!run || run.unfinished > 0 || (run.state !== "running" && run.state !== "queued")) return;
      await finishRun(tx, this.env, fx, runId);
      fx.notifyOthers = true;
    });
  }

  /**
   * Attempts whose worker is gone get a new attempt (counted against retries): on SQLite, workers on this
   * host whose process is dead are detected at once; others (and every worker on PostgreSQL) when their
   * lease expires — a crash before the first heartbeat included, since a claim sets the lease.
   */
  async recoverLostAttempts(): Promise<number> {
    for (const runId of await this.store.runs.withNothingLeft()) await this.finishRunIfDone(runId);
    for (const runId of await this.store.runs.stalled()) await this.unstall(runId);
    // dependsOnPast (engine/pastDeps.ts): waits whose previous run ended without waking them
    for (const [runId, taskIds] of await this.store.pastWaits.onEndedRuns()) await this.reconcile(runId, taskIds);
    const recovered = await this.failLostAttempts();
    // PostgreSQL: workers silent for two leases whose attempts are gone stop counting (store/claims.ts)
    await this.store.workers.buryStale(2 * this.leaseMs);
    return recovered;
  }

  private async failLostAttempts(): Promise<number> {
    const dead: string[] = [];
    // SQLite is one host's: a worker whose pid is gone is dead at once. On PostgreSQL workers run on many
    // hosts (and containers reuse pids and hostnames): only lease expiry, in database time, counts.
    if (this.store.dialect === "sqlite") for (const w of await this.store.workers.listRunningOnHost()) {
      const alive = w.pid === process.pid ? this.localWorkers.has(w.workerId) : processAlive(w.pid);
      if (!alive) dead.push(w.workerId);
    }
    await this.store.workers.markDead(dead);
    // This process's own workers are alive by definition: a CPU-bound task that blocked the event loop
    // past the lease must not be failed by its own process's sweep (the heartbeat renews it next).
    const lost = (await this.store.attempts.listLost(dead)).filter((l) => !this.localWorkers.has(l.workerId));
    if (lost.length === 0) return 0;
    // Load their specs first: inside settle's transaction a cache miss would query the store through its
    // one connection, which the transaction holds, and wait forever (`runs resume` exited 0 doing nothing).
    for (const runId of new Set(lost.map((l) => l.runId))) await this.specs.of(runId);
    const now = this.clock.now();
    await this.settle(
      lost.map((l) => ({
        attemptId: l.attemptId,
        state: "failed" as const,
        endedAt: now,
        errorCode: "WORKER_LOST",
        errorMessage: "the worker running this attempt died or stopped heartbeating",
        retryNow: true,
      })),
      null,
    );
    return lost.length;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
