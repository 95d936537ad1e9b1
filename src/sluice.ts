/**
 * One Sluice in one process: the store, the loaded DAGs, the engine and a worker. The CLI and tests use
 * this; `sluice dev` and `sluice run` are thin layers over it.
 */
import { setEgressPolicy } from "./core/egress.js";
import { LocalArtifactStore, type ArtifactStore } from "./artifacts/artifactStore.js";
import { DatabaseArtifactStore } from "./store/artifacts.js";
import { DatabaseLogStore, FileLogStore, type LogStore } from "./logs/logStore.js";
import { systemClock, type Clock } from "./core/clock.js";
import type { RunState, TaskState } from "./core/states.js";
import type { SluiceConfig } from "./config.js";
import type { Capacity } from "./core/resources.js";
import { loadDagFolder, type DagBag } from "./engine/dagLoader.js";
import { dagModuleCacheDir } from "./executors/dagModuleCache.js";
import { Engine, type TriggerOptions } from "./engine/engine.js";
import type { EventOutcome } from "./engine/triggers.js";
import {
  BackfillDriver,
  cancelBackfill,
  createBackfill,
  planBackfill,
  requireBackfill,
  type BackfillHooks,
  type BackfillPlan,
  type BackfillRequest,
  type BackfillSummary,
} from "./engine/backfill.js";
import type { BackfillRecord } from "./store/backfills.js";
import { SluiceError } from "./errors.js";
import { Store, type RunRecord, type TaskInstanceRecord } from "./store/store.js";
import { localWorkers, Worker } from "./worker/worker.js";
import type { Dag } from "./dsl/dag.js";
import { Secrets } from "./secrets/secrets.js";
import { flushTracing, startTracing } from "./tracing/tracing.js";

/** A run's summary lists its task instances when it has at most this many; beyond, counts and the failed ones only. */
export const SUMMARY_TASKS = 1000;
/** Failed task instances a summary names, at most (`counts.failed` says how many there are). */
export const SUMMARY_FAILED = 100;

/** One task instance in a run's summary. */
export interface SummaryTask {
  taskId: string;
  mapIndex: number;
  state: TaskState;
  attempts: number;
}

/**
 * How a run ended, in a size that does not grow with the run: counts by state and the failed task
 * instances. The instances themselves are paged on demand (`store.taskInstances.page`, `GET
 * /api/v1/runs/{runId}/tasks`, `sluice runs show`).
 */
export interface RunSummary {
  runId: string;
  dagId: string;
  state: RunState;
  stateReason: string | null;
  /** Task instances by state; states no instance is in are left out. */
  counts: Partial<Record<TaskState, number>>;
  /** Task instances in all. */
  total: number;
  /** The failed task instances (not upstream_failed: those follow from these), by task id, at most SUMMARY_FAILED. */
  failed: SummaryTask[];
  /** Every task instance in DAG order when there are at most SUMMARY_TASKS; else empty (`tasksOmitted`). */
  tasks: SummaryTask[];
  /** The run has more than SUMMARY_TASKS task instances: `tasks` is empty, page them instead. */
  tasksOmitted: boolean;
}

export interface OpenOptions {
  clock?: Clock;
  /** Load the DAG files (default true); commands that only read the store skip it. */
  loadDags?: boolean;
  /** DAGs defined in code rather than in files (programs, benchmarks, tests). */
  dags?: Dag[];
  /** Migrate the database on open (default true). */
  migrate?: boolean;
}

export class Sluice {
  private constructor(
    readonly config: SluiceConfig,
    readonly store: Store,
    readonly engine: Engine,
    readonly bag: DagBag,
  ) {}

  #secrets?: Secrets;

  /** Connections and variables: the keyring and the backends they are looked up in (secrets/secrets.ts). */
  get secrets(): Secrets {
    return (this.#secrets ??= new Secrets(this.config, this.store));
  }

  static async open(config: SluiceConfig, opts: OpenOptions = {}): Promise<Sluice> {
    const clock = opts.clock ?? systemClock;
    // outbound HTTP of this process (sensors, connection tests) follows the configured policy
    setEgressPolicy(config.egress);
    // spans of this process (OTEL_* variables; off by default): on before the engine, which checks once
    await startTracing(config.tracing);
    const bag: DagBag = opts.loadDags === false ? { dir: config.dagsDir, dags: new Map(), errors: [] } : await loadDagFolder(config.dagsDir, { importTimeoutMs: config.dagImportTimeoutMs, cacheDir: dagModuleCacheDir(config.home) });
    for (const dag of opts.dags ?? []) {
      if (bag.dags.has(dag.id)) throw new SluiceError("INVALID_DAG", `DAG id "${dag.id}" is defined twice`);
      // in-code DAGs have no file; process-isolated tasks need one, so they must come from DAG files
      bag.dags.set(dag.id, { dag, file: "" });
    }
    const store = await Store.open({
      url: config.databaseUrl,
      clock,
      busyTimeoutMs: config.busyTimeoutMs,
      poolSize: config.dbPoolSize,
      diskFull: config.diskFull,
      directUrl: config.databaseDirectUrl,
      ...(opts.migrate === false ? { migrate: false } : {}),
    });
    const engine = new Engine({ store, artifacts: artifactStoreFor(config, store), logs: logStoreFor(config, store), clock, dags: bag.dags, leaseMs: config.leaseMs, queuedTimeoutMs: config.queuedTimeoutMs, localWorkers, secretKey: config.secretKey });
    // DAGs defined in code have no scheduler to register their assets and events: register them here
    if (opts.dags?.length) {
      try {
        await engine.triggers.register(opts.dags.map((d) => ({ id: d.id, spec: d.spec })));
      } catch (e) {
        engine.close();
        await store.close();
        throw e;
      }
    }
    const sluice = new Sluice(config, store, engine, bag);
    // callbacks link to the UI at SLUICE_PUBLIC_URL and reach connections as tasks do (decision 0019)
    engine.callbacks.configure({ publicUrl: config.publicUrl ?? `http://${config.host}:${config.port}`, secrets: sluice.secrets, leaseMs: 2 * config.leaseMs });
    return sluice;
  }

  /** A worker of this process: of every active run, of one run, or (`backfillId`) of one backfill's runs. */
  newWorker(runId?: string, only: { backfillId?: number; queues?: string[]; resources?: Capacity } = {}): Worker {
    const c = this.config;
    return new Worker(this.engine, {
      concurrency: c.concurrency,
      leaseMs: c.leaseMs,
      heartbeatMs: c.heartbeatMs,
      inlineOutputLimit: c.inlineOutputLimit,
      maxLogBytes: c.maxLogBytes,
      python: c.python,
      taskEnv: c.taskEnv,
      processPool: c.processPool,
      secrets: this.secrets,
      secretKey: c.secretKey,
      dagsDir: c.dagsDir,
      databaseUrl: c.databaseUrl,
      busyTimeoutMs: c.busyTimeoutMs,
      ...(runId ? { runId } : {}),
      ...(only.backfillId !== undefined ? { backfillId: only.backfillId } : {}),
      ...(only.queues ? { queues: only.queues } : {}),
      ...(only.resources ? { resources: only.resources } : {}),
    });
  }

  /**
   * What a backfill would do, interval by interval, without doing it (`sluice backfill --dry-run`).
   *
   * @example
   * const plan = await s.planBackfill({ dagId: "etl", from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 31) });
   */
  planBackfill(req: BackfillRequest): Promise<BackfillPlan> {
    return planBackfill(this.engine, req);
  }

  /**
   * Create a backfill and drive it to its end in this process: runs for the DAG's past data intervals in
   * [from, to], at most `maxActive` at once, their tasks run by a worker of this process (`runTasks:
   * false`: by other workers). The same request while it is running (say, after a crash) resumes it.
   *
   * @example
   * const summary = await s.backfill({ dagId: "etl", from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 31), reprocess: "failed" });
   * summary.state; // "success" when every run succeeded
   */
  async backfill(req: BackfillRequest, opts: BackfillDriveOptions = {}): Promise<BackfillSummary> {
    const { backfill, resumed } = await createBackfill(this.engine, req);
    opts.hooks?.onStart?.(backfill, resumed);
    return this.driveBackfill(backfill.backfillId, opts);
  }

  /** Continue a backfill in this process (after a crash of its driver); a finished one just reports. */
  async resumeBackfill(backfillId: number, opts: BackfillDriveOptions = {}): Promise<BackfillSummary> {
    const b = await requireBackfill(this.store, backfillId);
    opts.hooks?.onStart?.(b, true);
    return this.driveBackfill(backfillId, opts);
  }

  /** Cancel a backfill from any process: no more of its runs start; running ones finish. */
  cancelBackfill(backfillId: number, reason?: string): Promise<BackfillRecord> {
    return cancelBackfill(this.store, backfillId, reason);
  }

  /** Drive a backfill (created through `backfill` or app/backfills) to its end in this process. */
  driveBackfill(backfillId: number, opts: BackfillDriveOptions = {}): Promise<BackfillSummary> {
    const c = this.config;
    return new BackfillDriver(this.engine, backfillId, {
      newWorker: opts.runTasks === false ? null : () => this.newWorker(undefined, { backfillId }),
      heartbeatMs: c.heartbeatMs,
      leaseMs: c.leaseMs,
      ...(opts.hooks ? { hooks: opts.hooks } : {}),
      ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    }).run();
  }

  /** Create a run and drive it to its end in this process. */
  async run(dagId: string, opts: TriggerOptions = {}, hooks: DriveHooks = {}): Promise<RunSummary> {
    const run = await this.engine.createRun(dagId, opts);
    hooks.onCreated?.(run);
    return this.drive(run.runId, hooks);
  }

  /**
   * Drive an existing run to its end in this process: attempts of dead workers get new attempts first
   * (this is how a run resumes after a crash).
   */
  async drive(runId: string, hooks: DriveHooks = {}): Promise<RunSummary> {
    const run = await this.store.runs.get(runId);
    if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
    await this.engine.recoverLostAttempts();
    this.engine.watchRunTimeout(run);
    const worker = this.newWorker(runId);
    hooks.onWorker?.(worker);
    await worker.start();
    try {
      const finished = this.engine.waitForRun(runId);
      finished.catch(() => undefined); // if the worker fails first, this is abandoned (and fails once the store closes)
      await Promise.race([finished, worker.failed()]);
    } finally {
      await worker.stop();
    }
    // the run's callbacks are due now: run them before the command returns (a failing one is retried by
    // a long-running process later)
    await this.engine.callbacks.runDue().catch(() => undefined);
    return this.summary(runId);
  }

  async summary(runId: string): Promise<RunSummary> {
    const run = await this.store.runs.get(runId);
    if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
    const counts: Partial<Record<TaskState, number>> = {};
    let total = 0;
    for (const c of await this.store.taskInstances.stateCounts(runId)) {
      counts[c.state] = c.count;
      total += c.count;
    }
    const view = (t: TaskInstanceRecord): SummaryTask => ({ taskId: t.taskId, mapIndex: t.mapIndex, state: t.state, attempts: t.tryNumber });
    const tasksOmitted = total > SUMMARY_TASKS;
    let tasks: SummaryTask[] = [];
    if (!tasksOmitted) {
      const tis = await this.store.taskInstances.list(runId);
      const order = new Map((await this.engine.specFor(runId)).spec.tasks.map((t, i) => [t.id, i]));
      tis.sort((a, b) => (order.get(a.taskId) ?? 0) - (order.get(b.taskId) ?? 0) || a.mapIndex - b.mapIndex);
      tasks = tis.map(view);
    }
    const failed = !counts.failed ? [] : tasksOmitted ? (await this.store.taskInstances.inStates(runId, ["failed"], SUMMARY_FAILED)).map(view) : tasks.filter((t) => t.state === "failed").slice(0, SUMMARY_FAILED);
    return { runId, dagId: run.dagId, state: run.state, stateReason: run.stateReason, counts, total, failed, tasks, tasksOmitted };
  }

  /**
   * Send an external event: one run of every DAG subscribed to it (`events: [name]`), with the payload as
   * `ctx.event.payload`. The same idempotency key never creates a second run.
   */
  sendEvent(name: string, payload?: unknown, opts: { idempotencyKey?: string } = {}): Promise<EventOutcome> {
    return this.engine.triggers.sendEvent(name, payload, { ...opts, source: "runtime" });
  }

  async close(): Promise<void> {
    await this.engine.callbacks.stop();
    // the spans of runs this process finished read the store: export them while it is open
    await flushTracing();
    await this.engine.triggers.stop();
    this.engine.close();
    await this.store.close();
  }
}

export interface BackfillDriveOptions {
  hooks?: BackfillHooks;
  /** Run the backfill's tasks in this process (default true); false leaves them to other workers. */
  runTasks?: boolean;
  /** How often the driver looks for changes by other processes (default 1000 ms). */
  pollMs?: number;
}

export interface DriveHooks {
  onCreated?: (run: RunRecord) => void;
  onWorker?: (worker: Worker) => void;
}

/**
 * Outputs above the inline limit: in the database on PostgreSQL, where the downstream task may run on
 * another host; in files under SLUICE_HOME on SQLite (one machine). SLUICE_ARTIFACTS chooses otherwise
 * (decision 0014).
 */
function artifactStoreFor(config: SluiceConfig, store: Store): ArtifactStore {
  const kind = config.artifacts ?? (store.dialect === "postgres" ? "database" : "files");
  return kind === "database" ? new DatabaseArtifactStore(store) : new LocalArtifactStore(config.artifactsDir);
}

/** Task logs: in the database on PostgreSQL (`sluice server` and `sluice logs` on any host show them), in files on SQLite. */
function logStoreFor(config: SluiceConfig, store: Store): LogStore {
  const kind = config.logs ?? (store.dialect === "postgres" ? "database" : "files");
  return kind === "database" ? new DatabaseLogStore(store) : new FileLogStore(config.logsDir);
}
