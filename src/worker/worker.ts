/**
 * A worker claims ready task instances, runs them through executors (runAttempt.ts) and reports their
 * ends. Ends are group-committed: while one transaction is in flight the next ones queue up and go
 * together, and the same transaction claims the next ready work for the slots just freed — so a
 * dependent task starts one commit after its upstream task returned. The loop's modes and their legal
 * moves are in loopState.ts.
 */
import { randomBytes } from "node:crypto";
import { systemClock } from "../core/clock.js";
import type { Capacity } from "../core/resources.js";
import { SluiceError } from "../errors.js";
import { countWorkersWith, metrics, recording } from "../metrics/registry.js";
import type { KeySource } from "../secrets/keyring.js";
import type { ClaimedAttempt } from "../store/store.js";
import { HeartbeatThread } from "./heartbeatThread.js";
import type { AttemptResult, ClaimRequest, WorkerHost } from "./host.js";
import { claims, movePhase, movePump, type Phase, type PumpMode } from "./loopState.js";
import { AttemptAbort } from "./attemptAbort.js";
import { runAttempt } from "./runAttempt.js";
import { endIdleChildren } from "../executors/childPool.js";
import type { ProcessPoolLimits } from "../core/processReuse.js";
import type { TaskSecrets } from "../secrets/secrets.js";

// The engine imports the seam's types from here (engine.ts, transitions.ts, triggers.ts).
export type { AttemptResult, ClaimRequest, ResolvedTask, RunTriggerInfo, WorkerHost } from "./host.js";

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  inlineOutputLimit: number;
  /** What one attempt may write to its log (config's maxLogBytes); absent: the default, 100 MB. */
  maxLogBytes?: number;
  python: string;
  /** The clean environment task processes start from (config's taskEnv). */
  taskEnv: Record<string, string>;
  /** When warm processes of `isolation: "process"` are retired (config's processPool); absent: the defaults. */
  processPool?: ProcessPoolLimits;
  /** Where tasks' connections and variables are looked up (ctx.connection); absent: none can be. */
  secrets?: TaskSecrets;
  /** Where the keys that decrypt secret params come from (config's secretKey); absent: none configured. */
  secretKey?: KeySource;
  /** The DAGs folder (registered models' flavor files are stored relative to it). */
  dagsDir?: string;
  /** The queues this worker serves (`--queues`); absent: every queue (`sluice dev`, `sluice run`). */
  queues?: string[];
  /** The capacity it declares (`--resources`); absent: no resource limit. */
  resources?: Capacity;
  runId?: string;
  backfillId?: number;
  /** Fallback poll for work created by other processes (SQLite has no cross-process notifications). */
  pollMs?: number;
  /**
   * The store's URL: heartbeats then run in a worker thread with its own connection (heartbeatThread.ts),
   * off the event loop that in-process tasks may block. Without it (or with an injected clock, whose time
   * the thread could not see) they run on this thread's event loop.
   */
  databaseUrl?: string;
  busyTimeoutMs?: number;
}

export interface StopOptions {
  /**
   * Drain: running attempts get this long to finish; the rest are handed back (ended as `interrupted`,
   * their task instances scheduled again at once, not counted against retries). Default: wait for all.
   */
  graceMs?: number;
}

interface Running {
  attempt: ClaimedAttempt;
  controller: AttemptAbort;
  /** performance.now() at launch: the attempt's duration metric. */
  startedAt: number;
}

/** An attempt left this worker's slots (its end is recorded next): its duration. */
function ended(r: Running, state: string): void {
  if (recording.on) metrics.taskDuration.observe({ dag: r.attempt.dagId, state }, (performance.now() - r.startedAt) / 1000);
}

/** A claim's metrics: one increment per queue it took from (one, mostly), not per attempt. */
function countClaim(claimed: readonly ClaimedAttempt[]): void {
  if (!recording.on) return;
  metrics.claims.inc({ result: claimed.length > 0 ? "claimed" : "empty" });
  if (claimed.length === 0) return;
  const first = claimed[0]!.queue;
  if (claimed.every((a) => a.queue === first)) return void metrics.attemptsClaimed.inc({ queue: first }, claimed.length);
  const byQueue = new Map<string, number>();
  for (const a of claimed) byQueue.set(a.queue, (byQueue.get(a.queue) ?? 0) + 1);
  for (const [queue, n] of byQueue) metrics.attemptsClaimed.inc({ queue }, n);
}

/** How soon a worker looks again at due work that limits kept it from claiming. */
const BLOCKED_BACKOFF_MS = 250;

const LOCAL_WORKERS = new Set<string>();
/** The workers of this process between start() and the end of stop(): the metrics' running attempts and slots. */
const STARTED = new Set<Worker>();
countWorkersWith(() => {
  let running = 0;
  let slots = 0;
  for (const w of STARTED) {
    running += w.runningCount;
    slots += w.slots;
  }
  return { running, slots };
});

/**
 * The workers started in this process, whichever engine they serve (a process may open several): a dead
 * process's worker may have had our pid (containers reuse pid 1). Sluice gives it to its engine.
 */
export const localWorkers: ReadonlySet<string> = LOCAL_WORKERS;

export class Worker {
  readonly workerId = `w-${randomBytes(5).toString("hex")}`;
  private readonly running = new Map<number, Running>();
  private results: AttemptResult[] = [];
  /** Whether a settle-and-claim transaction is in flight (loopState.ts); change it only with `setPump`. */
  private pumpMode: PumpMode = "idle";
  /** Whether this worker claims (loopState.ts); change it only with `setPhase`. */
  private phase: Phase = "new";
  private readonly cleanups: (() => void)[] = [];
  /**
   * stop() waiting to re-check whether it is done; woken at the end of every pump. One slot: a second
   * stop() called while the first waits takes it over, and the first never returns.
   */
  private pumpEnded: (() => void) | null = null;
  private retryTimer: (() => void) | null = null;
  /** handBackNow() was called: a second signal; stop() hands running attempts back at once. */
  private handBackAsked = false;
  /** The retry timer went off: the pump it started times the next due retry, even when it claimed work. */
  private retryFired = false;
  /** A pump is scheduled for the end of this turn of the event loop (`pumpSoon`). */
  private pumpScheduled = false;
  /** The first error of the pump itself (store unavailable, ...); surfaced by `stop()` and `failed()`. */
  private fatal: unknown = null;
  private onFatal: ((e: unknown) => void)[] = [];
  private heartbeats: HeartbeatThread | null = null;
  /** Leases are renewed by a heartbeat thread, started when the first attempt starts (not per idle worker). */
  private threadHeartbeats = false;

  /**
   * The heartbeat thread, started with the first attempt this worker runs: a worker that runs nothing
   * (`sluice run` of a run another process takes, a drained worker) never boots it. It starts
   * synchronously here, before the attempt's code runs: its own event loop beats even if that code then
   * blocks this one (a CPU-bound task).
   */
  private ensureHeartbeats(): void {
    if (!this.threadHeartbeats || this.heartbeats) return;
    this.heartbeats = HeartbeatThread.start(
      {
        databaseUrl: this.opts.databaseUrl!,
        busyTimeoutMs: this.opts.busyTimeoutMs ?? 5000,
        workerId: this.workerId,
        leaseMs: this.opts.leaseMs,
        heartbeatMs: this.opts.heartbeatMs,
        maxRunning: this.opts.concurrency,
      },
      (lost) => this.abortLost(lost),
      (e) => this.fail(e),
    );
  }

  constructor(
    private readonly host: WorkerHost,
    private readonly opts: WorkerOptions,
  ) {}

  async start(): Promise<void> {
    this.setPhase("running");
    STARTED.add(this);
    LOCAL_WORKERS.add(this.workerId);
    await this.host.store.workers.register({ workerId: this.workerId, queues: this.opts.queues ?? ["*"], concurrency: this.opts.concurrency });
    if (this.opts.resources) await this.host.store.workers.declareResources(this.workerId, this.opts.resources);
    this.cleanups.push(this.host.onWake((except) => except !== this.workerId && this.pump()));
    this.cleanups.push(this.host.onAbort((ids, reason) => ids.forEach((id) => this.running.get(id)?.controller.abort(reason))));
    // started with the first attempt (ensureHeartbeats); until then this thread keeps the worker's row alive
    this.threadHeartbeats = Boolean(this.opts.databaseUrl) && this.host.clock === systemClock && this.host.store.location !== ":memory:";
    const hb = setInterval(() => void this.heartbeat(), this.opts.heartbeatMs);
    hb.unref();
    this.cleanups.push(() => clearInterval(hb));
    // Not unref'd: a started worker keeps its process alive until stop() (its other timers are unref'd).
    const poll = setInterval(() => this.pump(), this.opts.pollMs ?? 1000);
    this.cleanups.push(() => clearInterval(poll));
    this.pump();
  }

  /**
   * Stop claiming; wait for running attempts to finish and their ends to be recorded. With a grace
   * period (SIGTERM), attempts still running when it ends are handed back: another worker restarts them
   * at once instead of after their lease.
   */
  async stop(opts: StopOptions = {}): Promise<void> {
    // a second stop() (`sluice run`: Ctrl-C, then the end of the run it drove) finds the drain under way
    if (this.phase === "new" || this.phase === "running" || this.phase === "failed") this.setPhase("draining");
    for (const c of this.cleanups.splice(0)) c();
    this.retryTimer?.();
    if (opts.graceMs !== undefined) await this.host.store.workers.markDraining(this.workerId).catch(() => undefined);
    const graceMs = this.handBackAsked ? 0 : opts.graceMs;
    const grace = graceMs === undefined ? null : setTimeout(() => this.startHandBack(), graceMs);
    try {
      // after a fatal error no pump settles what is left: those ends are lost with the worker (their
      // attempts are recovered when their lease expires); waiting for them would never end
      while (this.running.size > 0 || (this.results.length > 0 && !this.fatal) || this.pumpMode !== "idle") {
        await new Promise<void>((resolve) => (this.pumpEnded = resolve));
        // attempts a claim in flight at the end of the grace period brought in are handed back too
        if (this.phase === "handingBack" && this.running.size > 0) this.handBack();
      }
    } finally {
      if (grace) clearTimeout(grace);
    }
    if (this.phase !== "stopped") this.setPhase("stopped");
    STARTED.delete(this);
    await this.heartbeats?.stop();
    this.heartbeats = null;
    // warm processes of `isolation: "process"` tasks wait for no one now (another worker's are busy, not idle)
    endIdleChildren();
    await this.host.store.workers.stop(this.workerId);
    if (this.fatal) throw this.fatal;
  }

  /**
   * A second SIGTERM or Ctrl-C: do not wait for the grace period (or, without one, for the tasks to end):
   * hand back what runs now, so that it is recorded as interrupted (scheduled again at once, its try not
   * counted) before the process exits. Only SIGKILL leaves attempts to wait for their lease. Called
   * before stop(), it makes stop()'s grace period zero.
   */
  handBackNow(): void {
    this.handBackAsked = true;
    if (this.phase === "draining") this.startHandBack();
  }

  private startHandBack(): void {
    if (this.phase === "draining") this.setPhase("handingBack");
    this.handBack();
  }

  /**
   * The grace period is over: abort what still runs and record it as interrupted now, without waiting
   * for the task's code to notice (an in-process task may ignore its signal). A late result is dropped.
   */
  private handBack(): void {
    const reason = new SluiceError("INTERRUPTED", "the worker was stopped (SIGTERM) before this attempt finished; handed back to run again");
    const now = this.host.clock.now();
    for (const [id, r] of this.running) {
      this.running.delete(id);
      this.heartbeats?.untrack(id);
      r.controller.abort(reason);
      ended(r, "interrupted");
      this.results.push({ attemptId: id, state: "interrupted", endedAt: now, errorCode: reason.code, errorMessage: reason.message });
    }
    this.pump();
  }

  /**
   * Rejects with the error that stopped this worker (its pump failed: store unavailable, database locked
   * past the busy timeout, ...); pending otherwise. Whoever waits for a run must also wait for this, or it
   * waits forever for a run that no one drives any more.
   */
  failed(): Promise<never> {
    return new Promise<never>((_, reject) => {
      if (this.fatal) reject(this.fatal);
      else this.onFatal.push(reject);
    });
  }

  /** Abort every running attempt (e.g. on SIGINT). */
  abortAll(reason: SluiceError): void {
    for (const r of this.running.values()) r.controller.abort(reason);
  }

  get runningCount(): number {
    return this.running.size;
  }

  /**
   * Nothing in flight: no attempt running, no end waiting to be recorded, no settle-and-claim under way or
   * scheduled. What is left to do waits for a timer (a retry, a sensor's next poke): sluice/testing skips
   * its virtual clock ahead only then.
   */
  get idle(): boolean {
    return this.running.size === 0 && this.results.length === 0 && this.pumpMode === "idle" && !this.pumpScheduled;
  }

  /** Attempts it may run at once (`--concurrency`). */
  get slots(): number {
    return this.opts.concurrency;
  }

  /** Settle finished attempts and claim work; calls made while a pump is in flight coalesce into one more. */
  pump(): void {
    if (this.pumpMode === "idle") {
      this.setPump("pumping");
      void this.pumpLoop();
    } else if (this.pumpMode === "pumping") {
      this.setPump("pumpingWithMore");
    }
  }

  private async pumpLoop(): Promise<void> {
    try {
      const results = this.results;
      this.results = [];
      const free = claims(this.phase) ? this.opts.concurrency - this.running.size : 0;
      const claim: ClaimRequest | null =
        free > 0
          ? {
              workerId: this.workerId,
              limit: free,
              leaseMs: this.opts.leaseMs,
              queues: this.opts.queues ?? null,
              resources: this.opts.resources ?? null,
              ...(this.opts.runId ? { runId: this.opts.runId } : {}),
              ...(this.opts.backfillId !== undefined ? { backfillId: this.opts.backfillId } : {}),
            }
          : null;
      if (results.length === 0 && !claim) return;
      const claimed = await this.host.settle(results, claim);
      if (claim) countClaim(claimed);
      for (const a of claimed) this.launch(a);
      // a failure or a sensor's reschedule may have made work that is due later: time its wake-up even
      // when this claim found other work (else only the poll would pick it up, up to a second late)
      // — and after the timer went off: it was set for the earliest due retry only, and a later one (another
      // task's longer delay) would otherwise wait for the poll
      const fired = this.retryFired;
      this.retryFired = false;
      if (free > 0 && (claimed.length === 0 || fired || results.some((r) => r.state !== "success"))) await this.armRetryTimer();
    } catch (e) {
      this.fail(e);
    } finally {
      const more = this.pumpMode === "pumpingWithMore";
      this.setPump("idle");
      // Ends that came in meanwhile (or a wake-up): settle them after the tasks just launched have had
      // their turn of the event loop, so that quick ones join the same group instead of the next — else
      // the groups split in two cohorts that alternate (4 and 28 of 32 slots) and the settles double.
      if (!this.fatal && (more || this.results.length > 0)) this.pumpSoon();
      // wake stop() to re-check; it waits again if work remains
      this.pumpEnded?.();
      this.pumpEnded = null;
    }
  }

  private setPump(to: PumpMode): void {
    this.pumpMode = movePump(this.pumpMode, to);
  }

  private setPhase(to: Phase): void {
    this.phase = movePhase(this.phase, to);
  }

  /** The worker cannot go on (store unavailable, heartbeat thread dead): stop claiming and abort its tasks. */
  private fail(e: unknown): void {
    if (!this.fatal) {
      this.fatal = e;
      for (const reject of this.onFatal.splice(0)) reject(e);
    }
    // a stopping worker claims nothing already; it goes on draining
    if (this.phase === "running") this.setPhase("failed");
    this.abortAll(new SluiceError("INTERNAL", `worker stopped: ${(e as Error).message}`));
  }

  private async armRetryTimer(): Promise<void> {
    const at = await this.host.store.taskInstances.nextRetryAt(this.opts.runId, this.opts.backfillId);
    this.retryTimer?.();
    this.retryTimer = null;
    if (at === null) return;
    const wait = at - this.host.clock.now();
    // Due but not claimed: blocked by a limit (pool, queue, maxActiveTasks, resources) until something
    // ends — here that pumps at once; in another process, the poll or a short backoff finds it. Claiming
    // again at once would spin without yielding to the event loop (SQLite answers synchronously).
    this.retryTimer = this.host.clock.setTimer(wait > 0 ? wait : BLOCKED_BACKOFF_MS, () => {
      this.retryTimer = null;
      this.retryFired = true;
      this.pump();
    });
  }

  private launch(a: ClaimedAttempt): void {
    const controller = new AttemptAbort();
    const entry: Running = { attempt: a, controller, startedAt: performance.now() };
    this.running.set(a.attemptId, entry);
    if (recording.on && a.readyAt !== null) metrics.queueWait.observe({ queue: a.queue }, Math.max(0, this.host.clock.now() - a.readyAt) / 1000);
    this.ensureHeartbeats();
    this.heartbeats?.track(a.attemptId);
    void runAttempt(this.host, this.opts, a, controller).then((result) => {
      // handed back at the end of a drain: its end is recorded already
      if (this.running.get(a.attemptId) !== entry) return;
      this.running.delete(a.attemptId);
      this.heartbeats?.untrack(a.attemptId);
      ended(entry, result.state);
      this.results.push(result);
      this.pumpSoon();
    });
  }

  /**
   * Group commit: wait for the current turn of the event loop to end, so that every attempt finishing in
   * it is recorded by one transaction (no-op tasks finish in bursts; each would otherwise commit alone).
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Heartbeat on this thread's event loop: only without a heartbeat thread (injected clocks, in-memory stores). */
  private async heartbeat(): Promise<void> {
    if (this.heartbeats) return; // the heartbeat thread renews the row and the leases now
    try {
      this.abortLost(await this.host.store.workers.heartbeat(this.workerId, [...this.running.keys()], this.opts.leaseMs));
    } catch {
      // a failed heartbeat is retried at the next interval; the lease outlives several of them
    }
  }

  /** Fencing: these attempts are no longer ours (cancelled, or expired and taken over); stop them. */
  private abortLost(attemptIds: number[]): void {
    for (const id of attemptIds) {
      if (this.running.has(id)) metrics.leaseLosses.inc();
      this.running.get(id)?.controller.abort(new SluiceError("LEASE_LOST", "this attempt is no longer current (its run was cancelled or its lease expired); stopping it"));
    }
  }
}
