/**
 * One transition: a function run in one store transaction that records what it changed in an `Effects`
 * — task instances made ready, runs finished, attempts to abort, run timeouts to arm, other processes to
 * notify — and that the engine acts on once the transaction committed. Never before: a change rolled back
 * must wake, abort and finish nothing. Never twice: PostgreSQL runs the function again after a conflict,
 * so every try starts from fresh Effects. Every state change the engine makes goes through `run`.
 */
import { metrics, recording } from "../metrics/registry.js";
import type { Store, Tx, TxOptions } from "../store/store.js";
import type { RunSpecs } from "./runSpecs.js";
import type { RunTimeouts } from "./runTimeouts.js";
import { Deadlines } from "./deadlines.js";
import type { Signals } from "./signals.js";
import { Effects } from "./effects.js";
import { dependsOnPast } from "./pastDeps.js";
import { ruleDecides, type TransitionEnv } from "./transitions.js";

/**
 * Transitions that complete what a committed one could not confirm inside its transaction (engine/
 * recovery): counts that other transactions brought to zero or to a decision meanwhile.
 */
export interface FollowUps {
  reconcile(runId: string, taskIds: string[]): Promise<void>;
  finishRunIfDone(runId: string): Promise<void>;
}

export interface TransitionDeps {
  store: Store;
  env: TransitionEnv;
  specs: RunSpecs;
  signals: Signals;
  timeouts: RunTimeouts;
  /** Asset events were recorded: evaluate asset-scheduled DAGs (engine/triggers). */
  assetEventsRecorded(): void;
  followUps: FollowUps;
  /** Deadlines of runs that end (a late end is a miss), and the timer of the next one. */
  deadlines: Deadlines;
  /** Callbacks were written by a commit of this process: run them (engine/callbacks.ts). */
  callbacksDue(): void;
}

export class Transitions {
  constructor(private readonly deps: TransitionDeps) {}

  /**
   * Run `fn` in one transaction: whatever it left unwritten in `fx` is flushed, other processes are
   * notified if it asked (`fx.notifyOthers`; the NOTIFY is delivered with the COMMIT, and a failure of it
   * fails the COMMIT, so nothing waits for its answer), and after the commit its effects are acted on.
   * Returns `fn`'s value and the effects of the try that committed.
   */
  async run<T>(fn: (tx: Tx, fx: Effects) => Promise<T>, opts: TxOptions = {}): Promise<{ value: T; fx: Effects }> {
    let fx = new Effects();
    const value = await this.deps.store.tx(async (tx) => {
      fx = new Effects(); // a transaction may run again (PostgreSQL conflicts): start afresh
      const out = await fn(tx, fx);
      // only when fn left writes: an await more on every settle cost ~0.1 ms per chained task on SQLite
      // (chain-1000 p50 1.20 -> 1.10 ms, fanout-10000 4,150 -> 4,520 tasks/s, interleaved runs)
      if (fx.unflushed) await fx.flush(tx, this.deps.env);
      // callbacks are written with the change that makes them due (decision 0019); only ends of runs and
      // of tasks with callbacks get here, so a DAG without any costs no query
      if (fx.finishedRuns.size > 0 || fx.callbacks.length > 0) await this.dueCallbacks(tx, fx);
      if (fx.notifyOthers) void tx.notifyWake();
      return out;
    }, opts);
    this.afterCommit(fx);
    return { value, fx };
  }

  /**
   * The metrics of what a committed group finished, by DAG: a few increments per group, not per task. The
   * DAG comes from the run's spec, at hand for every run a settle touched; a cancel in a process that never
   * loaded the run's spec looks it up once, after the commit.
   */
  private count(fx: Effects): void {
    const byRun = (runId: string, inc: (dagId: string) => void) => {
      const idx = this.deps.specs.cached(runId);
      if (idx) inc(idx.spec.id);
      else void this.deps.specs.of(runId).then((i) => inc(i.spec.id), () => undefined);
    };
    for (const [runId, state] of fx.finishedRuns) byRun(runId, (dag) => metrics.runsFinished.inc({ dag, state }));
    for (const m of fx.deadlineMisses) byRun(m.runId, (dag) => metrics.deadlineMisses.inc({ dag }));
    for (const [runId, byState] of fx.finishedTis) {
      byRun(runId, (dag) => {
        for (const [state, n] of byState) metrics.taskInstancesFinished.inc({ dag, state }, n);
      });
    }
  }

  /**
   * The callbacks of runs this transaction ended, their deadlines (ended after one: a miss), and every
   * callback made due, written before COMMIT. A run whose spec cannot be read has none (it fails as
   * CORRUPT_ROW elsewhere).
   */
  private async dueCallbacks(tx: Tx, fx: Effects): Promise<void> {
    for (const [runId, state] of fx.finishedRuns) {
      const idx = this.deps.specs.cached(runId) ?? (await this.deps.specs.inTx(tx, runId).catch(() => null));
      if (!idx) continue;
      if (idx.spec.callbacks) fx.callbackDue(idx.spec.callbacks, { runId, taskId: "", mapIndex: -1, tryNumber: 0 }, state === "failed" ? "failure" : "success");
      if (Deadlines.has(idx)) await this.deps.deadlines.checkRun(tx, fx, idx, runId);
    }
    if (fx.callbacks.length > 0) {
      await tx.callbacks.enqueue(fx.callbacks);
      fx.notifyOthers = true;
    }
  }

  private afterCommit(fx: Effects): void {
    const { signals, timeouts, specs, followUps } = this.deps;
    if (fx.callbacks.length > 0) this.deps.callbacksDue();
    if (fx.nextDeadline !== null) this.deps.deadlines.arm(fx.nextDeadline);
    for (const a of fx.aborts) signals.abort(a.attemptIds, a.reason);
    // fan-in counters added to without waiting that other writers completed meanwhile: decide them
    for (const bumped of fx.unconfirmedBumps) {
      void bumped.then(async (rows) => {
        const decide = new Map<string, Set<string>>();
        for (const ti of rows) {
          if (!ruleDecides(await specs.of(ti.runId), ti)) continue;
          if (!decide.has(ti.runId)) decide.set(ti.runId, new Set());
          decide.get(ti.runId)!.add(ti.taskId);
        }
        for (const [runId, taskIds] of decide) await followUps.reconcile(runId, [...taskIds]);
      }).catch(() => undefined); // the stall sweep (recoverLostAttempts) decides them in the end
    }
    // a count written without waiting that another writer brought to zero meanwhile: finish that run
    for (const counts of fx.unconfirmed) {
      void counts.then((left) => {
        for (const [runId, n] of left) if (n <= 0 && !fx.finishedRuns.has(runId)) void followUps.finishRunIfDone(runId).catch(() => undefined); // the sweep finishes it then
      }, () => undefined);
    }
    for (const [runId, state] of fx.finishedRuns) {
      timeouts.disarm(runId);
      signals.runFinished(runId, state);
    }
    if (recording.on && (fx.finishedRuns.size > 0 || fx.finishedTis.size > 0 || fx.deadlineMisses.length > 0)) this.count(fx);
    for (const run of fx.timed) timeouts.watch(run);
    // `satisfied`: a worker that just claimed everything it could see needs no wake-up from its own commit
    if (fx.readyRuns.size > 0 || fx.nextRetryAt !== null || fx.wakeWorkers) signals.wake(fx.satisfied);
    if (fx.assetEvents > 0) this.deps.assetEventsRecorded();
    if (fx.pastHeld.length > 0 || fx.finishedTis.size > 0) this.pastFollowUps(fx);
  }

  /**
   * Depending on the past (engine/pastDeps.ts), after commit: an instance newly held looks at the previous
   * run once more (it may have ended while this transaction ran), and a run of a DAG with such tasks
   * whose instances ended successful or skipped wakes the instances waiting on it. A DAG without
   * dependsOnPast costs a map lookup per run here, no query.
   */
  private pastFollowUps(fx: Effects): void {
    const { followUps, specs, store } = this.deps;
    for (const h of fx.pastHeld) void followUps.reconcile(h.runId, [h.taskId]).catch(() => undefined);
    for (const [runId, byState] of fx.finishedTis) {
      if (!byState.has("success") && !byState.has("skipped")) continue;
      const cached = specs.cached(runId);
      if (cached && !dependsOnPast(cached)) continue; // the common case: no promise, no query
      void (async () => {
        const idx = specs.cached(runId) ?? (await specs.of(runId));
        if (!dependsOnPast(idx)) return;
        for (const [waiting, taskIds] of await store.pastWaits.waitersOf(runId)) await followUps.reconcile(waiting, taskIds);
      })().catch(() => undefined);
    }
  }
}
