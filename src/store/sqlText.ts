/**
 * Literal SQL text for both dialects: the hot path's statements are strings with `?` placeholders
 * (building them with Kysely on every call cost more than running them), rewritten for PostgreSQL here.
 */
import { CompiledQuery, type Kysely, type QueryResult } from "kysely";
import type { DialectName } from "./migrations.js";
import { preparable } from "./postgres.js";
import type { Database } from "./schema.js";

/** Epoch milliseconds of PostgreSQL's clock (lease time; clock_timestamp: now, not the transaction's start). */
export const PG_NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/** `n` rows of (run_id, task_id, map_index) for `in (values …)`; PostgreSQL needs the integer spelled out. */
export function keyRows(dialect: DialectName, n: number): string {
  const row = dialect === "postgres" ? "(?, ?, ?::integer)" : "(?, ?, ?)";
  return Array.from({ length: n }, () => row).join(", ");
}

export function marks(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

/**
 * Module-level, unlike the claim's caches (Store.claimState): a memo of a pure function of the text (its
 * `?`s numbered), the same for every store; it grows with the statements' shapes (list lengths included),
 * not with the data. `preparable` registers the text's prepared-statement name once, which is idempotent,
 * so skipping it on a hit changes nothing.
 */
const pgTexts = new Map<string, string>();

/** SQLite takes `?`; PostgreSQL takes `$1, $2, …`. The hot statements contain no `?` in literals. */
export function placeholders(dialect: DialectName, text: string): string {
  if (dialect === "sqlite") return text;
  let out = pgTexts.get(text);
  if (!out) {
    let n = 0;
    out = preparable(text.replace(/\?/g, () => `$${++n}`));
    pgTexts.set(text, out);
  }
  return out;
}

/** Run a literal statement outside a transaction (a Tx pipelines its own: `Tx.send`). */
export function execText<R>(db: Kysely<Database>, dialect: DialectName, text: string, params: readonly unknown[]): Promise<QueryResult<R>> {
  return db.executeQuery<R>(CompiledQuery.raw(placeholders(dialect, text), params as unknown[]));
}
