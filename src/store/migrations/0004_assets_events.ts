/**
 * 0004 — assets and external events (data-aware scheduling, decision 0005).
 *
 * - `assets`: every asset ever declared or updated, with its latest event (so listings never scan events).
 * - `asset_events`: one immutable row per update of an asset by a successful task instance — the lineage.
 * - `dag_assets`: what each DAG's tasks produce and what the DAG is scheduled on, as last registered (by
 *   the scheduler's DAG processor, or an embedding program for DAGs defined in code).
 * - `asset_consumption`: per asset-scheduled DAG and asset, the last asset event it consumed; a run
 *   consumes the events after it.
 * - `asset_dag_queue`: (DAG, asset) pairs with events the DAG has not consumed yet, written in the
 *   producer's transaction (Airflow's AssetDagRunQueue). The scheduler evaluates only DAGs found here:
 *   no scan of DAGs or events per tick.
 * - `run_asset_events`: which asset events an asset-triggered run consumed.
 * - `event_subscriptions`, `event_log`, `event_runs`: external events by name, each received event with
 *   its payload and idempotency key (unique per event name), and the DAGs it was for with the runs it
 *   created (recorded with the event, filled in by each run's transaction).
 */
import { sql, type ColumnDefinitionBuilder, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0004AssetsEvents(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  const serial = dialect === "postgres" ? "bigserial" : "integer";
  const serialKey = (c: ColumnDefinitionBuilder) => (dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement());

  await db.schema
    .createTable("assets")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("last_event_id", bigint)
    .addColumn("last_event_at", bigint)
    .execute();

  await db.schema
    .createTable("asset_events")
    .addColumn("event_id", serial, serialKey)
    .addColumn("asset", "text", (c) => c.notNull())
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("try_number", "integer", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("metadata", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("asset_events_asset").on("asset_events").columns(["asset", "event_id"]).execute();
  await db.schema.createIndex("asset_events_run").on("asset_events").columns(["run_id"]).execute();

  await db.schema
    .createTable("dag_assets")
    .addColumn("asset", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull()) // 'produces' | 'consumes'
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull()) // '' for 'consumes'
    .addPrimaryKeyConstraint("dag_assets_pk", ["asset", "role", "dag_id", "task_id"])
    .execute();
  await db.schema.createIndex("dag_assets_dag").on("dag_assets").columns(["dag_id"]).execute();

  await db.schema
    .createTable("asset_consumption")
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("asset", "text", (c) => c.notNull())
    .addColumn("last_event_id", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("asset_consumption_pk", ["dag_id", "asset"])
    .execute();

  await db.schema
    .createTable("asset_dag_queue")
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("asset", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("asset_dag_queue_pk", ["dag_id", "asset"])
    .execute();

  await db.schema
    .createTable("run_asset_events")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("event_id", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("run_asset_events_pk", ["run_id", "event_id"])
    .execute();
  await db.schema.createIndex("run_asset_events_event").on("run_asset_events").columns(["event_id"]).execute();

  await db.schema
    .createTable("event_subscriptions")
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("event_subscriptions_pk", ["event", "dag_id"])
    .execute();
  await db.schema.createIndex("event_subscriptions_dag").on("event_subscriptions").columns(["dag_id"]).execute();

  await db.schema
    .createTable("event_log")
    .addColumn("event_id", serial, serialKey)
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("idempotency_key", "text")
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("received_at", bigint, (c) => c.notNull())
    // NULL keys never collide (SQL), so events without a key are all kept
    .addUniqueConstraint("event_log_key", ["name", "idempotency_key"])
    .execute();
  await sql`create index event_log_received on event_log (received_at)`.execute(db);

  await db.schema
    .createTable("event_runs")
    .addColumn("event_id", bigint, (c) => c.notNull())
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("run_id", "text") // null until the DAG's run is created
    .addPrimaryKeyConstraint("event_runs_pk", ["event_id", "dag_id"])
    .execute();
  await db.schema.createIndex("event_runs_run").on("event_runs").columns(["run_id"]).execute();
}
