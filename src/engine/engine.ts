/**
 * The engine: creates runs, applies attempt ends (engine/transitions) and hands ready work to workers,
 * all through the store. In one process, wake-ups are in-memory signals; other processes are seen through
 * the store (and, on PostgreSQL, LISTEN/NOTIFY).
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { LogStore } from "../logs/logStore.js";
import type { Clock } from "../core/clock.js";
import { formatDuration } from "../core/duration.js";
import { FINISHED_RUN_STATES, type RunState } from "../core/states.js";
import { validateWithSchema } from "../core/standardSchema.js";
import { SluiceError } from "../errors.js";
import type { DagSpec } from "../core/dagSpec.js";
import { quiet, type ClaimedAttempt, type EndedAttempt, type RunRecord, type Store, type Tx } from "../store/store.js";
import { decodeOutputs } from "../worker/outputs.js";
import type { AttemptResult, ClaimRequest, ResolvedTask, RunTriggerInfo, WorkerHost } from "../worker/worker.js";
import type { LoadedDag } from "./dagLoader.js";
import { indexSpec, type SpecIndex } from "./specIndex.js";
import { Triggers, type TriggerTarget } from "./triggers.js";
import { Effects, applyAttemptResults, attemptEnds, clearTasks, decideWaiting, finishRun, ruleDecides, failRun, initialTaskInstances, markTasks, settleRunState, startRun, type TransitionEnv } from "./transitions.js";
import { backfillPriority } from "../core/backfill.js";

export interface TriggerOptions {
  params?: Record<string, unknown>;
  /** Default: now. */
  logicalDate?: Date;
  /** The same key never creates a second run of the DAG. */
  idempotencyKey?: string;
  runType?: "manual" | "scheduled" | "backfill" | "event";
}

export type AttemptEvent =
  | { kind: "started"; attempt: ClaimedAttempt }
  | { kind: "ended"; attempt: ClaimedAttempt; result: AttemptResult };

export interface EngineOptions {
  store: Store;
  artifacts: ArtifactStore;
  logs: LogStore;
  clock: Clock;
  /** The DAGs whose code this process has loaded. */
  dags: ReadonlyMap<string, LoadedDag>;
  /** Where to find the code of other DAGs (the scheduler's folder), when a task of one must run. */
  loadCode?: (dagId: string, version: string) => Promise<LoadedDag | undefined>;
  random?: () => number;
  /** Workers' lease (config leaseMs): a worker silent for two leases with nothing running is buried. */
  leaseMs?: number;
  /** The ids of this process's workers (worker.ts's localWorkers): alive, whatever their pid suggests. */
  localWorkers: { has(workerId: string): boolean };
}

/** What insertRuns needs for one run. */
interface NewRun {
  dag: { dagId: string; version: string; spec: DagSpec; file: string | null };
  params: Record<string, unknown>;
  o: {
    runKey: string | null;
    runType: string;
    logicalDate: number;
    dataInterval: { start: number; end: number } | null;
    queued: boolean | "if_busy";
    then?: (tx: Tx) => Promise<void>;
    /** A backfill's run: its task instances get backfill claim priorities (core/backfill). */
    backfillId?: number;
  };
}

export class Engine implements WorkerHost {
  readonly store: Store;
  readonly artifacts: ArtifactStore;
  readonly logs: LogStore;
  readonly clock: Clock;
  private dags: ReadonlyMap<string, LoadedDag>;
  private loadCode: ((dagId: string, version: string) => Promise<LoadedDag | undefined>) | null;
  private readonly random: () => number;
  private readonly leaseMs: number;
  private readonly localWorkers: { has(workerId: string): boolean };
  private readonly events = new EventEmitter();
  /** `dagId@version` -> spec index; versions are immutable, so this never goes stale. */
  private readonly versions = new Map<string, SpecIndex>();
  private readonly runVersions = new Map<string, string>();
  private readonly runTimers = new Map<string, () => void>();
  private readonly env: TransitionEnv;
  /** Attempts claimed through this engine and not yet ended, for progress events. */
  private readonly live = new Map<number, ClaimedAttempt>();
  /** Asset-triggered and event-triggered runs (engine/triggers). */
  readonly triggers: Triggers;
  private remoteOff: (() => void) | null = null;
  /** DAGs of the scheduler's folder loaded through the code loader (`ensureDag`), for the HTTP API. */
  private readonly loadedOnDemand = new Map<string, LoadedDag>();

  constructor(opts: EngineOptions) {
    this.store = opts.store;
    this.artifacts = opts.artifacts;
    this.logs = opts.logs;
    this.clock = opts.clock;
    this.dags = opts.dags;
    this.loadCode = opts.loadCode ?? null;
    this.random = opts.random ?? Math.random;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.localWorkers = opts.localWorkers;
    this.events.setMaxListeners(0);
    this.env = {
      specFor: (runId) => this.specFor(runId),
      loadOutputs: async (tx, runId, taskId) => decodeOutputs(await tx.attempts.outputs(runId, taskId), this.artifacts, await this.isMapped(runId, taskId)),
      random: this.random,
    };
    this.triggers = new Triggers(this);
  }

  setCodeLoader(fn: (dagId: string, version: string) => Promise<LoadedDag | undefined>): void {
    this.loadCode = fn;
  }

  getDag(dagId: string): LoadedDag {
    const d = this.dags.get(dagId) ?? this.loadedOnDemand.get(dagId);
    if (!d) {
      const known = [...this.dags.keys()].sort();
      throw new SluiceError(
        "DAG_NOT_FOUND",
        `no DAG with id "${dagId}"${known.length ? `; known DAGs: ${known.join(", ")}` : "; no DAGs were loaded (check --dags)"}`,
        { details: { dagId } },
      );
    }
    return d;
  }

  /**
   * Make `getDag` know a DAG this process did not load itself (`sluice dev` and `sluice server` leave
   * the DAGs folder to the scheduler): its latest registered version's code is loaded through the code
   * loader. A no-op for DAGs loaded at start.
   */
  async ensureDag(dagId: string): Promise<void> {
    if (this.dags.has(dagId) || !this.loadCode) return;
    const row = await this.store.dags.get(dagId);
    if (!row || !row.isActive) return;
    const loaded = await this.loadCode(dagId, row.version);
    if (loaded && loaded.dag.version === row.version) this.loadedOnDemand.set(dagId, loaded);
  }

  /** Validate params and create a run with all its task instances, in one transaction. */
  async createRun(dagId: string, opts: TriggerOptions = {}): Promise<RunRecord> {
    await this.ensureDag(dagId);
    const { dag, file } = this.getDag(dagId);
    const params = await this.validateParams(dagId, dag.paramsSchema, opts.params ?? {}, dag.spec.paramsJsonSchema);
    const now = this.clock.now();
    return this.insertRun({ dagId, version: dag.version, spec: dag.spec, file }, params, {
      runKey: opts.idempotencyKey ? `key:${opts.idempotencyKey}` : null,
      runType: opts.runType ?? "manual",
      logicalDate: (opts.logicalDate ?? new Date(now)).getTime(),
      dataInterval: null,
      queued: false,
    });
  }

  /**
   * The run of a scheduled data interval: exactly one per (DAG, interval start), whoever asks and however
   * often (the store's unique key). It waits `queued` while the DAG has `maxActiveRuns` active runs.
   * `then` runs in the same transaction (the scheduler advances the DAG's next interval there).
   */
  async createScheduledRun(
    dag: { dagId: string; version: string; spec: DagSpec; file: string | null },
    params: Record<string, unknown>,
    interval: { start: number; end: number },
    then: (tx: Tx) => Promise<void>,
  ): Promise<RunRecord> {
    return this.insertRun(dag, params, {
      runKey: `sched:${new Date(interval.start).toISOString()}`,
      runType: "scheduled",
      logicalDate: interval.start,
      dataInterval: interval,
      queued: "if_busy",
      then,
    });
  }

  /**
   * Several scheduled runs in one transaction (group commit), each as createScheduledRun creates it: a
   * tick with many due DAGs pays for one commit instead of one per run (bench schedule-1000: the
   * burst of 1,000 runs took half the time).
   */
  async createScheduledRuns(
    items: readonly {
      dag: { dagId: string; version: string; spec: DagSpec; file: string | null };
      params: Record<string, unknown>;
      interval: { start: number; end: number };
      then: (tx: Tx) => Promise<void>;
    }[],
  ): Promise<RunRecord[]> {
    return this.insertRuns(
      items.map((it) => ({
        dag: it.dag,
        params: it.params,
        o: {
          runKey: `sched:${new Date(it.interval.start).toISOString()}`,
          runType: "scheduled",
          logicalDate: it.interval.start,
          dataInterval: it.interval,
          queued: "if_busy" as const,
          then: it.then,
        },
      })),
    );
  }

  /**
   * @internal A run created by a trigger (engine/triggers: asset updates, external events), with the
   * trigger's run key; `then` runs in the same transaction and throws to roll the run back.
   */
  async createTriggeredRun(
    target: TriggerTarget,
    o: { runKey: string; runType: "asset" | "event"; queued: boolean | "if_busy"; then: (tx: Tx) => Promise<void> },
  ): Promise<RunRecord> {
    return this.insertRun(target, target.params, {
      runKey: o.runKey,
      runType: o.runType,
      logicalDate: this.clock.now(),
      dataInterval: null,
      queued: o.queued,
      then: o.then,
    });
  }

  /**
   * @internal The version a triggered run of `dagId` gets: the code loaded in this process, else the
   * version the scheduler registered last. Paused DAGs, DAGs that are gone and DAGs with a param
   * without a default get none (`skip` says why).
   */
  async resolveTriggerTarget(dagId: string): Promise<TriggerTarget | { skip: string }> {
    const row = await this.store.dags.get(dagId);
    if (row?.isPaused) return { skip: `DAG "${dagId}" is paused` };
    const local = this.dags.get(dagId);
    if (local) {
      const { dag, file } = local;
      try {
        const params = await this.validateParams(dagId, dag.paramsSchema, {}, dag.spec.paramsJsonSchema);
        return { dagId, version: dag.version, spec: dag.spec, file: file || null, params };
      } catch (e) {
        return { skip: (e as Error).message };
      }
    }
    if (!row || !row.isActive) return { skip: `DAG "${dagId}" is not in the DAGs folder any more` };
    if (row.defaultParams === null) return { skip: `DAG "${dagId}": ${row.paramsError ?? "a param has no default"}` };
    const stored = await this.store.dags.getVersion(dagId, row.version);
    if (!stored) return { skip: `DAG "${dagId}": version ${row.version} is not in the database` };
    return { dagId, version: row.version, spec: stored.spec, file: stored.file, params: row.defaultParams };
  }

  /** WorkerHost: what triggered a run (the external event, the asset events it consumed). */
  runTriggers(runId: string): Promise<RunTriggerInfo> {
    return this.triggers.forRun(runId);
  }

  /**
   * A backfill's run of a data interval: the same key as the scheduled run of that interval, so there is
   * one run per (DAG, logical date) whoever creates it first. When it already exists nothing is created;
   * `then` runs in the same transaction either way (the backfill records or skips the interval there, and
   * throws to roll back when it must not start another run).
   */
  async createBackfillRun(
    dag: { dagId: string; version: string; spec: DagSpec; file: string | null },
    params: Record<string, unknown>,
    interval: { start: number; end: number },
    backfillId: number,
    then: (tx: Tx) => Promise<void>,
  ): Promise<RunRecord> {
    return this.insertRun(dag, params, {
      runKey: `sched:${new Date(interval.start).toISOString()}`,
      runType: "backfill",
      logicalDate: interval.start,
      dataInterval: interval,
      queued: false,
      backfillId,
      then,
    });
  }

  /**
   * Reprocess a finished run for a backfill (Airflow's backfill "clear"): every task instance is cleared,
   * the run becomes the backfill's (run type "backfill", backfill claim priorities, a fresh start time and
   * run timeout) and runs again. A run that is still active is left alone. `then` runs in the same
   * transaction either way.
   */
  async reprocessForBackfill(runId: string, backfillId: number, then: (tx: Tx) => Promise<void>): Promise<RunRecord> {
    const idx = await this.specFor(runId);
    let fx = new Effects();
    const priorities = new Map<number, string[]>();
    for (const t of idx.spec.tasks) {
      const p = backfillPriority(t.priority);
      priorities.set(p, [...(priorities.get(p) ?? []), t.id]);
    }
    const { run, aborted } = await this.store.tx(async (tx) => {
      fx = new Effects(); // a transaction may run again (PostgreSQL conflicts): start afresh
      await tx.lockRuns([runId]);
      const before = await tx.runs.get(runId);
      if (!before) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
      let aborted: number[] = [];
      if (FINISHED_RUN_STATES.has(before.state)) {
        const now = tx.now();
        // priorities first: the clear below reads the task instances and schedules the roots
        for (const [priority, taskIds] of priorities) await tx.taskInstances.setPriority(runId, taskIds, priority);
        aborted = await clearTasks(tx, this.env, fx, runId, idx.spec.tasks.map((t) => t.id), false);
        await tx.runs.adoptForBackfill(runId, backfillId, now, idx.spec.runTimeoutMs === null ? null : now + idx.spec.runTimeoutMs);
        await fx.flush(tx, this.env);
        await tx.notifyWake();
      }
      await then(tx);
      return { run: (await tx.runs.get(runId))!, aborted };
    });
    if (aborted.length) this.events.emit("abort", aborted, new SluiceError("CANCELLED", "the task was cleared"));
    this.afterCommit(fx);
    this.watchRunTimeout(run);
    return run;
  }

  private async insertRun(dag: NewRun["dag"], params: Record<string, unknown>, o: NewRun["o"]): Promise<RunRecord> {
    return (await this.insertRuns([{ dag, params, o }]))[0]!;
  }

  /** Create runs with all their task instances, in one transaction. */
  private async insertRuns(items: readonly NewRun[]): Promise<RunRecord[]> {
    const now = this.clock.now();
    const prepared = items.map(({ dag, params, o }) => {
      const idx = this.indexFor(dag.dagId, dag.version, () => dag.spec);
      const runId = newRunId(now);
      const instances = initialTaskInstances(idx, now);
      if (o.backfillId !== undefined) for (const i of instances) i.priority = backfillPriority(i.priority);
      // known before the transaction: the transitions in it look the spec up (a miss would query outside it)
      this.runVersions.set(runId, `${dag.dagId}@${dag.version}`);
      return { dag, params, o, idx, runId, runKey: o.runKey ?? `run:${runId}`, instances };
    });
    let fx = new Effects();
    const runs = await this.store.tx(async (tx) => {
      fx = new Effects(); // a transaction may run again (PostgreSQL conflicts): start afresh
      const out: RunRecord[] = [];
      for (const { dag, params, o, idx, runId, runKey, instances } of prepared) {
        const { dagId, spec } = dag;
        const existing = await tx.runs.findByKey(dagId, runKey);
        if (existing) {
          await o.then?.(tx);
          out.push(existing);
          continue;
        }
        const unfinished = instances.filter((i) => i.state !== "skipped").length;
        const queued = o.queued === "if_busy" ? (await tx.dags.countActiveRuns(dagId)) >= spec.maxActiveRuns : o.queued;
        await tx.dags.saveVersion(dagId, dag.version, spec, dag.file);
        await tx.runs.insert(
          {
            runId,
            dagId,
            dagVersion: dag.version,
            runKey,
            runType: o.runType,
            state: unfinished === 0 ? "success" : queued ? "queued" : "running",
            logicalDate: o.logicalDate,
            dataIntervalStart: o.dataInterval?.start ?? null,
            dataIntervalEnd: o.dataInterval?.end ?? null,
            params,
            unfinished,
            createdAt: now,
            startedAt: queued ? null : now,
            timeoutAt: queued || spec.runTimeoutMs === null ? null : now + spec.runTimeoutMs,
            ...(o.backfillId !== undefined ? { backfillId: o.backfillId } : {}),
          },
          instances,
        );
        await startRun(tx, this.env, fx, idx, runId);
        // its roots are ready to claim: wake the workers (other processes' through NOTIFY, not their poll)
        if (!queued && instances.some((i) => i.state === "scheduled")) fx.readyRuns.add(runId);
        await fx.flush(tx, this.env);
        await o.then?.(tx);
        out.push((await tx.runs.get(runId))!);
      }
      if (fx.readyRuns.size > 0 || fx.finishedRuns.size > 0) await tx.notifyWake();
      return out;
    });
    for (const run of runs) this.runVersions.set(run.runId, `${run.dagId}@${run.dagVersion}`);
    this.afterCommit(fx);
    for (const run of runs) this.watchRunTimeout(run);
    this.events.emit("wake");
    for (const run of runs) this.events.emit("runCreated", run);
    return runs;
  }

  /** Start queued runs of a DAG while it has fewer than `maxActiveRuns` running, oldest logical date first. */
  async promoteQueuedRuns(dagId: string, maxActiveRuns: number): Promise<RunRecord[]> {
    const now = this.clock.now();
    const started = await this.store.tx(async (tx) => {
      const ids = await tx.runs.promoteQueued(dagId, maxActiveRuns, now);
      if (ids.length) await tx.notifyWake();
      const runs: RunRecord[] = [];
      for (const id of ids) {
        const idx = await this.specFor(id).catch(() => null);
        const limit = idx?.spec.runTimeoutMs ?? null;
        if (limit !== null) await tx.runs.setTimeoutAt(id, now + limit);
        runs.push((await tx.runs.get(id))!);
      }
      return runs;
    });
    for (const r of started) this.watchRunTimeout(r);
    if (started.length) this.events.emit("wake");
    return started;
  }

  /** @internal Params checked against the DAG's schema (backfills check the defaults their runs get). */
  async validateParams(
    dagId: string,
    schema: LoadedDag["dag"]["paramsSchema"],
    raw: Record<string, unknown>,
    jsonSchema: unknown,
  ): Promise<Record<string, unknown>> {
    // Schema libraries often drop unknown keys silently (zod objects do): a typo must not vanish.
    const known = (jsonSchema as { properties?: Record<string, unknown>; additionalProperties?: unknown } | null)?.properties;
    if (known && (jsonSchema as { additionalProperties?: unknown }).additionalProperties !== true) {
      const unknown = Object.keys(raw).filter((k) => !(k in known));
      if (unknown.length) {
        throw new SluiceError(
          "INVALID_PARAM",
          `DAG "${dagId}" has no param ${unknown.map((k) => `"${k}"`).join(", ")}; its params are: ${Object.keys(known).join(", ") || "(none)"}`,
          { details: { dagId, param: unknown[0] } },
        );
      }
    }
    if (!schema) {
      const extra = Object.keys(raw);
      if (extra.length) throw new SluiceError("INVALID_PARAM", `DAG "${dagId}" takes no params, got ${extra.map((k) => `"${k}"`).join(", ")}`, { details: { dagId, param: extra[0] } });
      return {};
    }
    const checked = await validateWithSchema(schema, raw);
    if (!checked.ok) {
      const first = checked.issues[0]!;
      const all = checked.issues.map((i) => (i.path ? `param "${i.path}": ${i.message}` : i.message)).join("; ");
      throw new SluiceError("INVALID_PARAM", `DAG "${dagId}": ${all}`, { details: { dagId, param: first.path, issues: checked.issues } });
    }
    if (typeof checked.value !== "object" || checked.value === null) throw new SluiceError("INVALID_PARAM", `DAG "${dagId}": params must be an object`);
    return JSON.parse(JSON.stringify(checked.value)) as Record<string, unknown>;
  }

  /**
   * WorkerHost: record ends (group commit) and claim the next work in the same transaction. On PostgreSQL
   * that is two round trips (decision 0013): BEGIN, the run locks, the ends, the task instances they
   * touch and the claim's reads in one; the writes, the new attempts and COMMIT in the other.
   */
  async settle(results: AttemptResult[], claim: ClaimRequest | null): Promise<ClaimedAttempt[]> {
    let fx = new Effects();
    // the runs these results belong to, when known: locked first, in one order (PostgreSQL)
    const runIds = [...new Set(results.flatMap((r) => this.live.get(r.attemptId)?.runId ?? []))];
    const ends = attemptEnds(results);
    const ahead = this.readAhead(results);
    let notLive = false;
    /** Work made ready after the claim chose its rows (a fan-in task decided on its sums): not claimed here. */
    let readyLate = false;
    const { claimed, chosen } = await this.store.tx(async (tx) => {
      fx = new Effects(); // a transaction may run again (PostgreSQL conflicts): start afresh
      // issued together; each marked handled, since a failure of one leaves the others unread
      const runs = quiet(tx.runRows(runIds));
      const ended = quiet(ends.length ? tx.attempts.endMany(ends) : Promise.resolve(new Map<number, EndedAttempt>()));
      const rows = [...ahead].map(([runId, taskIds]) => quiet(tx.taskInstances.getMany(runId, taskIds)));
      const reads = claim ? tx.sendClaimReads(claim) : null;
      await runs;
      for (const [i, [runId, taskIds]] of [...ahead].entries()) {
        // fan-in rows only foresee whether counting into them decides them; the others are read to write
        const idx = this.cachedSpec(runId)!;
        const read = await rows[i]!;
        fx.tis.prime(runId, taskIds.filter((t) => !idx.fanIn.has(t)), read);
        for (const t of taskIds) if (idx.fanIn.has(t)) fx.foreseen.set(`${runId}\0${t}`, read.filter((r) => r.taskId === t));
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
      readyLate = fx.readyTis.size > readyAtChoice;
      // NOTIFY (delivered at commit) only when another process may have something to do: a run ended
      // (its waiters), a retry is due later, or work became ready that this claim did not take. A chain's
      // next task, claimed right here, would otherwise wake every other worker into an empty claim that
      // contends with this worker's next settle.
      // A worker serving some queues only (`sluice worker` serves "default") cannot know that it saw
      // everything, but when it claimed every task instance this group made ready, there is nothing new.
      const tookAll = claim !== null && !readyLate && ((got.chosen.length < claim.limit && sawEverything(claim)) || claimedAll(fx.readyTis, got.chosen));
      if ((fx.readyRuns.size > 0 && !tookAll) || fx.finishedRuns.size > 0 || fx.nextRetryAt !== null) void tx.notifyWake();
      return got;
    }, { lockRuns: runIds, runLock: "key share" }); // settles and claims of one run go on side by side (Tx.runLock)
    const got = await claimed; // answered before the COMMIT
    // buried by a sweep while it was alive (a long pause): it counts again, and claims at its next settle
    if (notLive && claim) {
      await this.store.workers.revive(claim.workerId);
      this.events.emit("wake", null);
    }
    this.afterCommit(fx, claim && chosen.length < claim.limit && !readyLate ? claim.workerId : null);
    if (this.events.listenerCount("attempt") > 0) {
      for (const r of results) {
        const a = this.live.get(r.attemptId);
        // a sensor's poke that timed it out ended its attempt in the engine: report that end
        if (a && !fx.fenced.includes(r.attemptId)) this.events.emit("attempt", { kind: "ended", attempt: a, result: fx.pokeEnds.get(r.attemptId) ?? r } satisfies AttemptEvent);
      }
      for (const a of got) this.events.emit("attempt", { kind: "started", attempt: a } satisfies AttemptEvent);
    }
    for (const r of results) this.live.delete(r.attemptId);
    for (const a of got) this.live.set(a.attemptId, a);
    return got;
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
      const idx = a && this.cachedSpec(a.runId);
      const task = idx?.byId.get(a!.taskId);
      if (!a || !idx || !task) continue;
      let set = out.get(a.runId);
      if (!set) out.set(a.runId, (set = new Set()));
      for (const d of task.downstream) set.add(d);
      if (r.state === "up_for_reschedule") set.add(a.taskId);
    }
    return new Map([...out].filter(([, s]) => s.size > 0).map(([runId, s]) => [runId, [...s]]));
  }

  /** Attempts starting and ending in this process (for progress output). */
  onAttempt(cb: (e: AttemptEvent) => void): () => void {
    this.events.on("attempt", cb);
    return () => this.events.off("attempt", cb);
  }

  /** `satisfied`: a worker that just claimed everything it could see; it needs no wake-up from its own commit. */
  private afterCommit(fx: Effects, satisfied: string | null = null): void {
    // fan-in counters added to without waiting that other writers completed meanwhile: decide them
    for (const bumped of fx.unconfirmedBumps) {
      void bumped.then(async (rows) => {
        const decide = new Map<string, Set<string>>();
        for (const ti of rows) {
          if (!ruleDecides(await this.specFor(ti.runId), ti)) continue;
          if (!decide.has(ti.runId)) decide.set(ti.runId, new Set());
          decide.get(ti.runId)!.add(ti.taskId);
        }
        for (const [runId, taskIds] of decide) await this.reconcile(runId, [...taskIds]);
      }).catch(() => undefined); // the stall sweep (recoverLostAttempts) decides them in the end
    }
    // a count written without waiting that another writer brought to zero meanwhile: finish that run
    for (const counts of fx.unconfirmed) {
      void counts.then((left) => {
        for (const [runId, n] of left) if (n <= 0 && !fx.finishedRuns.has(runId)) void this.finishRunIfDone(runId).catch(() => undefined); // the sweep finishes it then
      }, () => undefined);
    }
    for (const [runId, state] of fx.finishedRuns) {
      this.runTimers.get(runId)?.();
      this.runTimers.delete(runId);
      this.events.emit("runFinished", runId, state);
    }
    if (fx.readyRuns.size > 0 || fx.nextRetryAt !== null) this.events.emit("wake", satisfied);
    if (fx.assetEvents > 0) this.triggers.evaluateSoon();
  }

  async resolveTask(a: Pick<ClaimedAttempt, "runId" | "dagId" | "taskId" | "dagVersion">): Promise<ResolvedTask> {
    const idx = await this.specFor(a.runId);
    const task = idx.byId.get(a.taskId);
    const loaded = this.dags.get(a.dagId) ?? (await this.loadCode?.(a.dagId, a.dagVersion));
    const impl = loaded?.dag.impls.get(a.taskId);
    if (!task || !loaded || !impl) {
      throw new SluiceError(
        "TASK_NOT_FOUND",
        `task "${a.taskId}" of DAG "${a.dagId}" is not in the loaded DAG code (was the DAG file removed or the task renamed?)`,
        { details: { dagId: a.dagId, taskId: a.taskId } },
      );
    }
    return { task, impl, dagFile: loaded.file };
  }

  async loadOutputs(runId: string, taskId: string): Promise<unknown[]> {
    return decodeOutputs(await this.store.attempts.outputs(runId, taskId), this.artifacts, await this.isMapped(runId, taskId));
  }

  private async isMapped(runId: string, taskId: string): Promise<boolean> {
    return Boolean((await this.specFor(runId)).byId.get(taskId)?.map);
  }

  /** `cb` gets the id of a worker that needs no wake-up (it caused it), or null. */
  onWake(cb: (except: string | null) => void): () => void {
    this.listenToOtherProcesses();
    const listener = (except: string | null = null) => cb(except);
    this.events.on("wake", listener);
    return () => this.events.off("wake", listener);
  }

  onAbort(cb: (attemptIds: number[], reason: SluiceError) => void): () => void {
    this.events.on("abort", cb);
    return () => this.events.off("abort", cb);
  }

  onRunFinished(cb: (runId: string, state: RunState) => void): () => void {
    this.events.on("runFinished", cb);
    return () => this.events.off("runFinished", cb);
  }

  /**
   * PostgreSQL: wake this process's workers and waiters when another process's commit may have made work
   * ready or finished a run (LISTEN/NOTIFY, store/notifier.ts). Once per engine; SQLite: nothing.
   */
  private listenToOtherProcesses(): void {
    if (this.remoteOff || !this.store.notifier) return;
    this.remoteOff = this.store.notifier.subscribe(() => {
      this.events.emit("wake", null);
      this.events.emit("remote");
    });
  }

  /** Resolves when the run reaches a final state (checks the store, then waits for the event). */
  async waitForRun(runId: string): Promise<RunRecord> {
    this.listenToOtherProcesses();
    let off: () => void = () => undefined;
    let wake: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      off = this.onRunFinished((id) => id === runId && resolve());
    });
    const remote = () => wake();
    this.events.on("remote", remote);
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
      this.events.off("remote", remote);
    }
  }

  /** The spec of a run's DAG version when this process has it at hand (no query). */
  private cachedSpec(runId: string): SpecIndex | undefined {
    const key = this.runVersions.get(runId);
    return key ? this.versions.get(key) : undefined;
  }

  /** The spec of the DAG version a run was created with. */
  async specFor(runId: string): Promise<SpecIndex> {
    const key = this.runVersions.get(runId);
    const idx = key ? this.versions.get(key) : undefined;
    if (idx) return idx;
    // A worker that has just claimed dozens of a new run's tasks asks for its spec once per task, all at
    // once: one load serves them (a 10,000-task spec is a megabyte of JSON to fetch and parse).
    let loading = this.specLoads.get(runId);
    if (!loading) {
      loading = this.loadSpecFor(runId).finally(() => this.specLoads.delete(runId));
      this.specLoads.set(runId, loading);
    }
    return loading;
  }

  private readonly specLoads = new Map<string, Promise<SpecIndex>>();

  private async loadSpecFor(runId: string): Promise<SpecIndex> {
    const run = await this.store.runs.get(runId);
    if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
    const key = `${run.dagId}@${run.dagVersion}`;
    this.runVersions.set(runId, key);
    const cached = this.versions.get(key);
    if (cached) return cached;
    const stored = await this.store.dags.getVersion(run.dagId, run.dagVersion);
    if (!stored) throw new SluiceError("DB_CORRUPT", `run "${runId}" refers to DAG version ${run.dagVersion} of "${run.dagId}", which is not in the database`);
    return this.indexFor(run.dagId, run.dagVersion, () => stored.spec);
  }

  private indexFor(dagId: string, version: string, spec: () => SpecIndex["spec"]): SpecIndex {
    const key = `${dagId}@${version}`;
    let idx = this.versions.get(key);
    if (!idx) {
      idx = indexSpec(spec());
      this.versions.set(key, idx);
    }
    return idx;
  }

  /** Fail a run that is still going: running attempts are aborted, the rest is not started. */
  async cancelRun(runId: string, reason = "cancelled by user", code: "CANCELLED" | "TIMEOUT" = "CANCELLED"): Promise<RunRecord> {
    const aborted = await this.store.tx(async (tx) => {
      await tx.lockRuns([runId]);
      const run = await tx.runs.get(runId);
      if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
      if (FINISHED_RUN_STATES.has(run.state)) throw new SluiceError("RUN_FINISHED", `run "${runId}" has already finished (${run.state})`);
      const ids = await failRun(tx, runId, reason, code);
      await tx.notifyWake();
      return ids;
    });
    this.runTimers.get(runId)?.();
    this.runTimers.delete(runId);
    this.events.emit("abort", aborted, new SluiceError(code, reason));
    const run = (await this.store.runs.get(runId))!;
    this.events.emit("runFinished", runId, run.state);
    return run;
  }

  /**
   * Clear task instances so they run again (with `downstream`, everything after them too). The run is
   * running again; a worker driving it (or `sluice runs resume`) runs them.
   */
  async clearTasks(runId: string, taskIds: string[], downstream: boolean, mapIndex?: number): Promise<{ cleared: string[] }> {
    const idx = await this.specFor(runId);
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
    let fx = new Effects();
    const aborted = await this.store.tx(async (tx) => {
      fx = new Effects(); // a transaction may run again (PostgreSQL conflicts): start afresh
      await tx.lockRuns([runId]);
      const ids = await clearTasks(tx, this.env, fx, runId, taskIds, downstream, mapIndex);
      await fx.flush(tx, this.env);
      await tx.notifyWake();
      return ids;
    });
    if (aborted.length) this.events.emit("abort", aborted, new SluiceError("CANCELLED", "the task was cleared"));
    this.afterCommit(fx);
    const run = (await this.store.runs.get(runId))!;
    this.watchRunTimeout(run);
    const cleared = new Set<string>();
    const queue = [...taskIds];
    for (let i = 0; i < queue.length; i++) {
      cleared.add(queue[i]!);
      if (downstream) for (const d of idx.byId.get(queue[i]!)!.downstream) if (!cleared.has(d)) queue.push(d);
    }
    return { cleared: idx.spec.tasks.filter((t) => cleared.has(t.id)).map((t) => t.id) };
  }

  /**
   * Airflow's "mark success" / "mark failed": set task instances (every map index, or one) to `state`
   * without running them. A running attempt is ended and aborted; waiting downstream tasks are
   * re-evaluated against their upstream's states now (they may run, skip or fail upstream), and a run
   * with nothing left gets its state derived again. Downstream tasks that already finished keep their
   * state (clear them to run them again).
   */
  async markTasks(runId: string, taskId: string, state: "success" | "failed", mapIndex?: number): Promise<{ marked: number }> {
    const idx = await this.specFor(runId);
    if (!idx.byId.has(taskId)) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task "${taskId}"`, { details: { runId, taskId } });
    let fx = new Effects();
    const { aborted, marked } = await this.store.tx(async (tx) => {
      fx = new Effects(); // a transaction may run again (PostgreSQL conflicts): start afresh
      await tx.lockRuns([runId]);
      const r = await markTasks(tx, this.env, fx, runId, taskId, state, mapIndex);
      await fx.flush(tx, this.env);
      await settleRunState(tx, this.env, fx, runId);
      return r;
    });
    if (aborted.length) this.events.emit("abort", aborted, new SluiceError("CANCELLED", `the task was marked ${state}`));
    this.afterCommit(fx);
    return { marked };
  }

  /** Arm the run timeout of an active run (after creation, or when this process takes it over). */
  watchRunTimeout(run: RunRecord): void {
    if (run.timeoutAt === null || FINISHED_RUN_STATES.has(run.state) || this.runTimers.has(run.runId)) return;
    const limit = run.timeoutAt - run.startedAt!;
    const cancel = this.clock.setTimer(run.timeoutAt - this.clock.now(), () => {
      this.runTimers.delete(run.runId);
      this.cancelRun(run.runId, `run timed out after ${formatDuration(limit)}`, "TIMEOUT").catch(() => undefined);
    });
    this.runTimers.set(run.runId, cancel);
  }

  /**
   * Decide fan-in task instances whose counters other transactions completed meanwhile (Effects.
   * unconfirmedBumps): lock them, apply their trigger rules, cascade — as their deciding settle would have.
   */
  async reconcile(runId: string, taskIds: string[]): Promise<void> {
    let fx = new Effects();
    await this.store.tx(async (tx) => {
      fx = new Effects();
      await tx.runRows([runId]);
      await decideWaiting(tx, this.env, fx, await tx.taskInstances.lockWaiting(runId, taskIds));
      await fx.flush(tx, this.env);
      if (fx.readyRuns.size > 0 || fx.finishedRuns.size > 0 || fx.nextRetryAt !== null) void tx.notifyWake();
    }, { lockRuns: [runId], runLock: "key share" });
    this.afterCommit(fx);
  }

  /**
   * A stalled run (Store.runs.stalled): under its lock, apply the rules of its waiting fan-in task
   * instances to their counters. A run whose count says unfinished but whose task instances have all
   * ended is finished. One that still has nothing to do after that can never end by itself: it fails,
   * with a reason that says so (Airflow: "Deadlock; marking run failed").
   */
  async unstall(runId: string): Promise<void> {
    const idx = await this.specFor(runId);
    let fx = new Effects();
    await this.store.tx(async (tx) => {
      fx = new Effects();
      await tx.runRows([runId]); // FOR UPDATE: the run's only writer
      if (!(await tx.runs.isStalled(runId))) return;
      const decided = await decideWaiting(tx, this.env, fx, await tx.taskInstances.lockWaiting(runId, [...idx.fanIn]));
      await fx.flush(tx, this.env);
      if (decided === 0 && fx.finishedRuns.size === 0) {
        if ((await tx.runs.recountUnfinished(runId)) === 0) await finishRun(tx, this.env, fx, runId);
        else {
          await failRun(tx, runId, "stalled: no task of the run can run any more (its unfinished tasks wait for upstream tasks that will not end)", "STALLED");
          fx.finishedRuns.set(runId, "failed");
        }
      }
      await tx.notifyWake();
    });
    this.afterCommit(fx);
  }

  /**
   * Finish a run whose last task instances finished in transactions that each thought another one was
   * left (settles of one run run side by side; Effects.unconfirmed) — or whose finishing transaction's
   * process died right after committing (the sweep in `recoverLostAttempts`).
   */
  async finishRunIfDone(runId: string): Promise<void> {
    let fx = new Effects();
    await this.store.tx(async (tx) => {
      fx = new Effects();
      await tx.runRows([runId]); // FOR UPDATE: the run's only writer
      const run = tx.knownRun(runId);
      if (!run || run.unfinished > 0 || (run.state !== "running" && run.state !== "queued")) return;
      await finishRun(tx, this.env, fx, runId);
      await tx.notifyWake();
    });
    this.afterCommit(fx);
  }

  /**
   * Attempts whose worker is gone get a new attempt (counted against retries): on SQLite, workers on this
   * host whose process is dead are detected at once; others (and every worker on PostgreSQL) when their
   * lease expires — a crash before the first heartbeat included, since a claim sets the lease.
   */
  async recoverLostAttempts(): Promise<number> {
    for (const runId of await this.store.runs.withNothingLeft()) await this.finishRunIfDone(runId);
    for (const runId of await this.store.runs.stalled()) await this.unstall(runId);
    const recovered = await this.failLostAttempts();
    // PostgreSQL: workers silent for two leases whose attempts are gone stop counting (capacity.ts)
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
    for (const runId of new Set(lost.map((l) => l.runId))) await this.specFor(runId);
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

  close(): void {
    this.remoteOff?.();
    this.remoteOff = null;
    void this.triggers.stop();
    for (const cancel of this.runTimers.values()) cancel();
    this.runTimers.clear();
    this.events.removeAllListeners();
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

/**
 * Sortable and readable: 20261122T040249-3f9a2c1be4d0. The random part has 48 bits: a scheduler creates
 * 1,000 runs within one second (bench schedule-1000), and with the 20 bits it had, two of them drew the
 * same id in about four bursts of ten (birthday bound n²/2^21); with 48 bits, once in ~5·10^8 bursts.
 */
function newRunId(now: number): string {
  const iso = new Date(now).toISOString();
  const stamp = iso.slice(0, 19).replace(/[-:]/g, "");
  return `${stamp}-${randomBytes(6).toString("hex")}`;
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
