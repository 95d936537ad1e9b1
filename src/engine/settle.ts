/**
 * Settling: the ends of attempts workers report are recorded, and what follows from them applied
 * (engine/transitions), in the same transaction that claims the worker's next attempts — group commit on
 * the hot path. On PostgreSQL that is two round trips (decision 0013): BEGIN, the run locks, the ends, the
 * task instances they touch and the claim's reads in one; the writes, the new attempts and COMMIT in the
 * other.
 */
import type { ClaimedAttempt, EndedAttempt, Store } from "../store/store.js";
import { quiet } from "../store/store.js";
import type { AttemptResult, ClaimRequest } from "../worker/worker.js";
import type { RunSpecs } from "./runSpecs.js";
import type { Signals } from "./signals.js";
import type { Transitions } from "./transaction.js";
import { applyAttemptResults, attemptEnds, failRun, type TransitionEnv } from "./transitions.js";
import { FINISHED_RUN_STATES, type RunState } from "../core/states.js";
import { perIndex } from "../core/mapGroups.js";
import { SluiceError, toSluiceError } from "../errors.js";
import { processLog } from "../logs/processLog.js";

export class Settler {
  /** Attempts claimed through this engine and not yet ended: their runs and tasks, for progress events. */
  private readonly live = new Map<number, ClaimedAttempt>();
  /** Poison runs already reported on stderr. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly env: TransitionEnv,
    private readonly specs: RunSpecs,
    private readonly signals: Signals,
    private readonly transitions: Transitions,
    /** A task with a deadline from its start was claimed (engine/deadlines.ts): its run's next check. */
    private readonly startedWithDeadline: (runId: string, at: number) => Promise<void>,
  ) {}

  /** Record ends (group commit) and claim the next work in the same transaction. */
  async settle(all: AttemptResult[], claim: ClaimRequest | null): Promise<ClaimedAttempt[]> {
    // the runs these results belong to, when known: locked first, in one order (PostgreSQL)
    const runIds = [...new Set(all.flatMap((r) => this.live.get(r.attemptId)?.runId ?? []))];
    // Every run's spec at hand before the transaction: a miss inside it would query through the connection
    // the transaction holds (SQLite: wait forever, the worker wedged). A run whose spec cannot be read (its
    // DAG version is not in the database, a poison row) fails with CORRUPT_ROW, and nothing else does.
    const poisoned = await this.unreadable(runIds);
    const results = poisoned.size ? all.filter((r) => !poisoned.has(this.live.get(r.attemptId)!.runId)) : all;
    const ends = attemptEnds(results);
    const ahead = this.readAhead(results);
    let notLive = false;
    const { value: { claimed }, fx } = await this.transitions.run(async (tx, fx) => {
      // issued together; each marked handled, since a failure of one leaves the others unread
      const runs = quiet(tx.runRows(runIds));
      const ended = quiet(ends.length ? tx.attempts.endMany(ends) : Promise.resolve(new Map<number, EndedAttempt>()));
      const rows = [...ahead].map(([runId, taskIds]) => quiet(tx.taskInstances.getMany(runId, taskIds)));
      const reads = claim ? tx.sendClaimReads(claim) : null;
      await runs;
      for (const [i, [runId, taskIds]] of [...ahead].entries()) {
        // fan-in rows only foresee whether counting into them decides them; the others are read to write
        const idx = this.specs.cached(runId)!;
        const read = await rows[i]!;
        fx.tis.prime(runId, taskIds.filter((t) => !idx.fanIn.has(t)), read);
        for (const t of taskIds) if (idx.fanIn.has(t)) fx.foreseen.set(`${runId}\0${t}`, read.filter((r) => r.taskId === t));
      }
      for (const [runId, reason] of poisoned) {
        // its attempts (the ones reported here among them) end with the run
        const state = tx.knownRun(runId)?.state;
        if (state === undefined || FINISHED_RUN_STATES.has(state as RunState)) continue;
        fx.abort(await failRun(tx, fx, runId, reason, "CORRUPT_ROW"), new SluiceError("CORRUPT_ROW", reason));
        fx.finishedRuns.set(runId, "failed");
        fx.notifyOthers = true;
      }
      await applyAttemptResults(tx, this.env, fx, results, ended);
      // what this transaction made ready is claimable by it at once (a chain's next task: no wake-up)
      const chosen = claim ? await tx.chooseClaims(claim, reads, fx.tis.current(fx.readyTis)) : [];
      notLive = reads?.notLive === true;
      const readyAtChoice = fx.readyTis.size;
      // the writes and the new attempts go out together; fan-in counters last (their rows stay locked until
      // COMMIT); the NOTIFY and the COMMIT with them
      fx.sendWrites(tx);
      const got = claim ? tx.claimChosen(claim, chosen, tx.now()) : { claimed: Promise.resolve([]), chosen: [] };
      await fx.flush(tx, this.env);
      /** Work made ready after the claim chose its rows (a fan-in task decided on its sums): not claimed here. */
      const readyLate = fx.readyTis.size > readyAtChoice;
      // NOTIFY (delivered at commit) only when another process may have something to do: a run ended
      // (its waiters), a retry is due later, or work became ready that this claim did not take. A chain's
      // next task, claimed right here, would otherwise wake every other worker into an empty claim that
      // contends with this worker's next settle.
      // A worker serving some queues only (`sluice worker` serves "default") cannot know that it saw
      // everything, but when it claimed every task instance this group made ready, there is nothing new.
      const tookAll = claim !== null && !readyLate && ((got.chosen.length < claim.limit && sawEverything(claim)) || claimedAll(fx.readyTis, got.chosen));
      if ((fx.readyRuns.size > 0 && !tookAll) || fx.finishedRuns.size > 0 || fx.nextRetryAt !== null) fx.notifyOthers = true;
      // a worker that took less than it asked for saw all it could claim: its own wake-up would find nothing
      if (claim && got.chosen.length < claim.limit && !readyLate) fx.satisfied = claim.workerId;
      return { claimed: got.claimed }; // wrapped: returning the promise itself would wait for it before the COMMIT is sent
    }, { lockRuns: runIds, runLock: "key share" }); // settles and claims of one run go on side by side (Tx.runLock)
    const got = await claimed; // answered before the COMMIT
    // buried by a sweep while it was alive (a long pause): it counts again, and claims at its next settle
    if (notLive && claim) {
      await this.store.workers.revive(claim.workerId);
      this.signals.wake(null);
    }
    if (this.signals.observingAttempts) {
      for (const r of results) {
        const a = this.live.get(r.attemptId);
        // a sensor's poke that timed it out ended its attempt in the engine: report that end
        if (a && !fx.fenced.includes(r.attemptId)) this.signals.attempt({ kind: "ended", attempt: a, result: fx.pokeEnds.get(r.attemptId) ?? r });
      }
      for (const a of got) this.signals.attempt({ kind: "started", attempt: a });
    }
    for (const r of all) this.live.delete(r.attemptId);
    for (const a of got) {
      this.live.set(a.attemptId, a);
      // in memory: a DAG without task deadlines looks at nothing more
      const idx = this.specs.cached(a.runId);
      if (!idx?.deadlineTasks.length) continue;
      const d = idx.byId.get(a.taskId)?.deadline;
      if (d?.kind === "start") await this.startedWithDeadline(a.runId, this.store.now() + d.withinMs).catch(() => undefined); // the run's own checks still come
    }
    return got;
  }

  /** Runs whose spec cannot be loaded, with the reason (logged once per run by this process). */
  private async unreadable(runIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const runId of runIds) {
      if (this.specs.cached(runId)) continue;
      try {
        await this.specs.of(runId);
      } catch (e) {
        const reason = `run "${runId}" cannot be interpreted: ${toSluiceError(e).message}`;
        if (!this.reported.has(runId)) processLog("stderr").error(`error [CORRUPT_ROW]: ${reason}; failing the run, the others go on`, { event: "corrupt run", code: "CORRUPT_ROW", runId, error: reason });
        this.reported.add(runId);
        out.set(runId, reason);
      }
    }
    return out;
  }

  /**
   * The task instances settling these results will read, by run: the direct downstream tasks of each
   * ended task (fan-in ones to foresee their rules, Effects.foreseen) and a sensor's own row. Read in the
   * settle's first round trip; only runs whose spec is at hand (their attempts were claimed here), so
   * that nothing is looked up inside the transaction.
   */
  private readAhead(results: readonly AttemptResult[]): Map<string, string[]> {
    const out = new Map<string, Set<string>>();
    for (const r of results) {
      const a = this.live.get(r.attemptId);
      const idx = a && this.specs.cached(a.runId);
      const task = idx?.byId.get(a!.taskId);
      if (!a || !idx || !task) continue;
      let set = out.get(a.runId);
      if (!set) out.set(a.runId, (set = new Set()));
      // a task in a mapped group: its downstream tasks in the group are read at this index alone, in the
      // cascade (engine/mapGroups.ts `indexedRow`) — reading all their instances here would cost O(width)
      for (const d of task.downstream) if (a.mapIndex < 0 || !perIndex(task, idx.byId.get(d)!)) set.add(d);
      if (r.state === "up_for_reschedule") set.add(a.taskId);
    }
    return new Map([...out].filter(([, s]) => s.size > 0).map(([runId, s]) => [runId, [...s]]));
  }
}

/**
 * A claim that saw every ready task instance any worker could take: no queue, run, backfill or resource
 * filter. When it took fewer than it asked for, nothing else claimable is left for another worker.
 */
function claimedAll(ready: ReadonlySet<string>, chosen: readonly string[]): boolean {
  if (ready.size === 0 || ready.size > chosen.length) return false;
  const keys = new Set(chosen);
  for (const k of ready) if (!keys.has(k)) return false;
  return true;
}

function sawEverything(claim: ClaimRequest): boolean {
  return !claim.queues?.length && !claim.resources && claim.runId === undefined && claim.backfillId === undefined;
}
