/**
 * Every SQL statement of Sluice, as functions named by intent (pg-boss's plans.ts, graphile-worker's
 * getJobs.ts). Nothing outside `store/` builds queries. Writes that must be atomic take a `Tx`, obtained
 * from `Store.tx()`; the engine composes them into one transaction per group of transitions.
 */
import { hostname } from "node:os";
import { CompiledQuery, Migrator, sql, type Kysely, type QueryResult, type Transaction } from "kysely";
import type { Clock } from "../core/clock.js";
import { systemClock } from "../core/clock.js";
import type { DagSpec } from "../core/dagSpec.js";
import type { AttemptState, RunState, TaskState } from "../core/states.js";
import { SluiceError, toSluiceError } from "../errors.js";
import { chooseClaimable, lockCapacity, sendClaimReads, type CapacityClaim, type Candidate, type ClaimableRow, type ClaimReads } from "./capacity.js";
import { MIGRATION_NAMES, migrationProvider, type DialectName } from "./migrations.js";
import type { Database, RunContextRow } from "./schema.js";
import { openSqlite } from "./sqlite.js";
import { connectionOf, isPostgresUrl, openPostgres, preparable, quiet, type ReconnectingConnection } from "./postgres.js";
import { PgNotifier } from "./notifier.js";
import { Aggregates } from "./aggregates.js";
import { toRun, toTaskInstance, type Row } from "./records.js";
import { isRetryableTxError, retryAgain, retryDelayMs, toStoreError } from "./retry.js";

export { quiet };

const MIGRATION_TABLE = "sluice_migrations";
const MIGRATION_LOCK_TABLE = "sluice_migrations_lock";
/**
 * Claimable task instances. Written as a literal, not bound parameters: SQLite uses a partial index only
 * when the query's WHERE visibly implies the index's WHERE (task_instances_ready*), and with bound
 * parameters it cannot — every claim would then scan the run's task instances.
 */
const CLAIMABLE = sql<boolean>`state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`;
const CLAIMABLE_TI = sql<boolean>`ti.state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`;

export interface RunRecord {
  runId: string;
  dagId: string;
  dagVersion: string;
  runKey: string;
  runType: string;
  state: RunState;
  stateReason: string | null;
  logicalDate: number;
  dataIntervalStart: number | null;
  dataIntervalEnd: number | null;
  params: Record<string, unknown>;
  unfinished: number;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  timeoutAt: number | null;
  /** The backfill the run belongs to (engine/backfill), or null. */
  backfillId: number | null;
}

export interface TaskInstanceRecord {
  runId: string;
  taskId: string;
  mapIndex: number;
  state: TaskState;
  tryNumber: number;
  tryBase: number;
  nUpstream: number;
  nSuccess: number;
  nFailed: number;
  nUpstreamFailed: number;
  nSkipped: number;
  readyAt: number | null;
  priority: number;
  queue: string;
  attemptId: number | null;
  startedAt: number | null;
  endedAt: number | null;
  /** Sensors: when a poke that finds the condition unmet times the sensor out (set at its first wait). */
  sensorDeadline: number | null;
  /** Sensors: pokes that found the condition unmet, since the last clear. */
  pokeCount: number;
}

export interface AttemptRecord {
  attemptId: number;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  state: AttemptState;
  workerId: string;
  hostname: string;
  pid: number;
  startedAt: number;
  endedAt: number | null;
  heartbeatAt: number;
  leaseExpiresAt: number;
  errorCode: string | null;
  errorMessage: string | null;
  errorStack: string | null;
  exitCode: number | null;
  outputSize: number | null;
  outputRef: string | null;
}

/** An attempt a worker has just claimed, with what it needs to run the task. */
export interface ClaimedAttempt {
  attemptId: number;
  runId: string;
  dagId: string;
  dagVersion: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  logicalDate: number;
  dataIntervalStart: number | null;
  dataIntervalEnd: number | null;
  params: Record<string, unknown>;
  /** Sensors: pokes before this one (0 for a first poke; a later poke continues the same attempt). */
  pokes: number;
}

export interface StoredOutput {
  mapIndex: number;
  inline: Uint8Array | null;
  ref: string | null;
}

export interface NewTaskInstance {
  taskId: string;
  mapIndex: number;
  state: TaskState;
  nUpstream: number;
  readyAt: number | null;
  priority: number;
  queue: string;
}

export interface AttemptEnd {
  attemptId: number;
  /** interrupted: handed back by a draining worker (docs/decisions/0012-workers-and-capacity.md). */
  state: "success" | "failed" | "interrupted";
  endedAt: number;
  errorCode?: string | null;
  errorMessage?: string | null;
  errorStack?: string | null;
  exitCode?: number | null;
  outputInline?: Uint8Array | null;
  outputRef?: string | null;
  outputSize?: number | null;
}

export interface EndedAttempt {
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  tryBase: number;
}

/** A sensor's attempt that now waits for its next poke (`rescheduleAttempts`). */
export interface WaitingAttempt extends EndedAttempt {
  /** When the attempt's first poke started. */
  startedAt: number;
}

export interface WorkerInfo {
  workerId: string;
  queues: string[];
  concurrency: number;
}

export interface StoreOptions {
  /** `sqlite:<file>`, a bare file path, or `postgres://…` (store/postgres.ts: `?schema=` isolates). */
  url: string;
  clock?: Clock;
  busyTimeoutMs?: number;
  /** PostgreSQL: connections of this process's query pool (the LISTEN connection comes on top). */
  poolSize?: number;
  /** Bring the schema up to date on open (default true; `sluice db migrate` does it explicitly). */
  migrate?: boolean;
}

export class Store extends Aggregates {
  readonly hostname = hostname();

  /** PostgreSQL: cross-process wake-ups (LISTEN/NOTIFY); null on SQLite. */
  readonly notifier: PgNotifier | null;

  private constructor(
    protected readonly db: Kysely<Database>,
    readonly dialect: DialectName,
    /** Where the data lives, for messages: a file, or a URL without its password. */
    readonly location: string,
    readonly clock: Clock,
    notifier: PgNotifier | null = null,
  ) {
    super();
    this.notifier = notifier;
  }

  /** Open the store and bring its schema up to date (refusing a database from a newer Sluice). */
  static async open(opts: StoreOptions): Promise<Store> {
    const url = opts.url;
    let store: Store;
    if (isPostgresUrl(url)) {
      const { db, target } = await openPostgres({ url, poolSize: opts.poolSize ?? 10 });
      store = new Store(db, "postgres", target.display, opts.clock ?? systemClock, new PgNotifier(target));
    } else {
      const file = url.startsWith("sqlite:") ? url.slice("sqlite:".length).replace(/^\/\//, "") : url;
      const { db } = openSqlite({ file, busyTimeoutMs: opts.busyTimeoutMs ?? 5000 });
      store = new Store(db, "sqlite", file, opts.clock ?? systemClock);
    }
    try {
      if (opts.migrate === false) await store.refuseNewerSchema();
      else await store.migrate();
    } catch (e) {
      await store.close();
      throw store.dialect === "postgres" ? toStoreError(e, store.location) : e;
    }
    return store;
  }

  /**
   * Time for records, schedules and retry delays: the injected clock (a ManualClock in tests). Leases
   * are another matter: on PostgreSQL they are in the database's time (see `leaseNow`), so that workers
   * and sweepers on hosts with skewed clocks agree on when a lease expired.
   */
  now(): number {
    return this.clock.now();
  }

  /**
   * The SQL expression for "now" in lease arithmetic, with its parameters. SQLite lives on this host:
   * its lease time is the clock's (tests move it with a ManualClock). PostgreSQL's is the server's
   * clock, in epoch milliseconds, the same for every process on every host.
   */
  leaseNow(): { expr: string; params: number[] } {
    return this.dialect === "postgres" ? { expr: PG_NOW_MS, params: [] } : { expr: "?", params: [this.now()] };
  }

  /** The current lease time (the database's on PostgreSQL). */
  async leaseTime(): Promise<number> {
    if (this.dialect === "sqlite") return this.now();
    const r = await sql<{ now: number }>`select ${sql.raw(PG_NOW_MS)} as now`.execute(this.db);
    return Number(r.rows[0]!.now);
  }

  /** Cheap liveness of the database (/health). */
  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.notifier?.close();
    await this.db.destroy();
  }

  async migrate(): Promise<string[]> {
    if (this.dialect === "postgres") {
      // Several processes may start at once against a new database: one migrates, the others wait on a
      // session advisory lock (keyed by the schema) and then find nothing left to do.
      return this.db.connection().execute(async (conn) => {
        await sql`select pg_advisory_lock(hashtext('sluice_migrate:' || current_schema()))`.execute(conn);
        try {
          // Kysely looks its tables up across every schema: name ours, or another schema's would do
          const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(conn)).rows[0]!.s;
          return await this.migrateWith(conn, schema);
        } finally {
          await sql`select pg_advisory_unlock(hashtext('sluice_migrate:' || current_schema()))`.execute(conn);
        }
      });
    }
    return this.migrateWith(this.db);
  }

  private async migrateWith(db: Kysely<Database>, schema?: string): Promise<string[]> {
    await this.refuseNewerSchema(db);
    const migrator = new Migrator({
      db,
      ...(schema ? { migrationTableSchema: schema } : {}),
      provider: migrationProvider(this.dialect),
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
      // migrations are numbered on parallel branches (0007 landed before 0006): apply late arrivals too
      allowUnorderedMigrations: true,
    });
    let { error, results } = await migrator.migrateToLatest();
    for (let i = 0; i < 10 && error && /already exists/i.test(String((error as Error).message)); i++) {
      // Several processes opened a new database at once and another one was migrating it (SQLite's
      // migration lock table is created by the race itself): look again, until nothing is left to do.
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
      ({ error, results } = await migrator.migrateToLatest());
    }
    if (error) throw toSluiceError(error);
    return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
  }

  async refuseNewerSchema(db: Kysely<Database> = this.db): Promise<void> {
    let applied: string[];
    try {
      if (this.dialect === "postgres") {
        // a failed statement would abort the caller's transaction: look the table up first
        const t = await sql<{ t: string | null }>`select to_regclass(${MIGRATION_TABLE}) as t`.execute(db);
        if (t.rows[0]?.t == null) return;
      }
      const rows = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(db);
      applied = rows.rows.map((r) => r.name);
    } catch (e) {
      const err = toSluiceError(e);
      if (err.code === "DB_LOCKED" || err.code === "DB_CORRUPT") throw new SluiceError(err.code, `${this.location}: ${err.message}`, { cause: e });
      if (this.dialect === "postgres") throw toStoreError(e, this.location);
      return; // no migration table yet: a new database
    }
    const unknown = applied.filter((n) => !MIGRATION_NAMES.includes(n));
    if (unknown.length > 0) {
      throw new SluiceError(
        "DB_TOO_NEW",
        `the database ${this.location} was written by a newer version of Sluice (it has migration ${unknown.join(", ")}); upgrade Sluice or point SLUICE_DATABASE_URL at another database`,
      );
    }
  }

  /**
   * Run `fn` in one write transaction. SQLite: BEGIN IMMEDIATE, so writers queue instead of
   * deadlocking. PostgreSQL: READ COMMITTED; transitions lock the runs they change (`Tx.lockRuns`, in
   * run-id order), claims skip locked rows. A deadlock, a serialization failure or a lost connection
   * rolls the transaction back and runs `fn` again after a jittered backoff: `fn` must be safe to run
   * again (start from fresh state inside it).
   */
  async tx<T>(fn: (tx: Tx) => Promise<T>, opts: TxOptions = {}): Promise<T> {
    if (this.dialect === "sqlite") return this.txOnce(fn, "begin immediate");
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.txOnce(fn, "begin", opts);
      } catch (e) {
        const kind = isRetryableTxError(e);
        if (!kind || !retryAgain(kind, attempt, started)) throw toStoreError(e, this.location);
        await new Promise((r) => setTimeout(r, retryDelayMs(kind, attempt)));
      }
    }
  }

  private txOnce<T>(fn: (tx: Tx) => Promise<T>, begin: "begin" | "begin immediate", opts: TxOptions = {}): Promise<T> {
    return this.db.connection().execute(async (conn) => {
      // PostgreSQL: statements are pipelined (ReconnectingConnection.send). BEGIN and the run locks are
      // written at once and answered with the transaction's first read: no round trip of their own.
      const raw = this.dialect === "postgres" ? await connectionOf(conn) : null;
      const tx = new Tx(conn as unknown as Transaction<Database>, this, raw);
      if (opts.runLock) tx.runLock = opts.runLock;
      if (raw) {
        void raw.send(begin);
        if (opts.lockRuns?.length) void tx.lockRuns(opts.lockRuns);
      } else {
        await sql.raw(begin).execute(conn);
      }
      try {
        const result = await fn(tx);
        await tx.commit();
        return result;
      } catch (e) {
        try {
          await sql`rollback`.execute(conn);
        } catch {
          // the transaction may already be gone (e.g. SQLITE_BUSY at begin); the original error matters
        }
        throw e;
      }
    });
  }

  // ---- reads ---------------------------------------------------------------------------------------

  async getRun(runId: string): Promise<RunRecord | null> {
    const row = await this.db.selectFrom("runs").selectAll().where("run_id", "=", runId).executeTakeFirst();
    return row ? toRun(row) : null;
  }

  async listRuns(opts: { dagId?: string; states?: RunState[]; limit: number; offset?: number }): Promise<RunRecord[]> {
    let q = this.db.selectFrom("runs").selectAll();
    if (opts.dagId) q = q.where("dag_id", "=", opts.dagId);
    if (opts.states) q = q.where("state", "in", opts.states);
    const rows = await q
      .orderBy("created_at", "desc")
      .orderBy("run_id", "desc")
      .limit(opts.limit)
      .offset(opts.offset ?? 0)
      .execute();
    return rows.map(toRun);
  }

  /** Runs not yet finished (served by the partial index runs_active). */
  async listActiveRuns(): Promise<RunRecord[]> {
    const rows = await this.db
      .selectFrom("runs")
      .selectAll()
      .where(sql<boolean>`state in ('queued', 'running')`)
      .orderBy("created_at")
      .execute();
    return rows.map(toRun);
  }

  async listTaskInstances(runId: string): Promise<TaskInstanceRecord[]> {
    const rows = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .orderBy("task_id")
      .orderBy("map_index")
      .execute();
    return rows.map(toTaskInstance);
  }

  async listAttempts(runId: string, taskId?: string, mapIndex?: number): Promise<AttemptRecord[]> {
    let q = this.db.selectFrom("attempts").select(ATTEMPT_COLUMNS).where("run_id", "=", runId);
    if (taskId !== undefined) q = q.where("task_id", "=", taskId);
    if (mapIndex !== undefined) q = q.where("map_index", "=", mapIndex);
    const rows = await q.orderBy("task_id").orderBy("map_index").orderBy("try_number").execute();
    return rows.map(toAttempt);
  }

  async getAttempt(attemptId: number): Promise<AttemptRecord | null> {
    const row = await this.db.selectFrom("attempts").select(ATTEMPT_COLUMNS).where("attempt_id", "=", attemptId).executeTakeFirst();
    return row ? toAttempt(row) : null;
  }

  async getDagVersion(dagId: string, version: string): Promise<{ spec: DagSpec; file: string | null } | null> {
    const row = await this.db
      .selectFrom("dag_versions")
      .select(["spec", "file"])
      .where("dag_id", "=", dagId)
      .where("version", "=", version)
      .executeTakeFirst();
    return row ? { spec: JSON.parse(row.spec) as DagSpec, file: row.file } : null;
  }

  /** Successful outputs of a task in a run, in map-index order (one row for an unmapped task). */
  getOutputs(runId: string, taskId: string): Promise<StoredOutput[]> {
    return selectOutputs(this.db, runId, taskId);
  }

  async getAttemptOutput(attemptId: number): Promise<StoredOutput | null> {
    const r = await this.db
      .selectFrom("attempts")
      .select(["map_index", "output_inline", "output_ref"])
      .where("attempt_id", "=", attemptId)
      .executeTakeFirst();
    return r ? { mapIndex: r.map_index, inline: r.output_inline, ref: r.output_ref } : null;
  }

  /**
   * The earliest time a retry becomes due, to set a wake-up timer. Only runs that are `running` count, as
   * in claimReady: the ready tasks of a `queued` run cannot be claimed, and counting them made a worker
   * spin (a due time in the past, nothing to claim, again) and starve its event loop.
   */
  async nextRetryAt(runId?: string, backfillId?: number): Promise<number | null> {
    let q = this.db
      .selectFrom("task_instances as ti")
      .innerJoin("runs as r", "r.run_id", "ti.run_id")
      .select((eb) => eb.fn.min("ti.ready_at").as("at"))
      .where(CLAIMABLE_TI)
      .where("r.state", "=", "running");
    if (runId) q = q.where("ti.run_id", "=", runId);
    // the same filter as the worker's claims: else a worker of one backfill spins on others' ready work
    if (backfillId !== undefined) q = q.where("r.backfill_id", "=", backfillId);
    const row = await q.executeTakeFirst();
    return row?.at ?? null;
  }

  // ---- workers and leases ----------------------------------------------------------------------------

  /**
   * Register a worker as live. Its concurrency joins the total that PostgreSQL claims count on (capacity.ts):
   * the change waits for the claims under way, as do stopping, reviving and burying one.
   */
  async registerWorker(w: WorkerInfo): Promise<void> {
    const startedAt = this.now();
    // heartbeat_at is lease time (the database's on PostgreSQL), like attempts' heartbeats
    const now = this.leaseNow();
    await this.tx(async (tx) => {
      await lockCapacity(tx);
      await tx.send(
        `insert into workers (worker_id, hostname, pid, queues, concurrency, started_at, heartbeat_at, state)
         values (?, ?, ?, ?, ?, ?, ${now.expr}, 'running')`,
        [w.workerId, this.hostname, process.pid, w.queues.join(","), w.concurrency, startedAt, ...now.params],
      );
    });
  }

  async stopWorker(workerId: string): Promise<void> {
    const now = this.leaseNow();
    await this.tx(async (tx) => {
      await lockCapacity(tx);
      await tx.send(`update workers set state = 'stopped', heartbeat_at = ${now.expr} where worker_id = ?`, [...now.params, workerId]);
    });
  }

  /**
   * A worker the sweep buried (its heartbeats had stopped for a while) turned out to be alive: it counts
   * again before it claims again.
   */
  async reviveWorker(workerId: string): Promise<void> {
    const now = this.leaseNow();
    await this.tx(async (tx) => {
      await lockCapacity(tx);
      await tx.send(`update workers set state = 'running', heartbeat_at = ${now.expr} where worker_id = ? and state in ('dead', 'running')`, [...now.params, workerId]);
    });
  }

  /**
   * PostgreSQL: workers whose heartbeats stopped more than `staleMs` ago (in database time) and that hold
   * no running attempt any more (their leases expired and the sweep failed them) are dead: their
   * concurrency stops counting. Returns their ids.
   */
  async buryStaleWorkers(staleMs: number): Promise<string[]> {
    if (this.dialect !== "postgres") return [];
    const stale = `state in ('running', 'draining') and role = 'worker' and heartbeat_at < ${PG_NOW_MS} - ?
                   and not exists (select 1 from attempts a where a.worker_id = workers.worker_id and a.state = 'running')`;
    const found = await this.exec<{ worker_id: string }>(`select worker_id from workers where ${stale}`, [staleMs]);
    if (found.rows.length === 0) return [];
    return this.tx(async (tx) => {
      await lockCapacity(tx);
      const r = await tx.send<{ worker_id: string }>(`update workers set state = 'dead' where ${stale} returning worker_id`, [staleMs]);
      return r.rows.map((x) => x.worker_id);
    });
  }

  /**
   * Renew the leases of a worker's running attempts. Returns the ids among `attemptIds` that are no
   * longer this worker's live attempts (cancelled, timed out by a sweep, or taken over): the worker must
   * abort them.
   */
  async heartbeat(workerId: string, attemptIds: number[], leaseMs: number): Promise<number[]> {
    const now = this.leaseNow();
    await this.exec(`update workers set heartbeat_at = ${now.expr} where worker_id = ?`, [...now.params, workerId]);
    if (attemptIds.length === 0) return [];
    // Fencing: only this worker's attempts that are still running are renewed. One that was cancelled,
    // expired and swept, or taken over is missing from the result, and the worker aborts it.
    const renewed = await this.exec<{ attempt_id: number }>(
      `update attempts set heartbeat_at = ${now.expr}, lease_expires_at = ${now.expr} + ?
        where attempt_id in (${marks(attemptIds.length)}) and worker_id = ? and state = ?
        returning attempt_id`,
      [...now.params, ...now.params, leaseMs, ...attemptIds, workerId, "running"], // BY_ID_STATE
    );
    const alive = new Set(renewed.rows.map((r) => Number(r.attempt_id)));
    return attemptIds.filter((id) => !alive.has(id));
  }

  /** Literal SQL on the pool (see Tx.exec). */
  private exec<R>(text: string, params: readonly unknown[]): Promise<QueryResult<R>> {
    return this.db.executeQuery<R>(CompiledQuery.raw(placeholders(this.dialect, text), params as unknown[]));
  }

  /**
   * Active runs with no unfinished task instance left: their finishing transaction's process died between
   * its COMMIT and finishing them (Engine.finishRunIfDone). Served by the partial index runs_active.
   */
  async runsWithNothingLeft(): Promise<string[]> {
    const r = await this.exec<{ run_id: string }>("select run_id from runs where state in ('queued', 'running') and unfinished <= 0", []);
    return r.rows.map((x) => x.run_id);
  }

  /**
   * Running runs where nothing happens: no task instance ready or due later, none running — yet some
   * still unfinished. A fan-in task instance whose deciding transaction's process died before it could
   * decide it waits so (Engine.unstall); a run should never be left so otherwise.
   */
  async stalledRuns(): Promise<string[]> {
    const r = await this.exec<{ run_id: string }>(`select r.run_id from runs r where ${STALLED}`, []);
    return r.rows.map((x) => x.run_id);
  }

  /** Workers on this host that registered as running: to detect ones whose process died. */
  async listRunningWorkersOnHost(): Promise<{ workerId: string; pid: number }[]> {
    const rows = await this.db
      .selectFrom("workers")
      .select(["worker_id", "pid"])
      .where("hostname", "=", this.hostname)
      .where("state", "=", "running")
      .execute();
    return rows.map((r) => ({ workerId: r.worker_id, pid: r.pid }));
  }

  async markWorkersDead(workerIds: string[]): Promise<void> {
    if (workerIds.length === 0) return;
    await this.db.updateTable("workers").set({ state: "dead" }).where("worker_id", "in", workerIds).execute();
  }

  /** Running attempts whose lease has expired, or whose worker is known dead (served by attempts_live). */
  async listLostAttempts(deadWorkerIds: string[]): Promise<{ attemptId: number; runId: string; workerId: string }[]> {
    const now = this.leaseNow();
    // literal state: lets SQLite use the partial index attempts_live; lease time from leaseNow (the
    // database's on PostgreSQL: a lease expires at the same instant for every host)
    const r = await this.exec<{ attempt_id: number; run_id: string; worker_id: string }>(
      `select attempt_id, run_id, worker_id from attempts
        where state = 'running' and (lease_expires_at < ${now.expr}${deadWorkerIds.length ? ` or worker_id in (${marks(deadWorkerIds.length)})` : ""})`,
      [...now.params, ...deadWorkerIds],
    );
    return r.rows.map((x) => ({ attemptId: Number(x.attempt_id), runId: x.run_id, workerId: x.worker_id }));
  }
}

export interface TxOptions {
  /** PostgreSQL: lock these runs as the transaction begins, in the same round trip (`Tx.lockRuns`). */
  lockRuns?: readonly string[];
  /** How the transaction's run locks are taken (`Tx.runLock`). */
  runLock?: "update" | "key share";
}

/** The write side, bound to one open transaction. */
export class Tx extends Aggregates {
  /** Runs this transaction holds locked (PostgreSQL): true when FOR UPDATE, false when FOR KEY SHARE. */
  private readonly locked = new Map<string, boolean>();
  /** Runs this transaction created: nobody else sees them before it commits. */
  private readonly created = new Set<string>();
  /** Their lock statements, answered with the runs' rows (`runRows`). */
  private readonly lockAnswers = new Map<string, Promise<unknown>>();
  /** Runs read under this transaction's lock (or SQLite's single writer), kept current by its own writes. */
  private readonly lockedRuns = new Map<string, RunLockRow>();
  /** SQLite: the first failure of a statement nobody awaited (`send`); the transaction then fails. */
  private sendError: unknown = null;

  constructor(
    protected readonly db: Transaction<Database>,
    private readonly store: Store,
    /** PostgreSQL: the connection, for pipelined statements. */
    private readonly conn: ReconnectingConnection | null = null,
  ) {
    super();
  }

  get dialect(): DialectName {
    return this.store.dialect;
  }

  /**
   * Lock runs for the rest of the transaction before reading and changing their task instances
   * (PostgreSQL: FOR UPDATE, in run-id order, so that two transactions lock a set of runs in one order;
   * a transaction that needs another run later may still deadlock, and `Store.tx` runs it again). This
   * makes transitions of one run serial, as SQLite's single writer makes them; claims skip the locked
   * runs' rows. A no-op on SQLite.
   *
   * The lock is issued at once (pipelined): statements issued after it run after it is granted, so the
   * caller need not wait for it unless it needs the runs' rows (`runRows`).
   */
  lockRuns(runIds: Iterable<string>): Promise<void> {
    if (this.store.dialect !== "postgres") return Promise.resolve();
    const strong = this.runLock === "update";
    const ids = [...new Set(runIds)].filter((id) => !(this.locked.get(id) === true || (!strong && this.locked.has(id)))).sort();
    if (ids.length === 0) return Promise.resolve();
    const answer = quiet(
      this.send<RunLockRow>(`select ${RUN_LOCK_COLUMNS} from runs where run_id = any(?) order by run_id for ${this.runLock}`, [ids]).then((r) => {
        for (const row of r.rows) this.lockedRuns.set(row.run_id, row);
      }),
    );
    for (const id of ids) {
      this.locked.set(id, strong);
      this.lockAnswers.set(id, answer);
    }
    return answer;
  }

  /**
   * How `lockRuns` locks. "update" (the default) makes this transaction the run's only writer: cancel,
   * clear, mark, retention and finishing a run take it. "key share" (`Engine.settle`) only keeps those
   * out: settles of one run and claims from it go on side by side (docs/decisions/0013). What they share —
   * the counters of fan-in task instances and the run's unfinished count — they only add to in place
   * (`bumpTaskInstances`, `addUnfinishedMany`).
   */
  runLock: "update" | "key share" = "update";

  /**
   * Whether this transaction is the run's only writer (SQLite: always; PostgreSQL: it holds the run FOR
   * UPDATE, or created it): it may read, change and write back any of the run's rows.
   */
  ownsRun(runId: string): boolean {
    return this.store.dialect === "sqlite" || this.locked.get(runId) === true || this.created.has(runId);
  }

  /**
   * Lock (PostgreSQL) or read (SQLite) these runs, so that `knownRun` answers for them: their rows as this
   * transaction sees them, which nobody else can change until it ends.
   */
  async runRows(runIds: readonly string[]): Promise<void> {
    if (runIds.length === 0) return;
    if (this.store.dialect === "postgres") {
      void this.lockRuns(runIds);
      await Promise.all([...new Set(runIds.map((id) => this.lockAnswers.get(id)))]);
      return;
    }
    const r = await this.send<RunLockRow>(`select ${RUN_LOCK_COLUMNS} from runs where run_id in (${marks(runIds.length)})`, runIds);
    for (const row of r.rows) this.lockedRuns.set(row.run_id, row);
  }

  /** A run read by `runRows`, with this transaction's own changes to it; undefined when not read. */
  knownRun(runId: string): Readonly<RunLockRow> | undefined {
    return this.lockedRuns.get(runId);
  }

  /** Tell other processes that work may be ready (PostgreSQL NOTIFY, delivered at commit; SQLite: nothing). */
  notifyWake(): Promise<unknown> {
    return this.store.notifier ? this.send(`select pg_notify(?, ?)`, [this.store.notifier.channel, this.store.notifier.senderId]) : Promise.resolve();
  }

  /**
   * @internal Issue a statement of this transaction. PostgreSQL: pipelined — written at once, answered in
   * order, without waiting for the statements before it; a caller that does not need the result need not
   * wait for it (a failure fails the COMMIT). SQLite: run in order. Only `store/` passes SQL here.
   *
   * Hot-path statements are literal SQL (pg-boss style): building them with Kysely on every call cost
   * more than running them. `?` placeholders are rewritten for PostgreSQL; `compiled` texts are already
   * PostgreSQL's.
   */
  send<R>(text: string, params: readonly unknown[], compiled = false): Promise<QueryResult<R>> {
    if (this.conn) return this.conn.send<R>(compiled ? preparable(text) : placeholders("postgres", text), params);
    const p = this.db.executeQuery<R>(CompiledQuery.raw(text, params as unknown[]));
    p.catch((e: unknown) => {
      this.sendError ??= e;
    });
    return p;
  }

  private exec<R>(text: string, params: readonly unknown[]): Promise<QueryResult<R>> {
    return this.send<R>(text, params);
  }

  /** End the transaction (Store.tx): PostgreSQL's COMMIT also waits for everything issued before it. */
  async commit(): Promise<void> {
    if (this.conn) {
      await this.conn.send("commit");
      return;
    }
    if (this.sendError) throw this.sendError;
    await this.db.executeQuery(CompiledQuery.raw("commit"));
  }

  now(): number {
    return this.store.now();
  }

  async saveDagVersion(dagId: string, version: string, spec: DagSpec, file: string | null): Promise<void> {
    await this.db
      .insertInto("dag_versions")
      .values({ dag_id: dagId, version, spec: JSON.stringify(spec), file, created_at: this.now() })
      .onConflict((oc) => oc.columns(["dag_id", "version"]).doNothing())
      .execute();
  }

  async findRunByKey(dagId: string, runKey: string): Promise<RunRecord | null> {
    const row = await this.db.selectFrom("runs").selectAll().where("dag_id", "=", dagId).where("run_key", "=", runKey).executeTakeFirst();
    return row ? toRun(row) : null;
  }

  async insertRun(run: Omit<RunRecord, "endedAt" | "stateReason" | "backfillId"> & { backfillId?: number | null }, instances: NewTaskInstance[]): Promise<void> {
    this.created.add(run.runId);
    this.lockedRuns.set(run.runId, {
      run_id: run.runId,
      state: run.state,
      unfinished: run.unfinished,
      dag_id: run.dagId,
      dag_version: run.dagVersion,
      logical_date: run.logicalDate,
      params: JSON.stringify(run.params),
      data_interval_start: run.dataIntervalStart,
      data_interval_end: run.dataIntervalEnd,
      backfill_id: run.backfillId ?? null,
    });
    await this.db
      .insertInto("runs")
      .values({
        run_id: run.runId,
        dag_id: run.dagId,
        dag_version: run.dagVersion,
        run_key: run.runKey,
        run_type: run.runType,
        state: run.state,
        state_reason: null,
        logical_date: run.logicalDate,
        data_interval_start: run.dataIntervalStart,
        data_interval_end: run.dataIntervalEnd,
        params: JSON.stringify(run.params),
        unfinished: run.unfinished,
        created_at: run.createdAt,
        started_at: run.startedAt,
        ended_at: null,
        timeout_at: run.timeoutAt,
        backfill_id: run.backfillId ?? null,
      })
      .execute();
    await this.insertTaskInstances(run.runId, instances);
  }

  async insertTaskInstances(runId: string, instances: NewTaskInstance[]): Promise<void> {
    if (instances.length === 0) return;
    if (this.store.dialect === "postgres") {
      // one statement of constant text whatever the count: a 10,000-task run's rows as seven arrays
      await this.send(
        `insert into task_instances (run_id, task_id, map_index, state, try_number, n_upstream, n_success, n_failed, n_skipped, ready_at, priority, queue)
         select ?, t, m, s, 0, u, 0, 0, 0, r, p, q from unnest(?::text[], ?::integer[], ?::text[], ?::integer[], ?::bigint[], ?::integer[], ?::text[]) as x(t, m, s, u, r, p, q)`,
        [
          runId,
          instances.map((t) => t.taskId),
          instances.map((t) => t.mapIndex),
          instances.map((t) => t.state),
          instances.map((t) => t.nUpstream),
          instances.map((t) => t.readyAt),
          instances.map((t) => t.priority),
          instances.map((t) => t.queue),
        ],
      );
      return;
    }
    // SQLite allows 32766 bound parameters per statement; 11 columns a row.
    for (let i = 0; i < instances.length; i += 2000) {
      await this.db
        .insertInto("task_instances")
        .values(
          instances.slice(i, i + 2000).map((t) => ({
            run_id: runId,
            task_id: t.taskId,
            map_index: t.mapIndex,
            state: t.state,
            try_number: 0,
            n_upstream: t.nUpstream,
            n_success: 0,
            n_failed: 0,
            n_skipped: 0,
            ready_at: t.readyAt,
            priority: t.priority,
            queue: t.queue,
            attempt_id: null,
            started_at: null,
            ended_at: null,
          })),
        )
        .execute();
    }
  }

  async getRun(runId: string): Promise<RunRecord | null> {
    const row = await this.db.selectFrom("runs").selectAll().where("run_id", "=", runId).executeTakeFirst();
    return row ? toRun(row) : null;
  }

  /** Add `delta` to the run's count of unfinished task instances; returns the new count. */
  async addUnfinished(runId: string, delta: number): Promise<number> {
    const r = await this.exec<{ unfinished: number }>("update runs set unfinished = unfinished + ? where run_id = ? returning unfinished", [delta, runId]);
    const known = this.lockedRuns.get(runId);
    if (known) known.unfinished = r.rows[0]!.unfinished;
    return r.rows[0]!.unfinished;
  }

  /**
   * Queued runs of a DAG become running while fewer than `max` run; returns their ids. Backfill runs do
   * not count: their backfill limits them (decision 0006).
   */
  async promoteQueuedRuns(dagId: string, max: number, now: number): Promise<string[]> {
    const running = await this.exec<{ n: number }>(
      `select count(*) as n from runs where dag_id = ? and state in ('queued', 'running') and state = 'running' and backfill_id is null`,
      [dagId],
    );
    const room = max - Number(running.rows[0]?.n ?? 0);
    if (room <= 0) return [];
    const queued = await this.exec<{ run_id: string }>(
      `select run_id from runs where dag_id = ? and state in ('queued', 'running') and state = 'queued' and backfill_id is null order by logical_date, created_at limit ?`,
      [dagId, room],
    );
    const ids = queued.rows.map((r) => r.run_id);
    if (ids.length) await this.exec(`update runs set state = 'running', started_at = ? where run_id in (${marks(ids.length)})`, [now, ...ids]);
    for (const id of ids) this.lockedRuns.delete(id);
    return ids;
  }

  async setRunTimeout(runId: string, at: number): Promise<void> {
    await this.exec("update runs set timeout_at = ? where run_id = ?", [at, runId]);
  }

  /** Count a run's unfinished task instances again and write the count; returns it. */
  async recountUnfinished(runId: string): Promise<number> {
    const r = await this.exec<{ unfinished: number }>(
      `update runs set unfinished = (select count(*) from task_instances t
                                      where t.run_id = runs.run_id and t.state not in ('success', 'failed', 'skipped', 'upstream_failed', 'removed'))
        where run_id = ? returning unfinished`,
      [runId],
    );
    const n = Number(r.rows[0]?.unfinished ?? 0);
    const known = this.lockedRuns.get(runId);
    if (known) known.unfinished = n;
    return n;
  }

  /** A cleared run is running again: its unfinished count is recounted from its task instances. */
  async reopenRun(runId: string): Promise<void> {
    this.lockedRuns.delete(runId);
    await this.exec(
      `update runs set state = 'running', state_reason = null, ended_at = null,
              unfinished = (select count(*) from task_instances t
                             where t.run_id = runs.run_id and t.state not in ('success', 'failed', 'skipped', 'upstream_failed', 'removed'))
        where run_id = ?`,
      [runId],
    );
  }

  async setRunState(runId: string, state: RunState, reason: string | null, endedAt: number | null): Promise<void> {
    const known = this.lockedRuns.get(runId);
    if (known) known.state = state;
    await this.db.updateTable("runs").set({ state, state_reason: reason, ended_at: endedAt }).where("run_id", "=", runId).execute();
  }

  async getTaskInstance(runId: string, taskId: string, mapIndex: number): Promise<TaskInstanceRecord | null> {
    const row = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .where("task_id", "=", taskId)
      .where("map_index", "=", mapIndex)
      .executeTakeFirst();
    return row ? toTaskInstance(row) : null;
  }

  /** Store.stalledRuns for one run, as this transaction sees it (under the run's lock: for certain). */
  async isStalled(runId: string): Promise<boolean> {
    const r = await this.exec<{ run_id: string }>(`select r.run_id from runs r where r.run_id = ? and ${STALLED}`, [runId]);
    return r.rows.length > 0;
  }

  /**
   * The waiting instances (state 'none') of these tasks, locked (PostgreSQL: FOR UPDATE) so that this
   * transaction may apply their trigger rules and write them back.
   */
  async lockWaiting(runId: string, taskIds: readonly string[]): Promise<TaskInstanceRecord[]> {
    if (taskIds.length === 0) return [];
    const r =
      this.store.dialect === "postgres"
        ? await this.exec<Row<"task_instances">>("select * from task_instances where run_id = ? and task_id = any(?::text[]) and state = 'none' order by task_id, map_index for update", [runId, taskIds])
        : await this.exec<Row<"task_instances">>(`select * from task_instances where run_id = ? and task_id in (${marks(taskIds.length)}) and state = 'none'`, [runId, ...taskIds]);
    return r.rows.map(toTaskInstance);
  }

  /** Every instance (all map indexes) of the given tasks in a run. */
  async getTaskInstances(runId: string, taskIds: readonly string[]): Promise<TaskInstanceRecord[]> {
    if (taskIds.length === 0) return [];
    const r = await this.exec<Row<"task_instances">>(
      `select * from task_instances where run_id = ? and task_id in (${marks(taskIds.length)})`,
      [runId, ...taskIds],
    );
    return r.rows.map(toTaskInstance);
  }

  async unfinishedTaskInstances(runId: string): Promise<TaskInstanceRecord[]> {
    const rows = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .where("state", "not in", ["success", "failed", "skipped", "upstream_failed", "removed"])
      .execute();
    return rows.map(toTaskInstance);
  }

  /** The states of the instances of these tasks (a run's leaves: a DAG of 10,000 independent tasks has 10,000). */
  async leafStates(runId: string, leafTaskIds: readonly string[]): Promise<TaskState[]> {
    if (this.store.dialect === "postgres") {
      const r = await this.exec<{ state: string }>("select state from task_instances where run_id = ? and task_id = any(?::text[])", [runId, leafTaskIds]);
      return r.rows.map((x) => x.state as TaskState);
    }
    const out: TaskState[] = [];
    for (let i = 0; i < leafTaskIds.length; i += 10_000) {
      const chunk = leafTaskIds.slice(i, i + 10_000);
      const r = await this.exec<{ state: string }>(`select state from task_instances where run_id = ? and task_id in (${marks(chunk.length)})`, [runId, ...chunk]);
      out.push(...r.rows.map((x) => x.state as TaskState));
    }
    return out;
  }

  /** Write a task instance's new state and counters. */
  async updateTaskInstance(
    ti: Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex">,
    set: Partial<Pick<TaskInstanceRecord, "state" | "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream" | "readyAt" | "endedAt" | "startedAt" | "tryNumber" | "tryBase" | "attemptId" | "sensorDeadline" | "pokeCount">>,
  ): Promise<void> {
    await this.db
      .updateTable("task_instances")
      .set(tiColumns(set))
      .where("run_id", "=", ti.runId)
      .where("task_id", "=", ti.taskId)
      .where("map_index", "=", ti.mapIndex)
      .execute();
  }

  /** Apply the same change to many task instances (one statement per 500). */
  async updateTaskInstances(
    keys: readonly Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex">[],
    set: Partial<Pick<TaskInstanceRecord, "state" | "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream" | "readyAt" | "endedAt" | "startedAt" | "tryNumber" | "tryBase" | "attemptId" | "sensorDeadline" | "pokeCount">>,
  ): Promise<void> {
    const cols = Object.entries(tiColumns(set));
    if (cols.length === 0) return;
    const assign = cols.map(([c]) => `${c} = ?`).join(", ");
    const values = cols.map(([, v]) => v);
    // every chunk issued before any answer is awaited: a caller may issue more statements behind them
    const chunks: Promise<unknown>[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const where =
        chunk.length === 1
          ? "run_id = ? and task_id = ? and map_index = ?"
          : `(run_id, task_id, map_index) in (values ${keyRows(this.store.dialect, chunk.length)})`;
      chunks.push(this.exec(`update task_instances set ${assign} where ${where}`, [...values, ...chunk.flatMap((k) => [k.runId, k.taskId, k.mapIndex])]));
    }
    await Promise.all(chunks);
  }

  /**
   * Write task instance changes, each row its own columns. Issued at once (pipelined on PostgreSQL); a
   * caller that does not wait for it learns of a failure from the COMMIT.
   *
   * PostgreSQL: one statement of constant text (arrays, unnest), prepared once: every column a row does
   * not change keeps its value (a bit mask per row), so NULL can be written too. SQLite: one UPDATE per
   * distinct change (better-sqlite3 answers at once; statements are cheap there).
   */
  writeChanges(rows: readonly TiWrite[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (this.store.dialect === "postgres") {
      const sets = rows.map((r) => tiColumns(r.set) as Record<string, unknown>);
      // only the columns some row sets: a statement text per set of columns (few: the transitions' shapes)
      const used = TI_SET.filter(([name]) => sets.some((r) => name in r));
      const params: unknown[][] = [rows.map((r) => r.key.runId), rows.map((r) => r.key.taskId), rows.map((r) => r.key.mapIndex), []];
      for (const [name] of used) params.push(sets.map((r) => (name in r ? r[name] : null)));
      for (const r of sets) params[3]!.push(used.reduce((m, [name], c) => (name in r ? m | (1 << c) : m), 0));
      return quiet(this.send(writeChangesPg(used), params, true).then(() => undefined));
    }
    // every statement issued now, in order (a caller that does not wait may issue more behind them)
    const groups = new Map<string, { set: TiWrite["set"]; keys: TiWrite["key"][] }>();
    for (const { key, set } of rows) {
      const sig = JSON.stringify(Object.entries(set).sort(([a], [b]) => (a < b ? -1 : 1)));
      const g = groups.get(sig);
      if (g) g.keys.push(key);
      else groups.set(sig, { set, keys: [key] });
    }
    return quiet(Promise.all([...groups.values()].map((g) => quiet(this.updateTaskInstances(g.keys, g.set)))).then(() => undefined));
  }

  /**
   * Add to runs' unfinished counts, in place; returns each run's new count. Issued at once (pipelined on
   * PostgreSQL). `knownRun` rows follow: exact for runs this transaction owns, an estimate for others
   * (their other writers may have counted down meanwhile).
   */
  addUnfinishedMany(deltas: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    const runs = [...deltas].filter(([, d]) => d !== 0);
    for (const [id, d] of runs) {
      const known = this.lockedRuns.get(id);
      if (known) known.unfinished += d;
    }
    if (runs.length === 0) return Promise.resolve(new Map());
    if (this.store.dialect === "postgres" && runs.length > 1) {
      const counted = this.send<{ run_id: string; unfinished: number }>(
        `update runs set unfinished = runs.unfinished + d.d from unnest(?::text[], ?::integer[]) as d(run_id, d)
          where runs.run_id = d.run_id returning runs.run_id, runs.unfinished`,
        [runs.map(([id]) => id), runs.map(([, d]) => d)],
      ).then((r) => new Map(r.rows.map((x) => [x.run_id, Number(x.unfinished)])));
      return quiet(counted);
    }
    // one run (the common case), and SQLite: by key, a plan no statistics can turn into a scan of every run
    const counts = runs.map(([id, d]) => this.send<{ unfinished: number }>("update runs set unfinished = unfinished + ? where run_id = ? returning unfinished", [d, id]));
    return quiet(Promise.all(counts).then((rs) => new Map(rs.map((r, i) => [runs[i]![0], r.rows[0]!.unfinished]))));
  }

  /**
   * Fan-in task instances (SpecIndex.fanIn) of runs this transaction does not own: add to their counters
   * in place, or skip them, where they still wait (state 'none'); returns the rows it changed, as they are
   * now. Their row locks are held from here to COMMIT, so callers issue this last. PostgreSQL only.
   */
  async bumpTaskInstances(bumps: readonly TiBump[], now: number): Promise<TaskInstanceRecord[]> {
    if (bumps.length === 0) return [];
    const r = await this.send<Row<"task_instances">>(
      `update task_instances t
          set n_success = t.n_success + v.s, n_failed = t.n_failed + v.f, n_upstream_failed = t.n_upstream_failed + v.uf,
              n_skipped = t.n_skipped + v.sk, n_upstream = t.n_upstream + v.up,
              state = case when v.skip then 'skipped' else t.state end, ended_at = case when v.skip then ? else t.ended_at end
         from unnest(?::text[], ?::text[], ?::integer[], ?::integer[], ?::integer[], ?::integer[], ?::integer[], ?::boolean[])
           as v(run_id, task_id, s, f, uf, sk, up, skip)
        where t.run_id = v.run_id and t.task_id = v.task_id and t.state = 'none'
        returning t.*`,
      [
        now,
        bumps.map((b) => b.runId),
        bumps.map((b) => b.taskId),
        bumps.map((b) => b.add.nSuccess ?? 0),
        bumps.map((b) => b.add.nFailed ?? 0),
        bumps.map((b) => b.add.nUpstreamFailed ?? 0),
        bumps.map((b) => b.add.nSkipped ?? 0),
        bumps.map((b) => b.add.nUpstream ?? 0),
        bumps.map((b) => b.skip),
      ],
    );
    return r.rows.map(toTaskInstance);
  }

  async deleteTaskInstance(runId: string, taskId: string, mapIndex: number): Promise<void> {
    await this.db.deleteFrom("task_instances").where("run_id", "=", runId).where("task_id", "=", taskId).where("map_index", "=", mapIndex).execute();
  }

  /**
   * Issue a claim's first reads now (capacity.ts `sendClaimReads`), so that they travel with the other
   * reads the transaction is about to make (PostgreSQL); `chooseClaims` then chooses from their answers.
   */
  sendClaimReads(opts: CapacityClaim): ClaimReads | null {
    return sendClaimReads(this, opts, this.now(), CLAIM_LOCKS_PG);
  }

  /**
   * Claim up to `limit` ready task instances: each gets a new attempt (its id is the fencing token) with
   * a lease. SQLite has one writer at a time, so the select-then-update cannot race; the PostgreSQL dialect
   * adds FOR UPDATE SKIP LOCKED. A transaction that goes on issues the reads early (`sendClaimReads`),
   * chooses (`chooseClaims`) and claims (`claimChosen`) without waiting for the new attempts.
   */
  async claimReady(opts: CapacityClaim & { leaseMs: number }): Promise<ClaimedAttempt[]> {
    const reads = this.sendClaimReads(opts);
    if (!reads) return [];
    return this.claimChosen(opts, await this.chooseClaims(opts, reads), reads.now).claimed;
  }

  /**
   * The rows a claim takes (capacity.ts `chooseClaimable`), from the reads issued earlier in this
   * transaction (`sendClaimReads`) and `fresh`: task instances this transaction made ready itself.
   */
  async chooseClaims(opts: CapacityClaim, reads: ClaimReads | null, fresh: readonly TaskInstanceRecord[] = []): Promise<ClaimableRow[]> {
    if (!reads || opts.limit <= 0) return [];
    // HOOK (decision 0012): capacity.ts chooses the ready rows — queues, pools, maxActiveTasks,
    // maxActiveTisPerDag, resources, priority and fairness between DAGs — inside this transaction; on
    // PostgreSQL it locks them FOR UPDATE SKIP LOCKED (CLAIM_LOCKS_PG) after serialising on the pool rows.
    // Fresh rows were made ready after the reads were issued: due as of now, not as of then.
    return chooseClaimable(this, reads, this.freshCandidates(opts, fresh, this.now()));
  }

  /**
   * Give the chosen rows their attempts. The statements are issued at once and not awaited: the new
   * attempts come with the next answer the caller awaits (on PostgreSQL, its COMMIT's).
   */
  claimChosen(opts: CapacityClaim & { leaseMs: number }, ready: readonly ClaimableRow[], now: number): PendingClaim {
    if (ready.length === 0) return { claimed: Promise.resolve([]), chosen: [] };
    const pg = this.store.dialect === "postgres";
    const lease = this.store.leaseNow();
    const host = this.store.hostname;
    // A sensor's next poke continues its try: the attempt it waits in runs again, with the same id and try
    // number (pokes are not tries, as in Airflow's reschedule mode). Everything else gets a new attempt.
    const repoke = new Set(ready.filter((r) => r.state === "up_for_reschedule" && r.attempt_id !== null));
    const rows = repoke.size === 0 ? ready : ready.filter((r) => !repoke.has(r));
    if (repoke.size > 0) {
      const again = [...repoke];
      void this.send(
        `update attempts set state = 'running', worker_id = ?, hostname = ?, pid = ?, heartbeat_at = ${lease.expr}, lease_expires_at = ${lease.expr} + ?
          where state = 'up_for_reschedule' and attempt_id in (${marks(again.length)})`,
        [opts.workerId, host, process.pid, ...lease.params, ...lease.params, opts.leaseMs, ...again.map((r) => r.attempt_id)],
      );
      void this.send(
        `update task_instances set state = 'running', ready_at = null
          where (run_id, task_id, map_index) in (values ${keyRows(this.store.dialect, again.length)})`,
        again.flatMap((r) => [r.run_id, r.task_id, r.map_index]),
      );
    }
    const values = `values ${rows.map(() => `(?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ${lease.expr}, ${lease.expr} + ?)`).join(", ")}`;
    const valueParams = rows.flatMap((r) => [r.run_id, r.task_id, r.map_index, r.try_number + 1, r.try_base, opts.workerId, host, process.pid, now, ...lease.params, ...lease.params, opts.leaseMs]);
    type Inserted = { attempt_id: number; run_id: string; task_id: string; map_index: number };
    // PostgreSQL: the new attempts and their task instances in one statement
    const inserted: Promise<{ rows: Inserted[] }> = rows.length === 0 ? Promise.resolve({ rows: [] }) : pg ? this.send<Inserted>(
      `with ins as (
         insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid, started_at, heartbeat_at, lease_expires_at)
         ${values}
         returning attempt_id, run_id, task_id, map_index)
       update task_instances t
          set state = 'running', try_number = t.try_number + 1, started_at = ?, ready_at = null, attempt_id = ins.attempt_id
         from ins
        where t.run_id = ins.run_id and t.task_id = ins.task_id and t.map_index = ins.map_index
       returning ins.attempt_id, ins.run_id, ins.task_id, ins.map_index`,
      [...valueParams, now],
    ) : this.send<Inserted>(
      `insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid, started_at, heartbeat_at, lease_expires_at)
       ${values}
       returning attempt_id, run_id, task_id, map_index`,
      valueParams,
    );
    // One statement for all claimed rows; the subquery finds each row's new attempt (SET sees old values).
    if (rows.length > 0 && !pg) void this.send(
      `update task_instances
          set state = 'running', try_number = try_number + 1, started_at = ?, ready_at = null,
              attempt_id = (select a.attempt_id from attempts a
                             where a.run_id = task_instances.run_id and a.task_id = task_instances.task_id
                               and a.map_index = task_instances.map_index and a.try_number = task_instances.try_number + 1)
        where ${rows.length === 1 ? "run_id = ? and task_id = ? and map_index = ?" : `(run_id, task_id, map_index) in (values ${keyRows(this.store.dialect, rows.length)})`}`,
      [now, ...rows.flatMap((r) => [r.run_id, r.task_id, r.map_index])],
    );
    const claimed = inserted.then((ins) => {
      const ids = new Map(ins.rows.map((r) => [`${r.run_id}\0${r.task_id}\0${r.map_index}`, Number(r.attempt_id)]));
      const paramsCache = new Map<string, Record<string, unknown>>();
      return ready.map((r): ClaimedAttempt => {
        let params = paramsCache.get(r.params);
        if (!params) paramsCache.set(r.params, (params = JSON.parse(r.params) as Record<string, unknown>));
        const again = repoke.has(r);
        return {
          attemptId: again ? r.attempt_id! : ids.get(`${r.run_id}\0${r.task_id}\0${r.map_index}`)!,
          runId: r.run_id,
          dagId: r.dag_id,
          dagVersion: r.dag_version,
          taskId: r.task_id,
          mapIndex: r.map_index,
          tryNumber: again ? r.try_number : r.try_number + 1,
          logicalDate: r.logical_date,
          dataIntervalStart: r.data_interval_start,
          dataIntervalEnd: r.data_interval_end,
          params,
          pokes: r.poke_count,
        };
      });
    });
    claimed.catch(() => undefined); // the transaction's COMMIT reports a failure
    return { claimed, chosen: ready.map((r) => `${r.run_id}\0${r.task_id}\0${r.map_index}`) };
  }

  /** Task instances this transaction made ready, as claim candidates (their runs read by `runRows`). */
  private freshCandidates(opts: CapacityClaim, rows: readonly TaskInstanceRecord[], now: number): Candidate[] {
    const out: Candidate[] = [];
    for (const t of rows) {
      const r = this.lockedRuns.get(t.runId);
      if (!r || r.state !== "running") continue;
      if (t.state !== "scheduled" && t.state !== "up_for_retry" && t.state !== "up_for_reschedule") continue;
      if (t.readyAt === null || t.readyAt > now) continue;
      if (opts.runId !== undefined && t.runId !== opts.runId) continue;
      if (opts.backfillId !== undefined && r.backfill_id !== opts.backfillId) continue;
      if (opts.queues?.length && !opts.queues.includes(t.queue)) continue;
      out.push({
        run_id: t.runId,
        task_id: t.taskId,
        map_index: t.mapIndex,
        try_number: t.tryNumber,
        try_base: t.tryBase,
        state: t.state,
        attempt_id: t.attemptId,
        poke_count: t.pokeCount,
        dag_id: r.dag_id,
        dag_version: r.dag_version,
        logical_date: r.logical_date,
        params: r.params,
        data_interval_start: r.data_interval_start,
        data_interval_end: r.data_interval_end,
        priority: t.priority,
        ready_at: t.readyAt,
      });
    }
    return out;
  }

  /**
   * End a live attempt: running, or a sensor's waiting between pokes (the engine ends those on cancel,
   * clear and sensor timeout). Returns null when the attempt is not live any more (it was fenced out:
   * cancelled, expired or superseded) — its result must then be dropped. An ended attempt is never
   * written again.
   */
  async endAttempt(end: AttemptEnd): Promise<EndedAttempt | null> {
    return (await this.endAttemptsIn([end], ["running", "up_for_reschedule"])).get(end.attemptId) ?? null;
  }

  /**
   * End running attempts, one statement for the group. Attempts that are not running any more (fenced
   * out: cancelled, expired, superseded) are missing from the result — their results must be dropped. An
   * ended attempt is never written again.
   */
  async endAttempts(ends: readonly AttemptEnd[]): Promise<Map<number, EndedAttempt>> {
    return this.endAttemptsIn(ends, ["running"]);
  }

  /** `live`: the states an attempt may end from, as parameters (BY_ID_STATE). */
  private async endAttemptsIn(ends: readonly AttemptEnd[], live: readonly string[]): Promise<Map<number, EndedAttempt>> {
    type Ended = { attempt_id: number; run_id: string; task_id: string; map_index: number; try_number: number; try_base: number };
    // every chunk issued before the first answer is awaited (pipelined on PostgreSQL)
    const answers: Promise<QueryResult<Ended>>[] = [];
    for (let i = 0; i < ends.length; i += 200) {
      const chunk = ends.slice(i, i + 200);
      const row = this.store.dialect === "postgres" ? END_VALUES_PG : END_VALUES_SQLITE;
      answers.push(this.send<Ended>(
        `update attempts
            set state = v.column2, ended_at = v.column3, error_code = v.column4, error_message = v.column5,
                error_stack = v.column6, exit_code = v.column7, output_inline = v.column8, output_ref = v.column9,
                output_size = v.column10
           from (values ${chunk.map(() => row).join(", ")}) as v
          where attempts.attempt_id = v.column1 and attempts.state in (${marks(live.length)})
          returning attempts.attempt_id, attempts.run_id, attempts.task_id, attempts.map_index, attempts.try_number, attempts.try_base`,
        [...chunk.flatMap((e) => [
          e.attemptId,
          e.state,
          e.endedAt,
          e.errorCode ?? null,
          e.errorMessage ?? null,
          e.errorStack ?? null,
          e.exitCode ?? null,
          e.outputInline ?? null,
          e.outputRef ?? null,
          e.outputSize ?? null,
        ]), ...live],
      ));
    }
    const out = new Map<number, EndedAttempt>();
    for (const r of await Promise.all(answers)) {
      for (const x of r.rows) {
        out.set(Number(x.attempt_id), { runId: x.run_id, taskId: x.task_id, mapIndex: x.map_index, tryNumber: x.try_number, tryBase: x.try_base });
      }
    }
    return out;
  }

  /**
   * Sensors' running attempts whose poke found the condition unmet: they wait for the next poke with no
   * worker and no lease (`claimReady` runs them again). Attempts not running any more (fenced out) are
   * missing from the result.
   */
  async rescheduleAttempts(pokes: readonly { attemptId: number; at: number }[]): Promise<Map<number, WaitingAttempt>> {
    const out = new Map<number, WaitingAttempt>();
    for (let i = 0; i < pokes.length; i += 500) {
      const chunk = pokes.slice(i, i + 500);
      const r = await this.exec<{ attempt_id: number; run_id: string; task_id: string; map_index: number; try_number: number; try_base: number; started_at: number }>(
        `update attempts set state = 'up_for_reschedule', heartbeat_at = ?
          where state = ? and attempt_id in (${marks(chunk.length)})
          returning attempt_id, run_id, task_id, map_index, try_number, try_base, started_at`,
        [chunk[0]!.at, "running", ...chunk.map((p) => p.attemptId)], // BY_ID_STATE
      );
      for (const x of r.rows) {
        out.set(Number(x.attempt_id), { runId: x.run_id, taskId: x.task_id, mapIndex: x.map_index, tryNumber: x.try_number, tryBase: x.try_base, startedAt: x.started_at });
      }
    }
    return out;
  }

  getOutputs(runId: string, taskId: string): Promise<StoredOutput[]> {
    return selectOutputs(this.db, runId, taskId);
  }

  /** Live attempts of a run — running, or a sensor's waiting between pokes — to end them on cancel or run timeout. */
  async runningAttempts(runId: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom("attempts")
      .select("attempt_id")
      .where("run_id", "=", runId)
      .where("state", "in", ["running", "up_for_reschedule"])
      .execute();
    return rows.map((r) => r.attempt_id);
  }
}

/** A claim whose rows are chosen (`Tx.claimChosen`). */
export interface PendingClaim {
  /** The new attempts, once their ids are known (PostgreSQL: answered before the COMMIT). */
  claimed: Promise<ClaimedAttempt[]>;
  /** The task instances claimed: runId\0taskId\0mapIndex. */
  chosen: string[];
}

/** One task instance's changed columns (`Tx.writeChanges`). */
export interface TiWrite {
  key: Pick<TaskInstanceRecord, "runId" | "taskId" | "mapIndex">;
  set: Partial<Pick<TaskInstanceRecord, "state" | "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream" | "readyAt" | "endedAt" | "startedAt" | "tryNumber" | "tryBase" | "attemptId" | "sensorDeadline" | "pokeCount">>;
}

/** The task instance columns `writeChanges` sets on PostgreSQL, with their types, in mask-bit order. */
const TI_SET: readonly [string, string][] = [
  ["state", "text"],
  ["n_success", "integer"],
  ["n_failed", "integer"],
  ["n_upstream_failed", "integer"],
  ["n_skipped", "integer"],
  ["n_upstream", "integer"],
  ["ready_at", "bigint"],
  ["ended_at", "bigint"],
  ["started_at", "bigint"],
  ["try_number", "integer"],
  ["try_base", "integer"],
  ["attempt_id", "bigint"],
  ["sensor_deadline", "bigint"],
  ["poke_count", "integer"],
];

/**
 * Tx.writeChanges on PostgreSQL for a set of columns: $1–$4 the keys and a bit mask per row (which of the
 * columns it sets), then one array per column. Built once per set.
 */
function writeChangesPg(cols: readonly (readonly [string, string])[]): string {
  const key = cols.map(([n]) => n).join(",");
  let text = writeChangesTexts.get(key);
  if (!text) {
    text = `update task_instances t set ${cols.map(([n], c) => `${n} = case when v.m & ${1 << c} <> 0 then v.${n} else t.${n} end`).join(", ")}
    from unnest($1::text[], $2::text[], $3::integer[], $4::integer[]${cols.map(([, t], c) => `, $${5 + c}::${t}[]`).join("")})
      as v(run_id, task_id, map_index, m${cols.map(([n]) => `, ${n}`).join("")})
   where t.run_id = v.run_id and t.task_id = v.task_id and t.map_index = v.map_index`;
    writeChangesTexts.set(key, text);
  }
  return text;
}
const writeChangesTexts = new Map<string, string>();

/** Counters to add to (or a skip of) every waiting instance of a fan-in task (`Tx.bumpTaskInstances`). */
export interface TiBump {
  runId: string;
  taskId: string;
  add: Partial<Pick<TaskInstanceRecord, "nSuccess" | "nFailed" | "nUpstreamFailed" | "nSkipped" | "nUpstream">>;
  skip: boolean;
}

/** A stalled run (Store.stalledRuns), for `runs r`: served by runs_active, task_instances_ready_run, attempts_live. */
const STALLED = `r.state in ('queued', 'running') and r.state = 'running' and r.unfinished > 0
  and not exists (select 1 from task_instances t where t.run_id = r.run_id and t.state in ('scheduled', 'up_for_retry', 'up_for_reschedule'))
  and not exists (select 1 from attempts a where a.run_id = r.run_id and a.state = 'running')`;

/** What `Tx.runRows` reads of a run: its state and counter, and what a claim of its task instances needs. */
export interface RunLockRow extends RunContextRow {
  run_id: string;
  state: string;
  unfinished: number;
  backfill_id: number | null;
}
const RUN_LOCK_COLUMNS = "run_id, state, unfinished, dag_id, dag_version, logical_date, params, data_interval_start, data_interval_end, backfill_id";

/** One row of `endAttempts`' VALUES list; PostgreSQL needs the types spelled out. */
const END_VALUES_SQLITE = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const END_VALUES_PG = "(?::bigint, ?::text, ?::bigint, ?::text, ?::text, ?::text, ?::integer, ?::bytea, ?::text, ?::bigint)";

/**
 * PostgreSQL's claim locks. The task instances: FOR UPDATE SKIP LOCKED, so that claimers never wait for
 * each other and never take the same row (graphile-worker's getJobs). Their runs: FOR KEY SHARE, which
 * conflicts only with the FOR UPDATE that transitions take on a run (`Tx.lockRuns`): a claim skips the
 * ready rows of a run being cancelled or cleared at this instant instead of racing with it, and claims
 * never block each other on the run row.
 */
const CLAIM_LOCKS_PG = "for update of ti skip locked for key share of r skip locked";

/** Epoch milliseconds of PostgreSQL's clock (lease time; clock_timestamp: now, not the transaction's start). */
const PG_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/*
 * BY_ID_STATE: statements that find attempts by id and check their state take the state as a parameter,
 * not a literal. With a literal, PostgreSQL may serve them from the partial index attempts_live (its
 * predicate is that literal) and filter by id: a scan of every running attempt — and, until VACUUM, of
 * every attempt that ran since — instead of one primary-key lookup. A prepared statement's generic plan is
 * made once per connection from whatever the statistics were then, so this was a lottery per connection
 * (decision 0013). A parameter cannot prove the index's predicate, so only the key remains.
 */

/** `n` rows of (run_id, task_id, map_index) for `in (values …)`; PostgreSQL needs the integer spelled out. */
function keyRows(dialect: DialectName, n: number): string {
  const row = dialect === "postgres" ? "(?, ?, ?::integer)" : "(?, ?, ?)";
  return Array.from({ length: n }, () => row).join(", ");
}

function marks(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

const pgTexts = new Map<string, string>();

/** SQLite takes `?`; PostgreSQL takes `$1, $2, …`. The hot statements contain no `?` in literals. */
function placeholders(dialect: DialectName, text: string): string {
  if (dialect === "sqlite") return text;
  let out = pgTexts.get(text);
  if (!out) {
    let n = 0;
    out = preparable(text.replace(/\?/g, () => `$${++n}`));
    pgTexts.set(text, out);
  }
  return out;
}

async function selectOutputs(db: Kysely<Database>, runId: string, taskId: string): Promise<StoredOutput[]> {
  const rows = await db
    .selectFrom("task_instances as ti")
    .leftJoin("attempts as a", (j) => j.onRef("a.attempt_id", "=", "ti.attempt_id").on("a.state", "=", "success"))
    .select(["ti.map_index", "a.output_inline", "a.output_ref"])
    .where("ti.run_id", "=", runId)
    .where("ti.task_id", "=", taskId)
    .orderBy("ti.map_index")
    .execute();
  return rows.map((r) => ({ mapIndex: r.map_index, inline: r.output_inline ?? null, ref: r.output_ref ?? null }));
}

const ATTEMPT_COLUMNS = [
  "attempt_id",
  "run_id",
  "task_id",
  "map_index",
  "try_number",
  "state",
  "worker_id",
  "hostname",
  "pid",
  "started_at",
  "ended_at",
  "heartbeat_at",
  "lease_expires_at",
  "error_code",
  "error_message",
  "error_stack",
  "exit_code",
  "output_size",
  "output_ref",
] as const;

function toAttempt(r: Omit<Row<"attempts">, "output_inline" | "try_base">): AttemptRecord {
  return {
    attemptId: r.attempt_id,
    runId: r.run_id,
    taskId: r.task_id,
    mapIndex: r.map_index,
    tryNumber: r.try_number,
    state: r.state as AttemptState,
    workerId: r.worker_id,
    hostname: r.hostname,
    pid: r.pid,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    heartbeatAt: r.heartbeat_at,
    leaseExpiresAt: r.lease_expires_at,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    errorStack: r.error_stack,
    exitCode: r.exit_code,
    outputSize: r.output_size,
    outputRef: r.output_ref,
  };
}

function tiColumns(set: Partial<TaskInstanceRecord>): Partial<Row<"task_instances">> {
  const out: Partial<Row<"task_instances">> = {};
  if (set.state !== undefined) out.state = set.state;
  if (set.nSuccess !== undefined) out.n_success = set.nSuccess;
  if (set.nFailed !== undefined) out.n_failed = set.nFailed;
  if (set.nUpstreamFailed !== undefined) out.n_upstream_failed = set.nUpstreamFailed;
  if (set.nSkipped !== undefined) out.n_skipped = set.nSkipped;
  if (set.nUpstream !== undefined) out.n_upstream = set.nUpstream;
  if (set.readyAt !== undefined) out.ready_at = set.readyAt;
  if (set.endedAt !== undefined) out.ended_at = set.endedAt;
  if (set.startedAt !== undefined) out.started_at = set.startedAt;
  if (set.tryNumber !== undefined) out.try_number = set.tryNumber;
  if (set.tryBase !== undefined) out.try_base = set.tryBase;
  if (set.attemptId !== undefined) out.attempt_id = set.attemptId;
  if (set.sensorDeadline !== undefined) out.sensor_deadline = set.sensorDeadline;
  if (set.pokeCount !== undefined) out.poke_count = set.pokeCount;
  return out;
}
