/**
 * The store: opening it (SQLite or PostgreSQL), migrations, transactions with their retries, the clock
 * and lease time. Every SQL statement of Sluice lives in `store/`, in the file named after what it reads
 * or writes, as methods of one object per aggregate (`store.runs`, `tx.attempts`, …: aggregates.ts), as
 * pg-boss keeps plans.ts and graphile-worker src/sql/. Writes that must be atomic run in a `Tx` (tx.ts),
 * obtained from `Store.tx()`; the engine composes them into one transaction per group of transitions.
 */
import { hostname } from "node:os";
import { Migrator, sql, type Kysely, type Transaction } from "kysely";
import type { Clock } from "../core/clock.js";
import { systemClock } from "../core/clock.js";
import { SluiceError, toSluiceError } from "../errors.js";
import { ClaimState } from "./claims.js";
import { MIGRATION_NAMES, migrationProvider, type DialectName } from "./migrations.js";
import type { Database } from "./schema.js";
import { openSqlite, PendingQueries, type SqliteDirect } from "./sqlite.js";
import { connectionOf, isPostgresUrl, listenTarget, openPostgres, quiet } from "./postgres.js";
import { PgNotifier } from "./notifier.js";
import { Aggregates } from "./aggregates.js";
import { PG_NOW_MS } from "./sqlText.js";
import { diskFullDelayMs, isDiskFullError, isRetryableTxError, retryAgain, retryDelayMs, toStoreError } from "./retry.js";
import { metrics, recording } from "../metrics/registry.js";

export { quiet };
export { Tx, type TxOptions } from "./tx.js";
export type { CallbackRecord, NewCallback } from "./callbacks.js";
export type { DeadlineMissRecord } from "./deadlines.js";
import { Tx, type TxOptions } from "./tx.js";
export type { TiBump, TiWrite } from "./taskInstances.js";
export type { AttemptEnd, AttemptRecord, ClaimedAttempt, EndedAttempt, NewTaskInstance, RunRecord, StoredOutput, TaskInstanceRecord, WaitingAttempt } from "./records.js";

const MIGRATION_TABLE = "sluice_migrations";
/** The transaction histogram's two series, bound once (an observation costs ~0.1-0.3 µs: decision 0018). */
const txCommits = metrics.txDuration.labels("commit");
const txRollbacks = metrics.txDuration.labels("rollback");
const MIGRATION_LOCK_TABLE = "sluice_migrations_lock";
export interface StoreOptions {
  /** `sqlite:<file>`, a bare file path, or `postgres://…` (store/postgres.ts: `?schema=` isolates). */
  url: string;
  clock?: Clock;
  busyTimeoutMs?: number;
  /** PostgreSQL: connections of this process's query pool (the LISTEN connection comes on top). */
  poolSize?: number;
  /**
   * PostgreSQL behind a transaction pooler (`?pgbouncer=true` in `url`): a URL straight to PostgreSQL for
   * the LISTEN connection (SLUICE_DATABASE_DIRECT_URL). Without it such a store polls.
   */
  directUrl?: string | null;
  /** Bring the schema up to date on open (default true; `sluice db migrate` does it explicitly). */
  migrate?: boolean;
  /**
   * SQLite on a full disk: "wait" — a transaction that fails for want of space (rolled back, nothing
   * of it recorded) runs again with backoff until there is space; long-running processes (worker,
   * scheduler, dev, server) must stay up. "fail" (default): it throws DISK_FULL, as a command should.
   */
  diskFull?: "fail" | "wait";
}

/** A store's disk-full episodes, as they begin (`full`, with the write's error) and end. */
export type DiskFullEvent = { full: true; error: unknown } | { full: false };

export class Store extends Aggregates {
  readonly hostname = hostname();

  /** PostgreSQL: cross-process wake-ups (LISTEN/NOTIFY); null on SQLite. */
  readonly notifier: PgNotifier | null;

  /** @internal What this store's claims keep between claims (store/claims.ts): caches and lock hints, shared with no other store. */
  readonly claimState = new ClaimState();

  /** SQLite: the connection for a transaction's literal statements (Tx.send). */
  private sqliteDirect: SqliteDirect | null = null;

  /** SQLite: whether writes that find the disk full wait for space (StoreOptions.diskFull). */
  private diskFullPolicy: "fail" | "wait" = "fail";
  /** Since when writes of this process wait for disk space (store time); null: they do not. */
  private diskFullAt: number | null = null;
  private diskFullListeners: ((e: DiskFullEvent) => void)[] = [];

  private constructor(
    protected readonly db: Kysely<Database>,
    readonly dialect: DialectName,
    /** Where the data lives, for messages: a file, or a URL without its password. */
    readonly location: string,
    readonly clock: Clock,
    notifier: PgNotifier | null = null,
    /** PostgreSQL through a transaction pooler: no session state outside a transaction (store/postgres.ts). */
    private readonly pooled = false,
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
      let listen;
      try {
        listen = listenTarget(target, opts.directUrl ?? null);
      } catch (e) {
        await db.destroy();
        throw e;
      }
      store = new Store(db, "postgres", target.display, opts.clock ?? systemClock, new PgNotifier(target.schema, listen), target.pooled);
    } else {
      const file = url.startsWith("sqlite:") ? url.slice("sqlite:".length).replace(/^\/\//, "") : url;
      const { db, direct } = openSqlite({ file, busyTimeoutMs: opts.busyTimeoutMs ?? 5000 });
      store = new Store(db, "sqlite", file, opts.clock ?? systemClock);
      store.sqliteDirect = direct;
      store.diskFullPolicy = opts.diskFull ?? "fail";
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
    if (this.pooled) return this.migrateThroughPooler();
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

  /**
   * Through a transaction pooler a session advisory lock would stay on whichever server connection the
   * pooler picked, for its next client to inherit. So the whole migration is one transaction: a
   * transaction-scoped lock keyed by the schema (the same key as a direct migration's, so the two exclude
   * each other), then every pending step — PostgreSQL's DDL is transactional, and Kysely's own session
   * lock is switched off for this dialect (PooledAdapter). A failed step rolls all of them back.
   */
  private migrateThroughPooler(): Promise<string[]> {
    return this.db.connection().execute(async (conn) => {
      await sql`begin`.execute(conn);
      try {
        await sql`select pg_advisory_xact_lock(hashtext('sluice_migrate:' || current_schema()))`.execute(conn);
        const schema = (await sql<{ s: string }>`select current_schema() as s`.execute(conn)).rows[0]!.s;
        const done = await this.migrateWith(conn, schema, { inTransaction: true });
        await sql`commit`.execute(conn);
        return done;
      } catch (e) {
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw e;
      }
    });
  }

  private async migrateWith(db: Kysely<Database>, schema?: string, o: { inTransaction?: boolean } = {}): Promise<string[]> {
    await this.refuseNewerSchema(db);
    const migrator = new Migrator({
      db,
      ...(schema ? { migrationTableSchema: schema } : {}),
      // already inside the caller's transaction (migrateThroughPooler)
      ...(o.inTransaction ? { disableTransactions: true } : {}),
      provider: migrationProvider(this.dialect),
      migrationTableName: MIGRATION_TABLE,
      migrationLockTableName: MIGRATION_LOCK_TABLE,
      // migrations are numbered on parallel branches (0007 landed before 0006): apply late arrivals too
      allowUnorderedMigrations: true,
    });
    let { error, results } = await migrator.migrateToLatest();
    // (inside one transaction a failed statement ends it: nothing to look again with, and no race under its lock)
    for (let i = 0; i < (o.inTransaction ? 0 : 10) && error && /already exists/i.test(String((error as Error).message)); i++) {
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
    if (this.dialect === "sqlite") return this.diskFullPolicy === "wait" ? this.txWaitingForSpace(fn) : this.txOnce(fn, "begin immediate");
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.txOnce(fn, "begin", opts);
      } catch (e) {
        const kind = isRetryableTxError(e);
        if (!kind || !retryAgain(kind, attempt, started)) throw toStoreError(e, this.location);
        metrics.txRetries.labels(kind).inc();
        await new Promise((r) => setTimeout(r, retryDelayMs(kind, attempt)));
      }
    }
  }

  /**
   * Whether writes of this process wait for disk space now (/health reports it: statfs alone misses a
   * disk with a few blocks left that the next transaction needs more than).
   */
  get waitingForDiskSpace(): boolean {
    return this.diskFullAt !== null;
  }

  /** Told once when writes begin to wait for disk space and once when they write again. */
  onDiskFull(fn: (e: DiskFullEvent) => void): () => void {
    this.diskFullListeners.push(fn);
    return () => {
      this.diskFullListeners = this.diskFullListeners.filter((f) => f !== fn);
    };
  }

  /**
   * SQLite, diskFull "wait": a transaction that failed for want of space was rolled back whole (txOnce),
   * so running `fn` again later records it once — the same contract as PostgreSQL's retries. Other
   * transactions go on meanwhile (reads answer; writes that need no new page even commit). The episode
   * begins at the first such failure and ends when a waiting transaction commits: one line each, not
   * one per retry.
   */
  private async txWaitingForSpace<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.txOnce(fn, "begin immediate");
        if (attempt > 1 && this.diskFullAt !== null) {
          this.diskFullAt = null;
          for (const l of this.diskFullListeners) l({ full: false });
        }
        return result;
      } catch (e) {
        if (!isDiskFullError(e)) throw e;
        if (this.diskFullAt === null) {
          this.diskFullAt = this.now();
          for (const l of this.diskFullListeners) l({ full: true, error: e });
        }
        await new Promise((r) => setTimeout(r, diskFullDelayMs(attempt)));
      }
    }
  }

  private txOnce<T>(fn: (tx: Tx) => Promise<T>, begin: "begin" | "begin immediate", opts: TxOptions = {}): Promise<T> {
    // timed from the request of a connection: waiting for one (a busy pool, SQLite's writer) is part of it
    const t0 = performance.now();
    return this.db.connection().execute(async (conn) => {
      // PostgreSQL: statements are pipelined (ReconnectingConnection.send). BEGIN and the run locks are
      // written at once and answered with the transaction's first read: no round trip of their own.
      const raw = this.dialect === "postgres" ? await connectionOf(conn) : null;
      // SQLite: the transaction's Kysely queries are tracked, so that its literal statements, run at once, keep their order
      const pending = this.sqliteDirect ? new PendingQueries() : null;
      const tx = new Tx((pending ? conn.withPlugin(pending) : conn) as unknown as Transaction<Database>, this, raw, this.sqliteDirect && pending ? { direct: this.sqliteDirect, pending } : null);
      if (opts.runLock) tx.runLock = opts.runLock;
      if (raw) {
        void raw.send(begin);
        if (opts.lockRuns?.length) void tx.lockRuns(opts.lockRuns);
      } else if (this.sqliteDirect) {
        this.sqliteDirect.run(begin, []);
      } else {
        await sql.raw(begin).execute(conn);
      }
      try {
        const result = await fn(tx);
        await tx.commit();
        if (recording.on) txCommits.observe((performance.now() - t0) / 1000);
        return result;
      } catch (e) {
        try {
          await sql`rollback`.execute(conn);
        } catch {
          // the transaction may already be gone (e.g. SQLITE_BUSY at begin); the original error matters
        }
        if (recording.on) txRollbacks.observe((performance.now() - t0) / 1000);
        throw e;
      }
    });
  }

  /** Run `fn` in a new transaction (StoreContext: aggregates that need one open it through this). */
  inTx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.tx(fn);
  }
}
