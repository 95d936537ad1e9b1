/**
 * 0014 — the audit log (issue 12, docs/decisions/0016-secrets.md): who changed what, from where, when.
 *
 * - `audit_log`: append-only for the application (store/audit.ts has insert, reads and the retention
 *   delete of `sluice db clean --audit-older-than`, nothing else). `at` is the database's time on
 *   PostgreSQL (every host agrees), the store's clock on SQLite. `before`/`after` are JSON with secret
 *   values already replaced by "***" (app/audit.ts). `outcome` is set for logins (success | failure).
 *   Indexed for the listing's filters: time (the default order), actor, DAG, action.
 * - `runs.triggered_by`: the person or token that triggered a run (null: the scheduler, an asset, a
 *   backfill's driver).
 * - `task_instances.changed_by`: who last cleared or marked the instance (null: never touched by a person).
 *   Both new columns are nullable without a default: PostgreSQL adds them without rewriting the tables,
 *   and the hot path's inserts need not name them.
 *
 * Numbered 0014 while 0012 and 0013 are written on other branches (the migrator applies late arrivals).
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0014Audit(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("audit_log")
    .addColumn("id", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn("at", bigint, (c) => c.notNull())
    .addColumn("actor", "text", (c) => c.notNull())
    .addColumn("via", "text", (c) => c.notNull())
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("dag_id", "text")
    .addColumn("run_id", "text")
    .addColumn("target", "text")
    .addColumn("before", "text")
    .addColumn("after", "text")
    .addColumn("outcome", "text")
    .execute();
  // the listing pages newest first by (at, id); each filter narrows by its own index
  await sql`create index audit_log_at on audit_log (at, id)`.execute(db);
  await sql`create index audit_log_actor on audit_log (actor, at)`.execute(db);
  await sql`create index audit_log_dag on audit_log (dag_id, at) where dag_id is not null`.execute(db);
  await sql`create index audit_log_action on audit_log (action, at)`.execute(db);

  await db.schema.alterTable("runs").addColumn("triggered_by", "text").execute();
  await db.schema.alterTable("task_instances").addColumn("changed_by", "text").execute();
}
