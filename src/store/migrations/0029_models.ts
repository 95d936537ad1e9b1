/**
 * 0029 — the model registry (issue 15, item 3): named models, their numbered versions with lineage (the
 * attempt that registered each, and the asset events its run consumed), aliases (MLflow 2.9+: `champion`,
 * `challenger`, any name → one version), every alias move as history, and the human approvals that
 * promotion gates wait for.
 *
 * - `models.latest_version` allocates version numbers: registering increments it in place, so on
 *   PostgreSQL the row lock serialises concurrent registrations of one name (no gaps, no duplicates) and
 *   an alias move locks the same row, so moves of one model's aliases are serialised too.
 * - `model_alias_history` is append-only; its `id` orders moves, and (name, alias, id) is the index a
 *   rollback and the history view read.
 * - `model_approvals`: one per gate attempt (`attempt_id` unique: a sensor-like gate keeps its attempt
 *   between pokes, and a retry or a clear asks again). Pending ones are listed by (state, id).
 */
import type { ColumnDefinitionBuilder, Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0029Models(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  const serial = dialect === "postgres" ? "bigserial" : "integer";
  const serialKey = (c: ColumnDefinitionBuilder) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement());
  await db.schema
    .createTable("models")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("latest_version", "integer", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("model_versions")
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("artifact_ref", "text", (c) => c.notNull())
    .addColumn("artifact_size", bigint, (c) => c.notNull())
    .addColumn("flavor", "text", (c) => c.notNull())
    .addColumn("framework", "text")
    .addColumn("signature", "text")
    .addColumn("metrics", "text", (c) => c.notNull())
    .addColumn("params", "text", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("dag_version", "text", (c) => c.notNull())
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("input_events", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("model_versions_pk", ["name", "version"])
    .execute();
  // lineage from a run: the versions it registered
  await db.schema.createIndex("model_versions_run").on("model_versions").columns(["run_id"]).execute();
  await db.schema
    .createTable("model_aliases")
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("alias", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("model_aliases_pk", ["name", "alias"])
    .execute();
  await db.schema
    .createTable("model_alias_history")
    .addColumn("id", serial, serialKey)
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("alias", "text", (c) => c.notNull())
    .addColumn("from_version", "integer")
    .addColumn("to_version", "integer", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("actor", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("at", bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("model_alias_history_alias").on("model_alias_history").columns(["name", "alias", "id"]).execute();
  await db.schema
    .createTable("model_approvals")
    .addColumn("id", serial, serialKey)
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("alias", "text", (c) => c.notNull())
    .addColumn("version", "integer", (c) => c.notNull())
    .addColumn("from_version", "integer")
    .addColumn("comparison", "text", (c) => c.notNull())
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull().unique())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("requested_at", bigint, (c) => c.notNull())
    .addColumn("expires_at", bigint)
    .addColumn("decided_by", "text")
    .addColumn("decided_at", bigint)
    .addColumn("comment", "text")
    .execute();
  await db.schema.createIndex("model_approvals_state").on("model_approvals").columns(["state", "id"]).execute();
  await db.schema.createIndex("model_approvals_name").on("model_approvals").columns(["name", "id"]).execute();
}
