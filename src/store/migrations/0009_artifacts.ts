/**
 * 0009 — task outputs in the database (docs/decisions/0014-artifacts-in-the-database.md).
 *
 * Outputs above the inline limit were files under the worker's SLUICE_HOME: a downstream task on another
 * host could not read them without a shared volume. On PostgreSQL they now live in this table, which
 * every process already reaches; content-addressed as before (`ref` is the SHA-256 of the bytes), and
 * `touched_at` (database time, ms) is when they were last put, for `sluice db clean`'s grace period.
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0009Artifacts(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  await db.schema
    .createTable("artifacts")
    .addColumn("ref", "text", (c) => c.primaryKey())
    .addColumn("bytes", dialect === "postgres" ? "bytea" : "blob", (c) => c.notNull())
    .addColumn("size", dialect === "postgres" ? "bigint" : "integer", (c) => c.notNull())
    .addColumn("touched_at", dialect === "postgres" ? "bigint" : "integer", (c) => c.notNull())
    .execute();
}
