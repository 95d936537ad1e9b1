/**
 * What a group of transitions changed (engine/transitions), collected while they run in one transaction:
 * the task instance writes and counter changes `flush` sends, and what to act on once the transaction
 * committed (engine/transaction) — runs made ready or finished, attempts to abort, timeouts to arm.
 */
import type { RunState } from "../core/states.js";
import type { CallbackEvent, CallbackNames } from "../core/callbacks.js";
import type { SluiceError } from "../errors.js";
import type { AttemptEnd, NewCallback, RunRecord, TaskInstanceRecord, TiBump, Tx } from "../store/store.js";
import { TaskInstanceCache } from "./taskInstanceCache.js";
import { applyBumped, finishRun, ruleDecides, type TransitionEnv } from "./transitions.js";

/** What a group of transitions changed, for waking workers and waiters after commit. */
export class Effects {
  /** Runs that got newly claimable task instances. */
  readonly readyRuns = new Set<string>();
  /** The task instances (runId\0taskId\0mapIndex) this group made ready to run now. */
  readonly readyTis = new Set<string>();

  ready(runId: string, taskId: string, mapIndex: number): void {
    this.readyRuns.add(runId);
    this.readyTis.add(`${runId}\0${taskId}\0${mapIndex}`);
  }
  readonly finishedRuns = new Map<string, RunState>();
  /** Earliest retry time set, if any. */
  nextRetryAt: number | null = null;
  /** Attempts whose results were dropped because they were fenced out. */
  readonly fenced: number[] = [];
  /** Sensors' attempts that a poke's result ended in the engine (timeout): how they ended, for progress events. */
  readonly pokeEnds = new Map<number, AttemptEnd>();
  /** Asset events recorded by this group: asset-scheduled DAGs are evaluated after commit. */
  assetEvents = 0;
  /** Attempts the workers must abort once this group commits, with the reason they are given. */
  readonly aborts: { attemptIds: number[]; reason: SluiceError }[] = [];
  /** Active runs whose run timeout this process arms once this group commits (created, cleared, started). */
  readonly timed: RunRecord[] = [];
  /** NOTIFY other processes with the COMMIT (PostgreSQL): work may be ready, or a run may have ended. */
  notifyOthers = false;
  /** Wake this process's workers after commit even when no task instance was made ready here (new runs). */
  wakeWorkers = false;
  /** A worker that claimed all it could in this group (Settler.settle): the wake-up after commit skips it. */
  satisfied: string | null = null;
  /**
   * Task instances this group brought to a final state, by run and state: counted into the metrics once
   * the group committed (engine/transaction), never for a try that rolled back. Nested maps: no key string
   * is built per task instance.
   */
  readonly finishedTis = new Map<string, Map<string, number>>();

  finishedTi(runId: string, state: string): void {
    let byState = this.finishedTis.get(runId);
    if (!byState) this.finishedTis.set(runId, (byState = new Map<string, number>()));
    byState.set(state, (byState.get(state) ?? 0) + 1);
  }

  /**
   * Callbacks this group made due (decision 0019), written in its transaction just before COMMIT
   * (engine/callbacksDue.ts); empty unless a task with callbacks changed state.
   */
  readonly callbacks: NewCallback[] = [];

  /** The callbacks of `names` (a task's or the run's) for `event` fell due; a no-op when there are none. */
  callbackDue(names: CallbackNames | undefined, at: { runId: string; taskId: string; mapIndex: number; tryNumber: number }, event: CallbackEvent): void {
    const list = names?.[event];
    if (!list) return;
    list.forEach((name, position) => this.callbacks.push({ ...at, event, position, name }));
  }

  /** Task instances this group newly held back by the past (engine/pastDeps.ts): looked at once more after commit. */
  readonly pastHeld: { runId: string; taskId: string }[] = [];

  /** Deadlines this group recorded as missed (engine/deadlines.ts). */
  readonly deadlineMisses: { runId: string; taskId: string }[] = [];
  /** The earliest deadline to come that this group wrote for a run: this process arms its timer after commit. */
  nextDeadline: number | null = null;

  deadlineAt(at: number): void {
    if (this.nextDeadline === null || at < this.nextDeadline) this.nextDeadline = at;
  }

  /** Task instance reads and writes of this group, written once by `flush`. */
  readonly tis = new TaskInstanceCache((runId, state) => this.finishedTi(runId, state));
  /** Unfinished-count changes per run, applied once per group by `flush`. */
  private readonly unfinished = new Map<string, number>();
  /** In-place changes of fan-in task instances of runs this transaction does not own, by run\0task. */
  private readonly bumps = new Map<string, TiBump & { skipMode: "skip_all" | "rules" }>();
  /**
   * Runs' counts written without waiting for them (a run that seemed far from done): the caller looks at
   * them once the transaction committed, and finishes a run that another writer left at zero meanwhile.
   */
  readonly unconfirmed: Promise<Map<string, number>>[] = [];
  /**
   * Fan-in task instances counted into without waiting (their rules seemed to say "wait"): the caller
   * looks at what they added up to once the transaction committed, and decides those whose rule now
   * decides them (counts of other transactions joined in meanwhile) — `Recovery.reconcile`.
   */
  readonly unconfirmedBumps: Promise<TaskInstanceRecord[]>[] = [];
  /**
   * Fan-in task instances as a read without their locks saw them (Settler.settle reads them ahead), by
   * run\0task: to foresee whether counting into them decides them. Never written back.
   */
  readonly foreseen = new Map<string, TaskInstanceRecord[]>();

  addUnfinished(runId: string, delta: number): void {
    this.unfinished.set(runId, (this.unfinished.get(runId) ?? 0) + delta);
  }

  /**
   * Count upstream ends into the waiting instances of a fan-in task, or (`skip`) skip them, in place
   * (`Tx.bumpTaskInstances`); `flush` applies their trigger rules to what they add up to.
   */
  bump(runId: string, taskId: string, add: TiBump["add"], skip: "skip_all" | "rules" | null = null): void {
    const k = `${runId}\0${taskId}`;
    let b = this.bumps.get(k);
    if (!b) this.bumps.set(k, (b = { runId, taskId, add: {}, skip: false, skipMode: "rules" }));
    for (const [c, n] of Object.entries(add) as [keyof TiBump["add"], number][]) b.add[c] = (b.add[c] ?? 0) + n;
    if (skip) {
      b.skip = true;
      if (skip === "skip_all") b.skipMode = "skip_all";
    }
  }

  abort(attemptIds: readonly number[], reason: SluiceError): void {
    if (attemptIds.length > 0) this.aborts.push({ attemptIds: [...attemptIds], reason });
  }

  watchTimeout(run: RunRecord): void {
    this.timed.push(run);
  }

  retryAt(at: number): void {
    if (this.nextRetryAt === null || at < this.nextRetryAt) this.nextRetryAt = at;
  }

  /**
   * Whether these in-place changes leave every instance they touch waiting, as far as the rows read ahead
   * tell: then nothing here depends on their outcome. Skips, unknown rows and foreseen decisions: no.
   */
  private async allWait(env: TransitionEnv, bumps: readonly TiBump[]): Promise<boolean> {
    for (const b of bumps) {
      if (b.skip) return false;
      const counted = (b.add.nSuccess ?? 0) + (b.add.nFailed ?? 0) + (b.add.nSkipped ?? 0);
      if (counted === 0) continue; // more upstream instances to wait for (an expansion): decides nothing
      const rows = this.foreseen.get(`${b.runId}\0${b.taskId}`);
      if (!rows) return false;
      const idx = await env.specFor(b.runId);
      for (const r of rows) {
        const next = {
          ...r,
          nUpstream: r.nUpstream + (b.add.nUpstream ?? 0),
          nSuccess: r.nSuccess + (b.add.nSuccess ?? 0),
          nFailed: r.nFailed + (b.add.nFailed ?? 0),
          nUpstreamFailed: r.nUpstreamFailed + (b.add.nUpstreamFailed ?? 0),
          nSkipped: r.nSkipped + (b.add.nSkipped ?? 0),
        };
        if (ruleDecides(idx, next)) return false;
      }
    }
    return true;
  }

  /** Whether `flush` has anything to write: task instance changes, fan-in counters or run counts. */
  get unflushed(): boolean {
    if (this.tis.pending || this.bumps.size > 0) return true;
    for (const d of this.unfinished.values()) if (d !== 0) return true;
    return false;
  }

  /** Issue the pending task instance writes now, without waiting (their failure fails the COMMIT). */
  sendWrites(tx: Tx): void {
    tx.taskInstances.writeChanges(this.tis.take()).catch(() => undefined);
  }

  /**
   * Write the changes and what follows from them; finish runs that have nothing left. Fan-in counters are
   * added to last (their rows stay locked until COMMIT) and their trigger rules applied to the sums, which
   * may make more changes. A run's count is waited for only when it may reach zero here — always known
   * for a run this transaction owns; for another, a count that another writer brought to zero meanwhile
   * shows in `unconfirmed`.
   */
  async flush(tx: Tx, env: TransitionEnv): Promise<void> {
    for (;;) {
      this.sendWrites(tx);
      if (this.bumps.size === 0) break;
      const bumps = [...this.bumps.values()];
      this.bumps.clear();
      if (await this.allWait(env, bumps)) {
        // the rows stay locked from here to COMMIT, which this write travels with (no round trip of its own)
        const rows = tx.taskInstances.bump(bumps, tx.now());
        rows.catch(() => undefined); // a failure fails the transaction's COMMIT
        this.unconfirmedBumps.push(rows);
        break;
      }
      await applyBumped(tx, env, this, bumps, await tx.taskInstances.bump(bumps, tx.now()));
    }
    const deltas = new Map([...this.unfinished].filter(([, d]) => d !== 0));
    this.unfinished.clear();
    if (deltas.size === 0) return;
    const counts = tx.runs.addUnfinishedMany(deltas);
    if ([...deltas.keys()].every((runId) => (tx.knownRun(runId)?.unfinished ?? 0) > 0)) {
      counts.catch(() => undefined); // a failure fails the transaction's COMMIT
      this.unconfirmed.push(counts);
      return;
    }
    const left = await counts;
    for (const runId of deltas.keys()) {
      if ((left.get(runId) ?? 1) > 0) continue;
      await finishRun(tx, env, this, runId);
    }
  }
}
