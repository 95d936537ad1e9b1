/**
 * A worker claims ready task instances, runs them through executors and reports their ends. Ends are
 * group-committed: while one transaction is in flight the next ones queue up and go together, and the
 * same transaction claims the next ready work for the slots just freed — so a dependent task starts
 * one commit after its upstream task returned.
 */
import { randomBytes } from "node:crypto";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import { encodeOutput } from "../artifacts/serialize.js";
import { systemClock, type Clock } from "../core/clock.js";
import type { TaskSpec } from "../core/dagSpec.js";
import { AssetMetadataCollector } from "../core/assets.js";
import { mapItem } from "../core/mapping.js";
import { pokeOutcome } from "../core/sensors.js";
import type { TaskImpl } from "../dsl/dag.js";
import type { AssetEvent, TaskContext, TriggeringEvent } from "../dsl/types.js";
import { SluiceError, errorRecord, isSluiceError } from "../errors.js";
import { childProcessExecutor } from "../executors/childProcess.js";
import type { Executor } from "../executors/executor.js";
import { inProcessExecutor } from "../executors/inProcess.js";
import { pythonExecutor } from "../executors/python.js";
import { shellExecutor } from "../executors/shell.js";
import type { Capacity } from "../core/resources.js";
import { DEFAULT_POOL, requirePool } from "../store/capacity.js";
import type { AttemptEnd, ClaimedAttempt, Store } from "../store/store.js";
import { AttemptLog } from "../logs/attemptLog.js";
import type { LogStore } from "../logs/logStore.js";
import { HeartbeatThread } from "./heartbeatThread.js";
import { declareResources, markDraining } from "../store/processes.js";

/**
 * How a finished attempt ended, as reported by a worker (or by the engine for a lost worker). A sensor's
 * poke that found its condition unmet reports `up_for_reschedule`: its attempt waits for the next poke.
 */
export interface AttemptResult extends Omit<AttemptEnd, "state"> {
  /** `interrupted`: handed back by a draining worker (SIGTERM); the task instance is scheduled again at once. */
  state: AttemptEnd["state"] | "up_for_reschedule";
  /** branch tasks: the direct downstream task ids to follow. */
  follow?: string[] | null;
  /** short_circuit tasks: false skips downstream. */
  proceed?: boolean;
  /** Retry at once instead of after the retry delay (the worker died; the task did not fail by itself). */
  retryNow?: boolean;
  /** Do not retry (cancelled). */
  noRetry?: boolean;
  /** Metadata the task attached to its asset events (`ctx.assetMetadata`), by asset. */
  assetMetadata?: Record<string, Record<string, unknown>> | null;
}

export interface ClaimRequest {
  workerId: string;
  limit: number;
  leaseMs: number;
  /** Only this run's task instances (`sluice run`). */
  runId?: string;
  /** Only task instances of this backfill's runs (`sluice backfill`). */
  backfillId?: number;
  /** Only task instances of these queues; null or absent: every queue. */
  queues?: readonly string[] | null;
  /** Only task instances whose resource requests fit what this worker's running ones leave. */
  resources?: Capacity | null;
}

/** What a task of a run sees of what triggered it (ctx.event, ctx.triggeringAssetEvents). */
export interface RunTriggerInfo {
  event: TriggeringEvent | null;
  assetEvents: AssetEvent[];
}

export interface ResolvedTask {
  task: TaskSpec;
  impl: TaskImpl;
  dagFile: string;
}

/** What a worker needs from the engine; the engine implements it. */
export interface WorkerHost {
  readonly store: Store;
  readonly artifacts: ArtifactStore;
  readonly logs: LogStore;
  readonly clock: Clock;
  /** Record ends and claim new work, in one transaction. */
  settle(results: AttemptResult[], claim: ClaimRequest | null): Promise<ClaimedAttempt[]>;
  resolveTask(a: ClaimedAttempt): Promise<ResolvedTask>;
  loadOutputs(runId: string, taskId: string): Promise<unknown[]>;
  /** What triggered a run: the external event, the asset events it consumed. */
  runTriggers(runId: string): Promise<RunTriggerInfo>;
  /** Subscribe to "work may be ready" (except for the worker named); returns an unsubscribe function. */
  onWake(cb: (except: string | null) => void): () => void;
  /** Subscribe to attempts that must be aborted (cancelled runs, run timeouts). */
  onAbort(cb: (attemptIds: number[], reason: SluiceError) => void): () => void;
}

export interface WorkerOptions {
  concurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  inlineOutputLimit: number;
  python: string;
  /** The clean environment task processes start from (config's taskEnv). */
  taskEnv: Record<string, string>;
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
  controller: AbortController;
}

/** How soon a worker looks again at due work that limits kept it from claiming. */
const BLOCKED_BACKOFF_MS = 250;

const LOCAL_WORKERS = new Set<string>();

/**
 * The workers started in this process, whichever engine they serve (a process may open several): a dead
 * process's worker may have had our pid (containers reuse pid 1). Sluice gives it to its engine.
 */
export const localWorkers: ReadonlySet<string> = LOCAL_WORKERS;

export class Worker {
  readonly workerId = `w-${randomBytes(5).toString("hex")}`;
  private readonly running = new Map<number, Running>();
  private results: AttemptResult[] = [];
  private pumping = false;
  private again = false;
  private stopping = false;
  private readonly cleanups: (() => void)[] = [];
  private idle: { resolve: () => void } | null = null;
  private retryTimer: (() => void) | null = null;
  /** The retry timer went off: the pump it started times the next due retry, even when it claimed work. */
  private retryFired = false;
  /** The first error of the pump itself (store unavailable, ...); surfaced by `stop()` and `failed()`. */
  private fatal: unknown = null;
  private onFatal: ((e: unknown) => void)[] = [];
  private heartbeats: HeartbeatThread | null = null;

  constructor(
    private readonly host: WorkerHost,
    private readonly opts: WorkerOptions,
  ) {}

  async start(): Promise<void> {
    LOCAL_WORKERS.add(this.workerId);
    await this.host.store.registerWorker({ workerId: this.workerId, queues: this.opts.queues ?? ["*"], concurrency: this.opts.concurrency });
    if (this.opts.resources) await declareResources(this.host.store.db, this.workerId, this.opts.resources);
    this.cleanups.push(this.host.onWake((except) => except !== this.workerId && this.pump()));
    this.cleanups.push(this.host.onAbort((ids, reason) => ids.forEach((id) => this.running.get(id)?.controller.abort(reason))));
    if (this.opts.databaseUrl && this.host.clock === systemClock && this.host.store.location !== ":memory:") {
      this.heartbeats = HeartbeatThread.start(
        {
          databaseUrl: this.opts.databaseUrl,
          busyTimeoutMs: this.opts.busyTimeoutMs ?? 5000,
          workerId: this.workerId,
          leaseMs: this.opts.leaseMs,
          heartbeatMs: this.opts.heartbeatMs,
          maxRunning: this.opts.concurrency,
        },
        (lost) => this.abortLost(lost),
        (e) => this.fail(e),
      );
    } else {
      const hb = setInterval(() => void this.heartbeat(), this.opts.heartbeatMs);
      hb.unref();
      this.cleanups.push(() => clearInterval(hb));
    }
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
    this.stopping = true;
    for (const c of this.cleanups.splice(0)) c();
    this.retryTimer?.();
    if (opts.graceMs !== undefined) await markDraining(this.host.store.db, this.workerId).catch(() => undefined);
    let graceOver = false;
    const grace = opts.graceMs === undefined ? null : setTimeout(() => {
      graceOver = true;
      this.handBack();
    }, opts.graceMs);
    try {
      while (this.running.size > 0 || this.results.length > 0 || this.pumping) {
        await new Promise<void>((resolve) => (this.idle = { resolve }));
        if (graceOver && this.running.size > 0) this.handBack();
      }
    } finally {
      if (grace) clearTimeout(grace);
    }
    await this.heartbeats?.stop();
    this.heartbeats = null;
    await this.host.store.stopWorker(this.workerId);
    if (this.fatal) throw this.fatal;
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

  /** Settle finished attempts and claim work; re-entrant calls coalesce into the running loop. */
  pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pumpLoop();
  }

  private async pumpLoop(): Promise<void> {
    try {
      this.again = false;
      const results = this.results;
      this.results = [];
      const free = this.stopping ? 0 : this.opts.concurrency - this.running.size;
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
      this.pumping = false;
      // Ends that came in meanwhile (or a wake-up): settle them after the tasks just launched have had
      // their turn of the event loop, so that quick ones join the same group instead of the next — else
      // the groups split in two cohorts that alternate (4 and 28 of 32 slots) and the settles double.
      if (!this.fatal && (this.again || this.results.length > 0)) this.pumpSoon();
      this.notifyIdle();
    }
  }

  /** The worker cannot go on (store unavailable, heartbeat thread dead): stop claiming and abort its tasks. */
  private fail(e: unknown): void {
    if (!this.fatal) {
      this.fatal = e;
      for (const reject of this.onFatal.splice(0)) reject(e);
    }
    this.stopping = true;
    this.abortAll(new SluiceError("INTERNAL", `worker stopped: ${(e as Error).message}`));
  }

  private notifyIdle(): void {
    if (this.idle && this.running.size === 0 && this.results.length === 0 && !this.pumping) {
      this.idle.resolve();
      this.idle = null;
    } else if (this.idle && !this.pumping) {
      // wake stop() to re-check; it waits again if work remains
      this.idle.resolve();
      this.idle = null;
    }
  }

  private async armRetryTimer(): Promise<void> {
    const at = await this.host.store.nextRetryAt(this.opts.runId, this.opts.backfillId);
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
    const controller = new AbortController();
    const entry: Running = { attempt: a, controller };
    this.running.set(a.attemptId, entry);
    this.heartbeats?.track(a.attemptId);
    void this.execute(a, controller).then((result) => {
      // handed back at the end of a drain: its end is recorded already
      if (this.running.get(a.attemptId) !== entry) return;
      this.running.delete(a.attemptId);
      this.heartbeats?.untrack(a.attemptId);
      this.results.push(result);
      this.pumpSoon();
    });
  }

  private pumpScheduled = false;

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

  private async execute(a: ClaimedAttempt, controller: AbortController): Promise<AttemptResult> {
    const clock = this.host.clock;
    const log = new AttemptLog(this.host.logs.sink(a), () => clock.now());
    let cancelTimeout: (() => void) | null = null;
    try {
      const resolved = await this.host.resolveTask(a);
      const { task, impl, dagFile } = resolved;
      if (task.pool !== null && task.pool !== DEFAULT_POOL) await requirePool(this.host.store.db, task.pool, a.dagId, task.id);
      if (task.timeoutMs !== null) {
        const ms = task.timeoutMs;
        cancelTimeout = clock.setTimer(ms, () =>
          controller.abort(new SluiceError("TIMEOUT", `task "${task.id}" timed out after ${ms} ms`)),
        );
      }
      log.note(`${a.pokes > 0 ? `poke ${a.pokes + 1} of ` : ""}attempt ${a.tryNumber} of ${task.retry.retries + 1} started (${executorName(task, impl)})`);
      const inputs = await this.inputsFor(a, task);
      const triggers = await this.host.runTriggers(a.runId);
      const assets = new AssetMetadataCollector(task.id, task.produces ?? []);
      const ctx: TaskContext<unknown> = {
        runId: a.runId,
        dagId: a.dagId,
        taskId: a.taskId,
        mapIndex: a.mapIndex,
        attempt: a.tryNumber,
        maxAttempts: task.retry.retries + 1,
        logicalDate: new Date(a.logicalDate),
        dataInterval:
          a.dataIntervalStart !== null && a.dataIntervalEnd !== null ? { start: new Date(a.dataIntervalStart), end: new Date(a.dataIntervalEnd) } : null,
        params: a.params,
        dagFile: dagFile || null,
        signal: controller.signal,
        log: log.logger(),
        event: triggers.event,
        triggeringAssetEvents: triggers.assetEvents,
        assetMetadata: (asset, metadata) => assets.record(asset, metadata),
      };
      const returned = await executorFor(task, impl).run({ task, impl, dagFile, inputs, ctx, log, python: this.opts.python, env: this.opts.taskEnv });
      if (controller.signal.aborted) throw controller.signal.reason;
      // a sensor whose condition is not met gives its slot back and waits, in the store, for its next poke
      const poke = task.kind === "sensor" ? pokeOutcome(task.id, returned) : null;
      if (poke && !poke.done) return { attemptId: a.attemptId, state: "up_for_reschedule", endedAt: clock.now() };
      const value = poke?.done ? poke.value : returned;
      const result = await this.successResult(a, task, value);
      result.assetMetadata = assets.collected();
      log.note(`attempt ${a.tryNumber} succeeded`);
      return result;
    } catch (e) {
      const reason: unknown = controller.signal.aborted && !isSluiceError(e) ? controller.signal.reason : e;
      const rec = errorRecord(reason);
      log.write("error", `attempt ${a.tryNumber} failed: ${rec.message}`);
      if (rec.stack && rec.code === "TASK_FAILED") log.write("error", rec.stack);
      return {
        attemptId: a.attemptId,
        state: "failed",
        endedAt: clock.now(),
        errorCode: rec.code,
        errorMessage: rec.message,
        errorStack: rec.stack ?? null,
        exitCode: rec.exitCode ?? null,
        noRetry: rec.code === "CANCELLED" || rec.code === "LEASE_LOST" || rec.code === "POOL_NOT_FOUND",
      };
    } finally {
      cancelTimeout?.();
      await log.close();
    }
  }

  private async successResult(a: ClaimedAttempt, task: TaskSpec, value: unknown): Promise<AttemptResult> {
    const result: AttemptResult = { attemptId: a.attemptId, state: "success", endedAt: this.host.clock.now() };
    if (task.kind === "branch") result.follow = branchTargets(task, value);
    if (task.kind === "short_circuit") result.proceed = Boolean(value);
    // The stored output is what the DSL types promise downstream: TaskRef<string[]> for a branch (the ids
    // followed, even when it returned a handle or one id), TaskRef<boolean> for a short-circuit.
    const output = task.kind === "branch" ? result.follow : task.kind === "short_circuit" ? result.proceed : value;
    const bytes = encodeOutput(output, `task "${task.id}"`);
    if (bytes.length > this.opts.inlineOutputLimit) {
      result.outputRef = await this.host.artifacts.put(bytes);
    } else {
      result.outputInline = bytes;
    }
    result.outputSize = bytes.length;
    return result;
  }

  private async inputsFor(a: ClaimedAttempt, task: TaskSpec): Promise<Record<string, unknown>> {
    const inputs: Record<string, unknown> = {};
    const valueOf = async (taskId: string): Promise<unknown> => {
      const outputs = await this.host.loadOutputs(a.runId, taskId);
      const upstream = await this.host.resolveTask({ ...a, taskId });
      // a mapped upstream task gives the list of its results in map-index order
      return upstream.task.map ? outputs : outputs[0];
    };
    for (const [name, taskId] of Object.entries(task.inputs)) inputs[name] = await valueOf(taskId);
    if (task.map) {
      const lists: [string, unknown[]][] = [];
      for (const m of task.map) {
        const list = "values" in m.source ? m.source.values : await valueOf(m.source.task);
        if (!Array.isArray(list)) {
          throw new SluiceError("TASK_FAILED", `task "${task.id}" maps over "${m.name}", but ${"task" in m.source ? `task "${m.source.task}" returned` : "it is"} ${typeof list}, not a list`);
        }
        lists.push([m.name, list]);
      }
      Object.assign(inputs, mapItem(lists, a.mapIndex));
    }
    return inputs;
  }

  /** Heartbeat on this thread's event loop: only without a heartbeat thread (injected clocks, in-memory stores). */
  private async heartbeat(): Promise<void> {
    try {
      this.abortLost(await this.host.store.heartbeat(this.workerId, [...this.running.keys()], this.opts.leaseMs));
    } catch {
      // a failed heartbeat is retried at the next interval; the lease outlives several of them
    }
  }

  /** Fencing: these attempts are no longer ours (cancelled, or expired and taken over); stop them. */
  private abortLost(attemptIds: number[]): void {
    for (const id of attemptIds) {
      this.running.get(id)?.controller.abort(new SluiceError("LEASE_LOST", "this attempt is no longer current (its run was cancelled or its lease expired); stopping it"));
    }
  }
}

function executorFor(task: TaskSpec, impl: TaskImpl): Executor {
  if (impl.kind === "shell") return shellExecutor;
  if (impl.kind === "python") return pythonExecutor;
  return task.isolation === "process" ? childProcessExecutor : inProcessExecutor;
}

function executorName(task: TaskSpec, impl: TaskImpl): string {
  return impl.kind === "fn" ? (task.isolation === "process" ? "child process" : "in process") : impl.kind;
}

function branchTargets(task: TaskSpec, value: unknown): string[] {
  const items = value === null || value === undefined ? [] : Array.isArray(value) ? value : [value];
  const ids = items.map((v) => (typeof v === "string" ? v : typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "string" ? (v as { id: string }).id : null));
  for (const [i, id] of ids.entries()) {
    // accept a local id inside the branch's own task group, like Airflow
    if (id !== null && !task.downstream.includes(id) && task.group && task.downstream.includes(`${task.group}.${id}`)) ids[i] = `${task.group}.${id}`;
  }
  const bad = ids.filter((id) => id === null || !task.downstream.includes(id));
  if (bad.length) {
    throw new SluiceError(
      "TASK_FAILED",
      `branch "${task.id}" returned ${JSON.stringify(value)}; it must name direct downstream tasks: ${task.downstream.map((d) => `"${d}"`).join(", ") || "(none)"}`,
    );
  }
  return ids as string[];
}
