/**
 * 0018 — the dead-letter queue (docs/decisions/0020-dead-letter-queue.md). One row per task instance that
 * ended failed after its last try (retries exhausted, a non-retryable error, a sensor's timeout), written
 * in the transaction of that failure; a person retries it (the instance is cleared with a fresh set of
 * retries) or discards it (acknowledged; the row stays for history). Rows are never written on the success
 * path. Indexes: the list pages by id (newest first) within a DAG or a state; the open rows per DAG (the
 * "DLQ size" metric) come from a partial index; an instance's rows (a clear resolves them, retention
 * deletes them with their run) from the run's.
 *
 * Numbered 0020 while 0017-0019 are written on other branches: the migrator accepts them out of order.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0018DeadLetters(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("dead_letters")
    .addColumn("dead_letter_id", dialect === "postgres" ? "bigserial" : "integer", (c) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("attempt_id", bigint)
    .addColumn("try_number", "integer", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull())
    .addColumn("reason", "text", (c) => c.notNull())
    .addColumn("error_code", "text")
    .addColumn("error_message", "text")
    .addColumn("inputs", "text", (c) => c.notNull())
    .addColumn("parked", "integer", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("resolved_at", bigint)
    .addColumn("resolved_by", "text")
    .execute();
  await db.schema.createIndex("dead_letters_dag").on("dead_letters").columns(["dag_id", "dead_letter_id"]).execute();
  await db.schema.createIndex("dead_letters_state").on("dead_letters").columns(["state", "dead_letter_id"]).execute();
  await db.schema.createIndex("dead_letters_instance").on("dead_letters").columns(["run_id", "task_id", "map_index"]).execute();
  await sql`create index dead_letters_open on dead_letters (dag_id) where state = 'open'`.execute(db);
}
