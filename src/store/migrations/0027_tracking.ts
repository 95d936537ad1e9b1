/**
 * 0027 — experiment tracking (issue 15, item 2): what tasks record with `ctx.track` (and Python tasks
 * through sluice_track.py). `tracked_runs` puts a run in an experiment (by default its DAG's id) the first
 * time one of its tasks records something; params, metric points, tags and artifacts hang off the attempt
 * that recorded them. Metric points are written in batches (worker/tracker.ts). Indexes: a run's metric
 * series by name and step (charts), an experiment's runs newest first (the comparison table).
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0027Tracking(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  const real = dialect === "postgres" ? "double precision" : "real";
  await db.schema
    .createTable("tracked_runs")
    .addColumn("run_id", "text", (c) => c.primaryKey())
    .addColumn("experiment", "text", (c) => c.notNull())
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("tracked_runs_experiment").on("tracked_runs").columns(["experiment", "created_at", "run_id"]).execute();
  await db.schema
    .createTable("tracked_params")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("value", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("tracked_params_pk", ["attempt_id", "key"])
    .execute();
  await db.schema.createIndex("tracked_params_run").on("tracked_params").columns(["run_id", "key"]).execute();
  await db.schema
    .createTable("tracked_metrics")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("step", bigint, (c) => c.notNull())
    .addColumn("seq", "integer", (c) => c.notNull())
    .addColumn("value", real, (c) => c.notNull())
    .addColumn("at", bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("tracked_metrics_series").on("tracked_metrics").columns(["run_id", "name", "step", "seq"]).execute();
  await db.schema.createIndex("tracked_metrics_attempt").on("tracked_metrics").columns(["attempt_id", "seq"]).execute();
  // each series' last point, min, max and count, kept with every batch: comparing 100 runs reads these
  // rows, never the points
  await db.schema
    .createTable("tracked_metric_summaries")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("last_step", bigint, (c) => c.notNull())
    .addColumn("last_value", real, (c) => c.notNull())
    .addColumn("min_value", real, (c) => c.notNull())
    .addColumn("max_value", real, (c) => c.notNull())
    .addColumn("points", "integer", (c) => c.notNull())
    .addPrimaryKeyConstraint("tracked_metric_summaries_pk", ["run_id", "task_id", "map_index", "name"])
    .execute();
  await db.schema
    .createTable("tracked_tags")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("value", "text", (c) => c.notNull())
    .addPrimaryKeyConstraint("tracked_tags_pk", ["attempt_id", "key"])
    .execute();
  await db.schema.createIndex("tracked_tags_run").on("tracked_tags").columns(["run_id", "key"]).execute();
  await db.schema
    .createTable("tracked_artifacts")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("attempt_id", bigint, (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("ref", "text", (c) => c.notNull())
    .addColumn("size", bigint, (c) => c.notNull())
    .addColumn("media_type", "text")
    .addColumn("at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("tracked_artifacts_pk", ["attempt_id", "name"])
    .execute();
  await db.schema.createIndex("tracked_artifacts_run").on("tracked_artifacts").columns(["run_id"]).execute();
}
