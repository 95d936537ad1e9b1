/**
 * 0016 — One code version per run (decision 0017, item 7). `dag_code` keeps the bundles of DAG code
 * (executors/dagBundle.ts) by their SHA-256, so every host imports the same bytes. A DAG version records
 * the bundle it was last parsed with, and a run the bundle it was created with: every task of the run
 * imports that one, whatever the DAG file holds by then. `runs_code` lets retention find bundles no run
 * holds any more without a scan of all runs per bundle.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0016DagCode(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("dag_code")
    .addColumn("hash", "text", (c) => c.primaryKey())
    .addColumn("code", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .execute();
  await db.schema.alterTable("dag_versions").addColumn("code_hash", "text").execute();
  await db.schema.alterTable("runs").addColumn("code_hash", "text").execute();
  await sql`create index runs_code on runs (code_hash) where code_hash is not null`.execute(db);
}
