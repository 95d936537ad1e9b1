/**
 * 0021 — depending on the past (dependsOnPast, waitForDownstream; docs/decisions/0025). Two things, so
 * that a task instance's check never scans history:
 *  - `runs_dag_logical` on runs (dag_id, logical_date): the DAG's previous run by logical date is one
 *    index seek (the previous scheduled one: a short walk back over manual runs, if any).
 *  - `past_waits`: one row per task instance held back by the past, naming the previous run it waits on.
 *    When a task instance of that run ends, its waiters are found through `past_waits_prev` and decided
 *    again (events, not a poll); the row goes when the wait ends. A run with such a row is not stalled.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0021PastWaits(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await sql`create index runs_dag_logical on runs (dag_id, logical_date)`.execute(db);
  await db.schema
    .createTable("past_waits")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("prev_run_id", "text", (c) => c.notNull())
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("past_waits_pk", ["run_id", "task_id"])
    .execute();
  await db.schema.createIndex("past_waits_prev").on("past_waits").columns(["prev_run_id"]).execute();
}
