/**
 * The embedded SQLite dialect: better-sqlite3 in WAL mode behind Kysely. Kysely's SqliteDialect prepares
 * every statement anew; here prepared statements are cached by SQL text, which roughly halves the cost
 * of the engine's hot statements (they repeat with different parameters).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect, type KyselyPlugin, type QueryResult, type SqliteDatabase, type SqliteStatement } from "kysely";
import { SluiceError, toSluiceError } from "../errors.js";
import type { Database } from "./schema.js";

export interface SqliteOptions {
  file: string;
  busyTimeoutMs: number;
}

export function openSqlite(opts: SqliteOptions): { db: Kysely<Database>; raw: BetterSqlite3.Database; direct: SqliteDirect } {
  if (opts.file !== ":memory:") mkdirSync(dirname(opts.file), { recursive: true });
  let raw: BetterSqlite3.Database;
  try {
    raw = new BetterSqlite3(opts.file, { timeout: opts.busyTimeoutMs });
    raw.pragma("journal_mode = WAL");
    // NORMAL in WAL mode: a commit survives a crash of any process; only an OS crash or power loss can
    // lose the last commits. FULL would fsync every commit (see docs/decisions/0002).
    raw.pragma("synchronous = NORMAL");
    raw.pragma("foreign_keys = ON");
    // Checkpoints (copying the WAL into the database, with an fsync) every 10,000 pages instead of 1,000:
    // a burst of small commits then pays for far fewer fsyncs (fanout-10000: ~2x). The WAL may grow to
    // ~40 MB before it is folded back.
    raw.pragma("wal_autocheckpoint = 10000");
  } catch (e) {
    const err = toSluiceError(e, "CONFIG");
    throw new SluiceError(err.code === "INTERNAL" ? "CONFIG" : err.code, `cannot open the database ${opts.file}: ${err.message}`, { cause: e });
  }
  const cache = new Map<string, SqliteStatement>();
  const database: SqliteDatabase = {
    prepare(sqlText: string) {
      let stmt = cache.get(sqlText);
      if (!stmt) {
        stmt = raw.prepare(sqlText);
        if (cache.size > 500) cache.clear();
        cache.set(sqlText, stmt);
      }
      return stmt;
    },
    close() {
      cache.clear();
      raw.close();
    },
  };
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), raw, direct: new SqliteDirect((text) => database.prepare(text) as BetterSqlite3.Statement) };
}

/**
 * A transaction's literal statements (Tx.send) run on the connection at once, from the statement cache,
 * instead of through Kysely's executor: its connection provider, plugins and promise hops cost ~1 µs a
 * statement (scripts/tx-bench.js: ~17 µs of a handoff's 14 statements). The transaction holds the only
 * connection, so this is the same connection and transaction; `PendingQueries` keeps the order.
 */
export class SqliteDirect {
  constructor(private readonly prepare: (text: string) => BetterSqlite3.Statement) {}

  /** Run one statement now; the answer as Kysely's SQLite driver gives it. */
  run<R>(text: string, params: readonly unknown[]): QueryResult<R> {
    const stmt = this.prepare(text);
    if (stmt.reader) return { rows: stmt.all(params) as R[] };
    const { changes, lastInsertRowid } = stmt.run(params);
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }
}

/**
 * The Kysely queries of one transaction that were issued and not answered yet: Kysely runs a query a few
 * ticks after it is issued, so a statement run at once (SqliteDirect) would overtake them. While any is
 * pending, the transaction's statements queue behind them through Kysely instead. A query that failed is
 * never answered: it stays pending, and that transaction queues its statements to its end (it is being
 * rolled back).
 */
export class PendingQueries implements KyselyPlugin {
  private readonly ids = new Set<unknown>();

  get none(): boolean {
    return this.ids.size === 0;
  }

  /** A statement queued through Kysely: pending until it settles. */
  track<T>(p: Promise<T>): Promise<T> {
    const token = {};
    this.ids.add(token);
    void p.then(
      () => this.ids.delete(token),
      () => this.ids.delete(token),
    );
    return p;
  }

  transformQuery: KyselyPlugin["transformQuery"] = (args) => {
    this.ids.add(args.queryId);
    return args.node;
  };

  transformResult: KyselyPlugin["transformResult"] = (args) => {
    this.ids.delete(args.queryId);
    return Promise.resolve(args.result);
  };
}
