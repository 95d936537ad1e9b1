/**
 * The PostgreSQL dialect: Kysely's PostgresDialect over a bounded `pg.Pool`. One process holds at most
 * `poolSize` connections for queries, plus one dedicated LISTEN connection (store/notifier.ts) — so a
 * deployment of N processes needs N × (poolSize + 1) connections, whatever the load.
 *
 * The URL is a libpq URL; Sluice adds two parameters. `?schema=name` puts every table in that schema
 * (created if missing) — tests isolate themselves with it, and it lets several Sluice installations share
 * a database. `?pgbouncer=true` (Prisma's name for it) says the URL points at a pooler in transaction mode
 * (PgBouncer `pool_mode = transaction`, Supavisor, RDS Proxy): see `PoolerSession`. `application_name`
 * defaults to "sluice".
 */
import {
  CompiledQuery,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type DatabaseMetadata,
  type Dialect,
  type Driver,
  type QueryResult,
  type SchemaMetadata,
  type TableMetadata,
  type TransactionSettings,
} from "kysely";
import pg from "pg";
import { SluiceError } from "../errors.js";
import { isRetryableTxError } from "./retry.js";
import type { Database } from "./schema.js";

// int8 (count(*), bigint columns: millisecond timestamps, ids) as JS numbers, not strings: every value
// Sluice stores in a bigint is below 2^53 (epoch milliseconds, serial ids).
pg.types.setTypeParser(20, (v) => Number(v));
// numeric (sum(), avg()) likewise
pg.types.setTypeParser(1700, (v) => Number(v));

export interface PostgresOptions {
  url: string;
  poolSize: number;
}

export interface PostgresTarget {
  /** pg connection settings (password included: never log this). */
  config: pg.ClientConfig;
  schema: string | null;
  /**
   * `?pgbouncer=true`: a transaction-pooling proxy is in between, so a connection keeps no state between
   * transactions (no startup options, no prepared statements, no session locks, no LISTEN).
   */
  pooled: boolean;
  /** The URL without its password, for messages and logs. */
  display: string;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

/** The URL without user info' password: safe in messages, logs and API responses. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]+):[^@]*@/, "//$1:***@");
  }
}

export function parsePostgresUrl(url: string): PostgresTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SluiceError("CONFIG", `SLUICE_DATABASE_URL is not a valid URL: ${redactUrl(url)}`);
  }
  const schema = u.searchParams.get("schema");
  if (schema !== null && !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    throw new SluiceError("CONFIG", `SLUICE_DATABASE_URL: schema "${schema}" must be a plain identifier (letters, digits, _)`);
  }
  u.searchParams.delete("schema");
  const bouncer = u.searchParams.get("pgbouncer");
  if (bouncer !== null && bouncer !== "true" && bouncer !== "false") {
    throw new SluiceError("CONFIG", `SLUICE_DATABASE_URL: pgbouncer=${bouncer} must be true or false`);
  }
  u.searchParams.delete("pgbouncer");
  const appName = u.searchParams.get("application_name") ?? "sluice";
  u.searchParams.delete("application_name");
  const config: pg.ClientConfig = { connectionString: u.toString(), application_name: appName };
  const pooled = bouncer === "true";
  // search_path as a startup option: every pooled connection (and the LISTEN one) gets it, with no
  // extra round trip per checkout. Not through a pooler: PgBouncer refuses the `options` parameter
  // ("unsupported startup parameter") unless told to ignore it, and then a server connection would carry
  // another client's search_path (PoolerSession sets it per transaction instead).
  if (schema && !pooled) config.options = `-c search_path=${schema}`;
  return { config, schema, pooled, display: redactUrl(url) };
}

/**
 * The connection for LISTEN when the main URL goes through a transaction pooler (`directUrl`,
 * SLUICE_DATABASE_DIRECT_URL: straight to PostgreSQL, as Prisma's `directUrl`), or the main URL itself;
 * null when there is none (wake-ups then come from polling alone).
 */
export function listenTarget(main: PostgresTarget, directUrl: string | null): PostgresTarget | null {
  if (directUrl) {
    if (!isPostgresUrl(directUrl)) throw new SluiceError("CONFIG", `SLUICE_DATABASE_DIRECT_URL must be a postgres:// URL, not ${redactUrl(directUrl)}`);
    const direct = parsePostgresUrl(directUrl);
    if (direct.pooled) throw new SluiceError("CONFIG", `SLUICE_DATABASE_DIRECT_URL must reach PostgreSQL itself (it has pgbouncer=true): ${direct.display}`);
    // the channel is the main URL's schema's, whatever the direct URL says
    return { ...direct, schema: main.schema };
  }
  return main.pooled ? null : main;
}

/**
 * What every transaction sets first when a transaction pooler is in between (`?pgbouncer=true`), in
 * place of the startup options a direct connection gets: one statement, written with BEGIN (no round
 * trip of its own), scoped to the transaction (`set_config(…, true)` is SET LOCAL) so that nothing is
 * left on the server connection for the pooler's next client. Statements outside a transaction run
 * inside one (BEGIN, this, the statement, COMMIT, in one write) for the same reason.
 */
export function poolerSession(t: PostgresTarget): string | null {
  if (!t.pooled) return null;
  const settings: [string, string][] = [...(t.schema ? ([["search_path", t.schema]] as [string, string][]) : []), ...PLANNER_SETTINGS];
  return `select ${settings.map(([k, v]) => `set_config('${k}', '${v}', true)`).join(", ")}`;
}

/** Create the schema named in the URL, if any (before the pool's connections use it as search_path). */
async function ensureSchema(t: PostgresTarget): Promise<void> {
  if (!t.schema) return;
  const client = new pg.Client({ ...t.config, options: undefined });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query(`create schema if not exists "${t.schema}"`);
  } catch (e) {
    // two processes creating the same schema at once: the loser sees a unique violation; it exists now
    if ((e as { code?: string }).code !== "23505") throw e;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function openPostgres(opts: PostgresOptions): Promise<{ db: Kysely<Database>; pool: pg.Pool; target: PostgresTarget }> {
  const target = parsePostgresUrl(opts.url);
  try {
    await ensureSchema(target);
  } catch (e) {
    throw new SluiceError("DB_UNAVAILABLE", `cannot connect to PostgreSQL at ${target.display}: ${(e as Error).message}`, { cause: e });
  }
  const pool = new pg.Pool({
    ...target.config,
    // through a pooler the planner settings come with every transaction (poolerSession)
    ...(target.pooled ? {} : { options: [target.config.options, POOL_OPTIONS].filter(Boolean).join(" ") }),
    max: opts.poolSize,
    // statements are written without waiting for earlier answers (ReconnectingConnection.send)
    pipeline: true,
    // idle connections go back after a while (a burst must not pin the budget forever)
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle pooled connection that the server closes (restart, pg_terminate_backend) emits 'error' on the
  // pool; the pool drops it and opens a new one on the next checkout. Without this listener the process
  // would crash.
  pool.on("error", () => undefined);
  return { db: new Kysely<Database>({ dialect: new ReconnectingPostgresDialect(pool, poolerSession(target)) }), pool, target };
}

/**
 * Kysely's PostgresDialect, except for what a lost connection does. A statement outside a transaction
 * that fails because its connection died (PostgreSQL restarted, backend terminated) runs again on a new
 * connection, with a capped jittered backoff for up to a minute: reads, heartbeats and single-statement
 * writes survive a database restart without their callers knowing. Inside a transaction the error is
 * thrown, and `Store.tx` runs the whole transaction again.
 */
class ReconnectingPostgresDialect implements Dialect {
  /** `session`: poolerSession's statement (through a transaction pooler), or null. */
  constructor(
    private readonly pool: pg.Pool,
    private readonly session: string | null,
  ) {}
  createAdapter() {
    return this.session === null ? new PostgresAdapter() : new PooledAdapter();
  }
  createDriver(): Driver {
    return new ReconnectingDriver(this.pool, this.session);
  }
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

/**
 * Kysely's migrator takes a session advisory lock (pg_advisory_lock) around its transaction. Through a
 * transaction pooler the lock and the unlock would land on whatever server connections the pooler picks,
 * and a lock left on one of them would stop every later migration of the server. Store.migrate takes a
 * transaction-scoped lock instead and runs the migrator inside that transaction: this one does nothing.
 */
class PooledAdapter extends PostgresAdapter {
  override async acquireMigrationLock(): Promise<void> {}
  override async releaseMigrationLock(): Promise<void> {}
}

class ReconnectingDriver implements Driver {
  constructor(
    private readonly pool: pg.Pool,
    private readonly session: string | null,
  ) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    return new ReconnectingConnection(this.pool, this.session);
  }
  async beginTransaction(c: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    await c.executeQuery(CompiledQuery.raw(settings.isolationLevel ? `start transaction isolation level ${settings.isolationLevel}` : "begin"));
  }
  async commitTransaction(c: DatabaseConnection): Promise<void> {
    await c.executeQuery(CompiledQuery.raw("commit"));
  }
  async rollbackTransaction(c: DatabaseConnection): Promise<void> {
    await c.executeQuery(CompiledQuery.raw("rollback"));
  }
  async releaseConnection(c: DatabaseConnection): Promise<void> {
    (c as ReconnectingConnection).release();
  }
  async destroy(): Promise<void> {
    await this.pool.end();
  }
}

const RETRY_FOR_MS = 60_000;

/**
 * The hot path's statements with parameters (marked by `preparable`) run as named prepared statements,
 * parsed and planned once per connection instead of on every execution (planning alone was ~0.8 ms of a
 * 1 ms statement on the claim path). They are a bounded set of texts; past MAX_PREPARED distinct texts
 * the rest run unnamed, so neither side's per-connection cache grows without bound. BEGIN and COMMIT are
 * never marked.
 */
const MAX_PREPARED = 1000;
const prepared = new Map<string, string>();

/**
 * Let `text` run as a named prepared statement: only the hot path's statements (the transactions'
 * literal SQL, the claim's ready page), never migrations or other builder-made statements.
 */
export function preparable(text: string): string {
  if (!prepared.has(text) && prepared.size < MAX_PREPARED) prepared.set(text, `sluice_${prepared.size}`);
  return text;
}

function statementName(text: string): string | null {
  return prepared.get(text) ?? null;
}

/**
 * How the pool's connections plan (startup options: no statement of their own).
 *
 * - Prepared statements are planned once, generically. With the default ("auto") PostgreSQL keeps
 *   planning the hot statements whose parameters are arrays (the run locks, `writeChanges`) for every
 *   execution, because a custom plan looks cheaper than the generic one for the array it was shown — half
 *   a millisecond of a chain's handoff. The hot statements are key lookups, whose generic plans are the
 *   custom ones.
 * - Rows are found by key — index scans and nested loops — whatever the statistics say. Sluice's tables
 *   churn (every transition rewrites rows) and may never have been analyzed (autovacuum off, as on this
 *   project's CI machine, or not yet run on a new database): the cost model then takes a small-looking
 *   table for one worth scanning whole, and a table full of dead rows is not small (fanout-10000's task
 *   instance writes went from 0.05 to 1.3 ms per statement with a hash join over a sequential scan).
 *   Sluice's queries all have an index to go by; a query with none still scans.
 */
const POOL_OPTIONS = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off";

/** POOL_OPTIONS' planner settings per transaction, through a pooler (plan_cache_mode: no prepared statements there). */
const PLANNER_SETTINGS: [string, string][] = [
  ["enable_seqscan", "off"],
  ["enable_hashjoin", "off"],
  ["enable_mergejoin", "off"],
];

const guarded = new WeakSet<pg.PoolClient>();

/**
 * The pool listens for errors of idle clients only: a checked-out client that the server terminates
 * between two statements would emit an unhandled 'error' and crash the process. Its next query fails
 * (and is retried) instead.
 */
function guard(c: pg.PoolClient): pg.PoolClient {
  if (!guarded.has(c)) {
    guarded.add(c);
    c.on("error", () => undefined);
  }
  return c;
}

/**
 * One Kysely connection: a pooled client, checked out on first use and kept until released.
 *
 * Pipelining: the pool's clients run in node-postgres's pipeline mode, so a statement is written to the
 * socket as soon as it is issued, without waiting for the answers to the ones before it; they are
 * answered in order. A transaction (`Store.tx`) issues the statements whose results it does not need yet
 * through `send` and awaits them together: BEGIN, the run locks, the attempts' ends, the task instances
 * they touch and the claim's reads cost one round trip, and the writes, the new attempts and COMMIT
 * another (docs/decisions/0013-concurrent-settles.md).
 */
export class ReconnectingConnection implements DatabaseConnection {
  private client: pg.PoolClient | null = null;
  private inTx = false;
  /**
   * The first failure inside the current transaction. PostgreSQL answers every later statement with
   * 25P02 (transaction aborted) and a COMMIT with ROLLBACK: callers see this error instead, so that a
   * deadlock is still known as one (Store.tx retries it) and a failed transaction is never taken for a
   * committed one.
   */
  private txError: unknown = null;

  /**
   * `session`: through a transaction pooler, poolerSession's statement — sent after every BEGIN, and
   * around every statement outside a transaction — and no named prepared statements (a pooler hands the
   * next transaction to any server connection, where the name is unknown: "prepared statement
   * sluice_3 does not exist"). Null when connected to PostgreSQL itself.
   */
  constructor(
    private readonly pool: pg.Pool,
    private readonly session: string | null = null,
  ) {}

  /** Check a client out of the pool (a transaction's statements all go to it). */
  async acquire(): Promise<void> {
    this.client ??= guard(await this.pool.connect());
  }

  /**
   * Issue a statement inside the current transaction without waiting for the ones before it to be
   * answered (pipeline mode). The result comes in order; a failure also fails the transaction.
   */
  send<R>(text: string, values: readonly unknown[] = []): Promise<QueryResult<R>> {
    if (!this.client) return Promise.reject(new SluiceError("INTERNAL", "send() outside a transaction"));
    this.cork(this.client);
    // the transaction's COMMIT (or the next awaited statement) reports a failure
    return quiet(this.run<R>(this.client, text, values));
  }

  private corked = false;

  /**
   * Statements issued in one go (the same turn of the event loop) leave in one write: every statement is
   * a syscall of its own otherwise (writev was the worker's largest cost on the claim path).
   */
  private cork(client: pg.PoolClient): void {
    if (this.corked) return;
    const stream = (client as unknown as { connection: { stream: { cork(): void; uncork(): void } } }).connection.stream;
    this.corked = true;
    stream.cork();
    process.nextTick(() => {
      this.corked = false;
      stream.uncork();
    });
  }

  private async run<R>(client: pg.PoolClient, text: string, values: readonly unknown[]): Promise<QueryResult<R>> {
    const begins = /^\s*(begin|start transaction)/i.test(text);
    const ends = /^\s*(commit|rollback)\b/i.test(text);
    if (begins) {
      this.inTx = true;
      this.txError = null;
    }
    if (ends) this.inTx = false;
    if (this.session !== null && !begins && !ends && !this.inTx) return this.runInOwnTx<R>(client, text, values);
    try {
      const name = this.session === null ? statementName(text) : null;
      const answer = name ? client.query({ name, text, values: [...values] }) : client.query(text, [...values]);
      // written right behind BEGIN (pipeline mode): answered with it, no round trip of its own
      const session = begins && this.session !== null ? quiet(client.query(this.session)) : null;
      const r = await answer;
      if (session) await session;
      if (ends && r.command === "ROLLBACK" && /^\s*commit/i.test(text)) {
        // PostgreSQL rolled the transaction back: an earlier pipelined statement failed
        throw this.txError ?? new SluiceError("INTERNAL", "the transaction was rolled back by PostgreSQL");
      }
      const writes = r.command === "INSERT" || r.command === "UPDATE" || r.command === "DELETE" || r.command === "MERGE";
      return { rows: (r.rows ?? []) as R[], ...(writes ? { numAffectedRows: BigInt(r.rowCount ?? 0) } : {}) };
    } catch (e) {
      if (this.txError !== null && (e as { code?: string }).code === "25P02") throw this.txError;
      // recorded whatever inTx says: a COMMIT issued behind this statement has cleared it already
      this.txError ??= e;
      throw e;
    }
  }

  /**
   * Through a transaction pooler, a statement outside a transaction: BEGIN, the session settings, the
   * statement and COMMIT, written at once and answered in one round trip. A failure of the statement
   * makes COMMIT a ROLLBACK; the statement's own error is what the caller sees.
   */
  private async runInOwnTx<R>(client: pg.PoolClient, text: string, values: readonly unknown[]): Promise<QueryResult<R>> {
    const sent = [client.query("begin"), client.query(this.session!), client.query(text, [...values]), client.query("commit")];
    // all four answered before the client goes back to the pool, failed or not: the pooler keeps the
    // server connection until COMMIT's answer, and the next user's statements must not race it
    const settled = await Promise.allSettled(sent);
    for (const s of settled.slice(0, 3)) if (s.status === "rejected") throw s.reason;
    const commit = settled[3]!;
    if (commit.status === "rejected") throw commit.reason;
    const r = (settled[2] as PromiseFulfilledResult<pg.QueryResult>).value;
    const writes = r.command === "INSERT" || r.command === "UPDATE" || r.command === "DELETE" || r.command === "MERGE";
    return { rows: (r.rows ?? []) as R[], ...(writes ? { numAffectedRows: BigInt(r.rowCount ?? 0) } : {}) };
  }

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    const text = q.sql;
    if (text === CONNECTION_OF) {
      await this.acquire();
      return { rows: [this as unknown as R] };
    }
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const inTx = this.inTx;
      try {
        this.client ??= guard(await this.pool.connect());
        return await this.run<R>(this.client, text, q.parameters);
      } catch (e) {
        if (isRetryableTxError(e) !== "connection") throw e;
        this.drop(e);
        // a transaction's statements cannot move to another connection: the caller reruns it whole
        if (inTx || /^\s*(commit|rollback)\b/i.test(text)) {
          this.inTx = false;
          throw e;
        }
        if (Date.now() - started > RETRY_FOR_MS) throw e;
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(5_000, 100 * 2 ** Math.min(attempt, 10))));
      }
    }
  }

  // eslint-disable-next-line require-yield -- Kysely's Driver interface has it; Sluice never streams
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new SluiceError("INTERNAL", "streaming queries are not used by Sluice");
  }

  private drop(e: unknown): void {
    const c = this.client;
    this.client = null;
    // released with the error: the pool discards the connection instead of handing it out again
    c?.release(e instanceof Error ? e : new Error(String(e)));
  }

  release(): void {
    const c = this.client;
    this.client = null;
    this.inTx = false;
    this.txError = null;
    c?.release();
  }
}

/**
 * A pipelined answer that its caller may never wait for (the transaction failed earlier and went on to
 * ROLLBACK): marked handled, so that its rejection does not end the process; whoever awaits it still sees it.
 */
export function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** A compiled query that returns the driver connection it runs on (`connectionOf`). */
const CONNECTION_OF = "/* sluice: connection */";

/**
 * The driver connection behind a Kysely instance bound to one connection (`db.connection()`), for
 * pipelined statements (`ReconnectingConnection.send`): Kysely runs one statement at a time per
 * connection, which would wait for every answer.
 */
export async function connectionOf(db: Kysely<Database>): Promise<ReconnectingConnection> {
  const r = await db.executeQuery<ReconnectingConnection>(CompiledQuery.raw(CONNECTION_OF));
  return r.rows[0]!;
}

/**
 * Kysely's introspector, except that tables are listed from the current schema only. Its own query lists
 * every schema's tables and names each schema in has_schema_privilege(): a schema dropped meanwhile by
 * another process (another deployment, a test) fails it — and the migrator, which only asks whether its
 * own tables exist, failed with it ("schema … does not exist").
 */
class CurrentSchemaIntrospector implements DatabaseIntrospector {
  private readonly base: PostgresIntrospector;
  constructor(private readonly db: Kysely<any>) {
    this.base = new PostgresIntrospector(db);
  }
  getSchemas(): Promise<SchemaMetadata[]> {
    return this.base.getSchemas();
  }
  async getTables(): Promise<TableMetadata[]> {
    const rows = await sql<{ name: string; schema: string; kind: string }>`
      select table_name as name, table_schema as schema, table_type as kind
      from information_schema.tables where table_schema = current_schema()`.execute(this.db);
    return rows.rows.map((r) => ({ name: r.name, schema: r.schema, isView: r.kind === "VIEW", columns: [] }));
  }
  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}
