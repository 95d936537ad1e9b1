/**
 * The embedded SQLite dialect: better-sqlite3 in WAL mode behind Kysely. Kysely's SqliteDialect prepares
 * every statement anew; here prepared statements are cached by SQL text, which roughly halves the cost
 * of the engine's hot statements (they repeat with different parameters).
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import { Kysely, SqliteDialect, type SqliteDatabase, type SqliteStatement } from "kysely";
import { SluiceError, toSluiceError } from "../errors.js";
import type { Database } from "./schema.js";

export interface SqliteOptions {
  file: string;
  busyTimeoutMs: number;
}

export function openSqlite(opts: SqliteOptions): { db: Kysely<Database>; raw: BetterSqlite3.Database } {
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
  return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database }) }), raw };
}
