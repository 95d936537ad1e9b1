/**
 * 0013 — per-DAG access (docs/decisions/0016-secrets.md, "Per-DAG access").
 *
 * - `grants`: a role (viewer, operator, admin) on the DAGs a selector picks (`dag:<glob>`, `tag:<tag>`,
 *   `owner:<name>`), given to a user (`principal_kind` user) or to one API token (`token`, by its id).
 * - `api_tokens.scope`: null for a token with its normal role-based access; `events:<name-glob>` for a
 *   token that may only send matching events (and read nothing).
 * - `dag_versions.tags` / `owner`: copied out of the spec when a version is saved, so that the DAGs a tag
 *   or owner grant selects are one light query (dags joined to their current version) instead of parsing
 *   every DAG's spec — a 10,000-task spec is megabytes — on every request of a restricted user. Rows saved
 *   before this migration are filled from their spec here, with each dialect's JSON functions.
 *
 * Numbered 0013 while 0012 is written on another branch: the migrator accepts them out of order.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0013Grants(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("grants")
    .addColumn("grant_id", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn("principal_kind", "text", (c) => c.notNull())
    .addColumn("principal", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("selector", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("created_by", "text", (c) => c.notNull())
    .addUniqueConstraint("grants_unique", ["principal_kind", "principal", "role", "selector"])
    .execute();
  await db.schema.createIndex("grants_principal").on("grants").columns(["principal_kind", "principal"]).execute();

  await db.schema.alterTable("api_tokens").addColumn("scope", "text").execute();

  await db.schema.alterTable("dag_versions").addColumn("tags", "text").execute();
  await db.schema.alterTable("dag_versions").addColumn("owner", "text").execute();
  await fillVersionMeta(db, dialect);
}

/** @internal Copy tags and owner out of the specs of versions saved before 0013 (exported for its test). */
export async function fillVersionMeta(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  if (dialect === "postgres") {
    await sql`update dag_versions set tags = coalesce((spec::json -> 'tags')::text, '[]'), owner = spec::json ->> 'owner' where tags is null`.execute(db);
  } else {
    await sql`update dag_versions set tags = coalesce(json_extract(spec, '$.tags'), '[]'), owner = json_extract(spec, '$.owner') where tags is null`.execute(db);
  }
}
