/**
 * 0003 — sensors (decision 0004).
 *
 * - `task_instances.sensor_deadline`: when a sensor that still finds its condition unmet times out — its
 *   first poke's start plus its timeout, set when it first waits. Kept across retries (Airflow counts a
 *   sensor's timeout from its first poke); a clear resets it.
 * - `task_instances.poke_count`: pokes that found the condition unmet (the exponential backoff's step).
 * - The ready queue's partial indexes now include `up_for_reschedule` (a sensor between pokes, due at
 *   `ready_at`): claims find a sensor's next poke through the index, never by scanning. Queries must spell
 *   the same literal state list (store.ts) for SQLite to use them.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0003Sensors(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema.alterTable("task_instances").addColumn("sensor_deadline", bigint).execute();
  await db.schema
    .alterTable("task_instances")
    .addColumn("poke_count", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`drop index task_instances_ready`.execute(db);
  await sql`drop index task_instances_ready_run`.execute(db);
  await sql`create index task_instances_ready on task_instances (priority desc, ready_at)
            where state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`.execute(db);
  await sql`create index task_instances_ready_run on task_instances (run_id, priority desc, ready_at)
            where state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`.execute(db);
}
