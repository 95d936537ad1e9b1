/**
 * 0034 — notes on runs and task instances (Airflow's DAG run and task instance notes): a person's markdown
 * text, who wrote it and when. Their own tables, not columns of `runs`/`task_instances`: the hot path never
 * reads or writes them, and a run list does not carry them.
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0034Notes(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("run_notes")
    .addColumn("run_id", "text", (c) => c.primaryKey())
    .addColumn("note", "text", (c) => c.notNull())
    .addColumn("updated_by", "text", (c) => c.notNull())
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("task_instance_notes")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("note", "text", (c) => c.notNull())
    .addColumn("updated_by", "text", (c) => c.notNull())
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("task_instance_notes_pk", ["run_id", "task_id", "map_index"])
    .execute();
}
