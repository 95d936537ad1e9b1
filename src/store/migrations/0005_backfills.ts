/**
 * 0005 — backfills (decision 0006).
 *
 * - `backfills`: one row per `sluice backfill`: the DAG, the range, the reprocess behaviour, how many of
 *   its runs may be active at once, its state, and which process drives it now (pid, host, heartbeat) so
 *   that a second driver can tell a live one from a crashed one. At most one running backfill per DAG
 *   (a partial unique index), as Airflow.
 * - `backfill_runs`: the plan, written with the backfill in one transaction: one row per data interval in
 *   the range, in run order, with what the backfill does with it (create, reprocess, or skip because a run
 *   exists or is in flight) and, once started, the run. A started row is never started again: resuming
 *   after a crash continues with the rows that have no run yet, and `reprocess` clears a run only once.
 * - `runs.backfill_id`: the backfill a run belongs to (a worker driving a backfill claims only its runs'
 *   task instances; the DAG's maxActiveRuns does not count them).
 */
import { sql, type ColumnDefinitionBuilder, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0005Backfills(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  const serial = dialect === "postgres" ? "bigserial" : "integer";
  const serialKey = (c: ColumnDefinitionBuilder) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement());

  await db.schema
    .createTable("backfills")
    .addColumn("backfill_id", serial, serialKey)
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("from_date", bigint, (c) => c.notNull())
    .addColumn("to_date", bigint, (c) => c.notNull())
    .addColumn("reprocess", "text", (c) => c.notNull())
    .addColumn("max_active", "integer", (c) => c.notNull())
    .addColumn("run_backwards", "integer", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("state_reason", "text")
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("ended_at", bigint)
    .addColumn("driver_pid", "integer")
    .addColumn("driver_host", "text")
    .addColumn("driver_heartbeat_at", bigint)
    .execute();
  await sql`create unique index backfills_one_running on backfills (dag_id) where state = 'running'`.execute(db);
  await db.schema.createIndex("backfills_dag").on("backfills").columns(["dag_id", "backfill_id"]).execute();

  await db.schema
    .createTable("backfill_runs")
    .addColumn("backfill_id", bigint, (c) => c.notNull())
    .addColumn("logical_date", bigint, (c) => c.notNull())
    .addColumn("interval_end", bigint, (c) => c.notNull())
    .addColumn("ordinal", "integer", (c) => c.notNull())
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("run_id", "text")
    .addPrimaryKeyConstraint("backfill_runs_pk", ["backfill_id", "logical_date"])
    .execute();
  // The next intervals to start, in order, without scanning the started ones.
  await sql`create index backfill_runs_pending on backfill_runs (backfill_id, ordinal)
            where run_id is null and action in ('create', 'reprocess')`.execute(db);

  await db.schema.alterTable("runs").addColumn("backfill_id", bigint).execute();
  await sql`create index runs_backfill on runs (backfill_id, state) where backfill_id is not null`.execute(db);
}
