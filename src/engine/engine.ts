/**
 * The engine: creates runs, applies attempt ends (engine/transitions) and hands ready work to workers,
 * all through the store. In one process, wake-ups are in-memory signals; other processes are seen through
 * the store (and, on PostgreSQL, LISTEN/NOTIFY).
 *
 * This class is the facade the other layers use; the work is done by one part per responsibility, each
 * changing state only through `Transitions` (engine/transaction):
 * - runCreation.ts: every way a run is created (manual, scheduled, triggered, backfill);
 * - settle.ts: attempt ends and the next claims, on the workers' hot path;
 * - operations.ts: cancel, clear, mark, start queued runs;
 * - recovery.ts: runs and attempts that the processes that should have ended them did not.
 */
import type { KeySource } from "../secrets/keyring.js";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { LogStore } from "../logs/logStore.js";
import type { Clock } from "../core/clock.js";
import { FINISHED_RUN_STATES, type RunState, type TaskState } from "../core/states.js";
import { whyWaiting } from "../core/waiting.js";
import { dependsOnPast } from "./pastDeps.js";
import { formatDuration } from "../core/duration.js";
import { SluiceError, toSluiceError } from "../errors.js";
import type { AuditHook } from "../store/audit.js";
import type { DeadLetterRecord } from "../store/deadLetters.js";
import type { ClaimedAttempt, RunRecord, Store, TaskInstanceRecord, Tx } from "../store/store.js";
import { decodeOutputs } from "../worker/outputs.js";
import type { AttemptResult, ClaimRequest, ResolvedTask, RunTriggerInfo, WorkerHost } from "../worker/worker.js";
import { DagCode, type CodeLoader } from "./dagCode.js";
import type { LoadedDag } from "./dagLoader.js";
import type { ApprovalRecord } from "../store/models.js";
import { Operations, type ClearOutcome, type MarkOutcome, type MarkScope } from "./operations.js";
import type { ClearScope } from "../core/clearSelection.js";
import { validateParams } from "./params.js";
import { Recovery } from "./recovery.js";
import { RunCreation, type RunDag, type TriggerOptions } from "./runCreation.js";
import { RunSpecs } from "./runSpecs.js";
import { RunTimeouts, timedOutReason } from "./runTimeouts.js";
import { Settler } from "./settle.js";
import { Signals, type AttemptEvent } from "./signals.js";
import { emitRunSpan } from "../tracing/spans.js";
import { isTracingEnabled } from "../tracing/tracing.js";
import type { SpecIndex } from "./specIndex.js";
import { Transitions } from "./transaction.js";
import { CallbackRunner } from "./callbacks.js";
import { Deadlines } from "./deadlines.js";
import type { TransitionEnv } from "./transitions.js";
import { Triggers, type TriggerTarget } from "./triggers.js";

export type { AttemptEvent, TriggerOptions };

export interface EngineOptions {
  store: Store;
  artifacts: ArtifactStore;
  logs: LogStore;
  clock: Clock;
  /** The DAGs whose code this process has loaded. */
  dags: ReadonlyMap<string, LoadedDag>;
  /** Where to find the code of other DAGs (the scheduler's folder), when a task of one must run. */
  loadCode?: CodeLoader;
  random?: () => number;
  /** Workers' lease (config leaseMs): a worker silent for two leases with nothing running is buried. */
  leaseMs?: number;
  /** SLUICE_QUEUED_TIMEOUT_MS (default 10 minutes, as Airflow's task_queued_timeout); 0: never. */
  queuedTimeoutMs?: number;
  /** The ids of this process's workers (worker.ts's localWorkers): alive, whatever their pid suggests. */
  localWorkers: { has(workerId: string): boolean };
  /** Where the keys that encrypt secret params come from (config's secretKey); absent: none configured. */
  secretKey?: KeySource;
}

/** Task instance states that wait to be claimed. */
const READY_STATES: ReadonlySet<TaskState> = new Set<TaskState>(["scheduled", "up_for_retry"]);

export class Engine implements WorkerHost {
  readonly store: Store;
  readonly artifacts: ArtifactStore;
  readonly logs: LogStore;
  readonly clock: Clock;
  /** Asset-triggered and event-triggered runs (engine/triggers). */
  readonly triggers: Triggers;
  private readonly code: DagCode;
  private readonly specs: RunSpecs;
  private readonly signals: Signals;
  private readonly timeouts: RunTimeouts;
  /** Workers' lease: one silent for longer is not counted as live (waitingReasons). */
  private readonly leaseMs: number;
  /** How long a ready task instance nothing can run waits before it fails (failNeverRunnable). */
  private readonly queuedTimeoutMs: number;
  /** When this engine started (sweep: the queued timeout waits for workers to register after a restart). */
  private readonly startedAt: number;
  private readonly creation: RunCreation;
  private readonly settler: Settler;
  private readonly operations: Operations;
  private readonly recovery: Recovery;
  /** Callbacks and notifiers that fell due: claimed and run by this process (decision 0019). */
  readonly callbacks: CallbackRunner;
  private readonly deadlines: Deadlines;

  constructor(opts: EngineOptions) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.startedAt = opts.clock.now();
    this.queuedTimeoutMs = opts.queuedTimeoutMs ?? 600_000;
    this.store = opts.store;
    this.artifacts = opts.artifacts;
    this.logs = opts.logs;
    this.clock = opts.clock;
    this.code = new DagCode(opts.store, opts.dags, opts.loadCode ?? null);
    this.specs = new RunSpecs(opts.store);
    this.signals = new Signals(opts.store);
    this.timeouts = new RunTimeouts(opts.clock, (runId, reason) => void this.cancelRun(runId, reason, "TIMEOUT").catch(() => undefined));
    const random = opts.random ?? Math.random;
    const env: TransitionEnv = {
      specFor: (runId) => this.specs.of(runId),
      loadOutputs: async (tx, runId, taskId) => decodeOutputs(await tx.attempts.outputs(runId, taskId), this.artifacts, await this.isMapped(runId, taskId)),
      random,
    };
    this.callbacks = new CallbackRunner(opts.store, this.code, this.specs);
    // the checker's transitions are the engine's own (set just below)
    let transitionsRef: Transitions | null = null;
    this.deadlines = new Deadlines(opts.store, opts.clock, this.specs, () => transitionsRef!);
    const transitions = new Transitions({
      store: opts.store,
      env,
      specs: this.specs,
      signals: this.signals,
      timeouts: this.timeouts,
      assetEventsRecorded: () => this.triggers.evaluateSoon(),
      // called after commits only, by when the constructor has set `recovery`
      followUps: { reconcile: (runId, taskIds) => this.recovery.reconcile(runId, taskIds), finishRunIfDone: (runId) => this.recovery.finishRunIfDone(runId) },
      deadlines: this.deadlines,
      callbacksDue: () => this.callbacks.poke(),
    });
    transitionsRef = transitions;
    this.creation = new RunCreation(opts.store, opts.clock, env, this.specs, this.code, transitions, opts.secretKey ?? null);
    this.settler = new Settler(opts.store, env, this.specs, this.signals, transitions, (runId, at) => this.deadlines.started(runId, at));
    this.operations = new Operations(opts.store, opts.clock, env, this.specs, transitions);
    this.recovery = new Recovery(opts.store, opts.clock, env, this.specs, transitions, (results, claim) => this.settle(results, claim), opts.leaseMs ?? 30_000, opts.localWorkers);
    this.triggers = new Triggers(this);
    // a run's root span is emitted by the process that finishes it (tracing/spans.ts); checked once here
    if (isTracingEnabled()) this.signals.onRunFinished((runId) => emitRunSpan(() => this.store.runs.get(runId)));
  }

  // ---- DAG code -----------------------------------------------------------------------------------------

  setCodeLoader(fn: CodeLoader): void {
    this.code.setLoader(fn);
  }

  /** Import the code runs will ask for (DagCode.preload); returns the files that do not bundle. */
  preloadCode(files: readonly string[]): Promise<Set<string>> {
    return this.code.preload(files);
  }

  /** A DAG whose code this process has (loaded at start, or through `ensureDag`); else DAG_NOT_FOUND. */
  getDag(dagId: string): LoadedDag {
    return this.code.get(dagId);
  }

  /**
   * Make `getDag` know a DAG this process did not load itself (`sluice dev` and `sluice server` leave
   * the DAGs folder to the scheduler): its latest registered version's code is loaded through the code
   * loader. A no-op for DAGs loaded at start.
   */
  ensureDag(dagId: string): Promise<void> {
    return this.code.ensure(dagId);
  }

  /** @internal Params checked against the DAG's schema (backfills check the defaults their runs get). */
  validateParams(dagId: string, schema: LoadedDag["dag"]["paramsSchema"], raw: Record<string, unknown>, jsonSchema: unknown): Promise<Record<string, unknown>> {
    return validateParams(dagId, schema, raw, jsonSchema);
  }

  /** The spec of the DAG version a run was created with. */
  specFor(runId: string): Promise<SpecIndex> {
    return this.specs.of(runId);
  }

  // ---- run creation (engine/runCreation) -----------------------------------------------------------------

  /** Validate params and create a run with all its task instances, in one transaction. */
  createRun(dagId: string, opts: TriggerOptions = {}): Promise<RunRecord> {
    return this.creation.createRun(dagId, opts);
  }

  /**
   * The run of a scheduled data interval: exactly one per (DAG, interval start), whoever asks and however
   * often (the store's unique key). It waits `queued` while the DAG has `maxActiveRuns` active runs.
   * `then` runs in the same transaction (the scheduler advances the DAG's next interval there).
   */
  async createScheduledRun(dag: RunDag, params: Record<string, unknown>, interval: { start: number; end: number }, then: (tx: Tx) => Promise<void>): Promise<RunRecord> {
    return (await this.creation.createScheduledRuns([{ dag, params, interval, then }]))[0]!;
  }

  /** Several scheduled runs in one transaction (group commit), each as createScheduledRun creates it. */
  createScheduledRuns(items: readonly { dag: RunDag; params: Record<string, unknown>; interval: { start: number; end: number }; then: (tx: Tx) => Promise<void> }[]): Promise<RunRecord[]> {
    return this.creation.createScheduledRuns(items);
  }

  /**
   * @internal A run created by a trigger (engine/triggers: asset updates, external events), with the
   * trigger's run key; `then` runs in the same transaction and throws to roll the run back.
   */
  createTriggeredRun(target: TriggerTarget, o: { runKey: string; runType: "asset" | "event"; queued: boolean | "if_busy"; then: (tx: Tx) => Promise<void> }): Promise<RunRecord> {
    return this.creation.createTriggeredRun(target, o);
  }

  /** @internal The version a triggered run of `dagId` gets, or why it gets none. */
  resolveTriggerTarget(dagId: string): Promise<TriggerTarget | { skip: string }> {
    return this.creation.resolveTriggerTarget(dagId);
  }

  /** A backfill's run of a data interval (the interval's one run; see RunCreation.createBackfillRun). */
  createBackfillRun(dag: RunDag, params: Record<string, unknown>, interval: { start: number; end: number }, backfillId: number, then: (tx: Tx) => Promise<void>): Promise<RunRecord> {
    return this.creation.createBackfillRun(dag, params, interval, backfillId, then);
  }

  /** Run a finished run again for a backfill (see RunCreation.reprocessForBackfill). */
  reprocessForBackfill(runId: string, backfillId: number, then: (tx: Tx) => Promise<void>): Promise<RunRecord> {
    return this.creation.reprocessForBackfill(runId, backfillId, then);
  }

  // ---- operations (engine/operations) ------------------------------------------------------------------

  /** Fail a run that is still going: running attempts are aborted, the rest is not started. */
  /** A person's decision on a promotion gate's approval; the waiting gate is woken at once (engine/operations). */
  decideApproval(id: number, d: { state: "approved" | "rejected"; by: string; comment: string | null }, audit?: AuditHook): Promise<ApprovalRecord> {
    return this.operations.decideApproval(id, d, audit);
  }

  cancelRun(runId: string, reason = "cancelled by user", code: "CANCELLED" | "TIMEOUT" = "CANCELLED", audit?: AuditHook): Promise<RunRecord> {
    return this.operations.cancelRun(runId, reason, code, audit);
  }

  /** Clear task instances (with `downstream`, everything after them too) so they run again. */
  clearTasks(runId: string, scope: ClearScope, audit?: AuditHook): Promise<ClearOutcome> {
    return this.operations.clearTasks(runId, scope, audit);
  }

  /** What clearTasks would clear now (a dry run). */
  previewClear(runId: string, scope: ClearScope): Promise<ClearOutcome> {
    return this.operations.previewClear(runId, scope);
  }

  /** Retry a dead-lettered task instance: clear it and its downstream, the run resumes (see Operations.retryDeadLetter). */
  retryDeadLetter(id: number, by: string, audit?: AuditHook): Promise<DeadLetterRecord> {
    return this.operations.retryDeadLetter(id, by, audit);
  }

  /** Airflow's "mark success" / "mark failed" (see Operations.markTasks). */
  markTasks(runId: string, scope: MarkScope, audit?: AuditHook): Promise<MarkOutcome> {
    return this.operations.markTasks(runId, scope, audit);
  }

  /** What markTasks would change now (a dry run). */
  previewMark(runId: string, scope: MarkScope): Promise<MarkOutcome> {
    return this.operations.previewMark(runId, scope);
  }

  /** Start queued runs of a DAG while it has fewer than `maxActiveRuns` running, oldest logical date first. */
  promoteQueuedRuns(dagId: string, maxActiveRuns: number): Promise<RunRecord[]> {
    return this.operations.promoteQueuedRuns(dagId, maxActiveRuns);
  }

  /** Arm the run timeout of an active run (after creation, or when this process takes it over). */
  watchRunTimeout(run: RunRecord): void {
    this.timeouts.watch(run);
  }

  // ---- recovery (engine/recovery) ----------------------------------------------------------------------

  /**
   * Finish, unstall and retry what dead processes and racing transactions left (see Recovery); end runs
   * past their deadline.
   */
  async recoverLostAttempts(): Promise<number> {
    const recovered = await this.recovery.recoverLostAttempts();
    await this.expireRunTimeouts();
    await this.checkDeadlines();
    return recovered;
  }

  /**
   * Record the deadlines missed by now (each once, whichever process sees it first) with their
   * callbacks, and arm the timer for the next one (engine/deadlines.ts). Returns the misses recorded here.
   */
  checkDeadlines(): Promise<number> {
    return this.deadlines.sweep();
  }

  /**
   * The periodic sweep of a long-running process (`sluice dev|scheduler|worker`): recovery, run deadlines,
   * and the queued timeout — the last only once this process has been up for two leases, so that after a
   * restart of a whole deployment the workers have registered before "no live worker serves it" is
   * believed (a resumed run's old ready tasks must not fail for want of a worker that is starting).
   */
  async sweep(): Promise<number> {
    const recovered = await this.recoverLostAttempts();
    if (this.clock.now() - this.startedAt >= 2 * this.leaseMs) await this.failNeverRunnable();
    return recovered;
  }

  /**
   * The queued timeout (Airflow's task_queued_timeout): task instances ready for longer than
   * `queuedTimeoutMs` that nothing can run — no live worker serves their queue or has their resources,
   * their pool is too small (waitingReasons) — fail with QUEUED_TIMEOUT saying why. Ones that only wait
   * for a free slot (a big fan-out) wait on. 0: never.
   */
  async failNeverRunnable(): Promise<number> {
    if (this.queuedTimeoutMs <= 0) return 0;
    const now = this.clock.now();
    const stale = await this.store.taskInstances.readySince(now - this.queuedTimeoutMs, 200);
    const byRun = new Map<string, TaskInstanceRecord[]>();
    for (const t of stale) byRun.set(t.runId, [...(byRun.get(t.runId) ?? []), t]);
    let failed = 0;
    for (const [runId, tis] of byRun) {
      const why = await this.waitingReasons(runId, tis);
      for (const t of tis) {
        const reason = why.get(`${t.taskId}\0${t.mapIndex}`);
        if (!reason) continue;
        const which = `task "${t.taskId}"${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}`;
        const message = `${which} was ready for ${formatDuration(now - t.readyAt!)} and nothing can run it: ${reason.replace(/^waiting: /, "")} (queued timeout: SLUICE_QUEUED_TIMEOUT_MS)`;
        if (await this.operations.failNeverRunnable(t, message)) failed++;
      }
    }
    return failed;
  }

  /**
   * Why the ready task instances among `tis` (of one running run) cannot start anywhere, by
   * `taskId\0mapIndex` (core/waiting.ts): no live worker serves the queue or has the resources, the pool
   * is too small. Instances that merely wait for a free slot have no entry. Three queries, whatever the count.
   */
  async waitingReasons(runId: string, tis: readonly TaskInstanceRecord[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const now = this.clock.now();
    // held by the past (dependsOnPast, engine/pastDeps.ts): why, as the gate last said it
    if (tis.some((t) => t.state === "none") && dependsOnPast(await this.specs.of(runId))) {
      const past = await this.store.pastWaits.reasonsOf(runId);
      for (const t of tis) if (t.state === "none" && past.has(t.taskId)) out.set(`${t.taskId}\0${t.mapIndex}`, past.get(t.taskId)!);
    }
    const ready = tis.filter((t) => READY_STATES.has(t.state) && t.readyAt !== null && t.readyAt <= now);
    if (ready.length === 0) return out;
    const idx = await this.specs.of(runId);
    const workers = await this.store.workers.live(this.leaseMs);
    const pools = new Map((await this.store.pools.list()).map((p) => [p.name, p.slots] as const));
    for (const t of ready) {
      const task = idx.byId.get(t.taskId);
      const why = task ? whyWaiting(task, workers, pools) : null;
      if (why) out.set(`${t.taskId}\0${t.mapIndex}`, why);
    }
    return out;
  }

  /**
   * Runs past their `runTimeout` fail with TIMEOUT, whichever process created them; the next deadline
   * gets a timer here, so it is met on time even when the process that armed it is gone.
   */
  async expireRunTimeouts(): Promise<void> {
    for (;;) {
      const { expired, next } = await this.store.runs.deadlines(100);
      for (const r of expired) {
        await this.cancelRun(r.runId, timedOutReason(r.timeoutAt, r.startedAt), "TIMEOUT").catch((e: unknown) => {
          // another process ended it in between: nothing to do
          if (toSluiceError(e).code !== "RUN_FINISHED") throw e;
        });
      }
      if (expired.length < 100) {
        if (next) this.timeouts.watchDeadline(next.runId, next.timeoutAt, next.startedAt);
        return;
      }
    }
  }

  // ---- WorkerHost --------------------------------------------------------------------------------------

  /** Record ends (group commit) and claim the next work in the same transaction (engine/settle). */
  settle(results: AttemptResult[], claim: ClaimRequest | null): Promise<ClaimedAttempt[]> {
    return this.settler.settle(results, claim);
  }

  async resolveTask(a: Pick<ClaimedAttempt, "runId" | "dagId" | "taskId" | "dagVersion" | "codeHash">): Promise<ResolvedTask> {
    const idx = await this.specs.of(a.runId);
    const task = idx.byId.get(a.taskId);
    const loaded = await this.code.forVersion(a.dagId, a.dagVersion, a.codeHash);
    const impl = loaded?.dag.impls.get(a.taskId);
    if (!task || !loaded || !impl) {
      throw new SluiceError(
        "TASK_NOT_FOUND",
        `task "${a.taskId}" of DAG "${a.dagId}" is not in the loaded DAG code (was the DAG file removed or the task renamed?)`,
        { details: { dagId: a.dagId, taskId: a.taskId } },
      );
    }
    return { task, dag: idx.spec, impl, dagFile: loaded.file, moduleUrl: loaded.moduleUrl };
  }

  async loadOutputs(runId: string, taskId: string): Promise<unknown[]> {
    return decodeOutputs(await this.store.attempts.outputs(runId, taskId), this.artifacts, await this.isMapped(runId, taskId));
  }

  /** WorkerHost: what triggered a run (the external event, the asset events it consumed). */
  runTriggers(runId: string): Promise<RunTriggerInfo> {
    return this.triggers.forRun(runId);
  }

  // ---- signals (engine/signals) ------------------------------------------------------------------------

  /** `cb` gets the id of a worker that needs no wake-up (it caused it), or null. */
  onWake(cb: (except: string | null) => void): () => void {
    return this.signals.onWake(cb);
  }

  onAbort(cb: (attemptIds: number[], reason: SluiceError) => void): () => void {
    return this.signals.onAbort(cb);
  }

  onRunFinished(cb: (runId: string, state: RunState) => void): () => void {
    return this.signals.onRunFinished(cb);
  }

  /** Attempts starting and ending in this process (for progress output). */
  onAttempt(cb: (e: AttemptEvent) => void): () => void {
    return this.signals.onAttempt(cb);
  }

  /** Resolves when the run reaches a final state (checks the store, then waits for the event). */
  async waitForRun(runId: string): Promise<RunRecord> {
    let off: () => void = () => undefined;
    let wake: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      off = this.onRunFinished((id) => id === runId && resolve());
    });
    const offRemote = this.signals.onRemote(() => wake());
    try {
      for (;;) {
        const run = await this.store.runs.get(runId);
        if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
        if (FINISHED_RUN_STATES.has(run.state)) return run;
        // the event covers this process; a notification (PostgreSQL) or the timeout other processes
        await Promise.race([finished, new Promise<void>((r) => ((wake = r), setTimeout(r, 1000).unref()))]);
      }
    } finally {
      off();
      offRemote();
    }
  }

  close(): void {
    void this.triggers.stop();
    void this.callbacks.stop();
    this.deadlines.close();
    this.timeouts.close();
    this.signals.close();
  }

  private async isMapped(runId: string, taskId: string): Promise<boolean> {
    return Boolean((await this.specs.of(runId)).byId.get(taskId)?.map);
  }
}
