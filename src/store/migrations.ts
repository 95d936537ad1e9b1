/**
 * Numbered, append-only migrations (Kysely's Migrator). Never edit a shipped migration: add the next one,
 * with a header that says why it exists. `dialect` lets one migration emit the right column types.
 */
import { sql, type Kysely, type Migration, type MigrationProvider } from "kysely";
import { m0003Sensors } from "./migrations/0003_sensors.js";
import { m0004AssetsEvents } from "./migrations/0004_assets_events.js";
import { m0005Backfills } from "./migrations/0005_backfills.js";
import { m0006Capacity } from "./migrations/0006_capacity.js";
import { m0007Auth } from "./migrations/0007_auth.js";
import { m0008LiveWorkers } from "./migrations/0008_live_workers.js";
import { m0009Artifacts } from "./migrations/0009_artifacts.js";
import { m0010AttemptLogs } from "./migrations/0010_attempt_logs.js";
import { m0011Autovacuum } from "./migrations/0011_autovacuum.js";
import { m0012ConnectionsVariables } from "./migrations/0012_connections_variables.js";
import { m0013Grants } from "./migrations/0013_grants.js";
import { m0015RunDeadlines } from "./migrations/0015_run_deadlines.js";
import { m0014Audit } from "./migrations/0014_audit.js";
import { m0016DagCode } from "./migrations/0016_dag_code.js";
import { m0017Callbacks } from "./migrations/0017_callbacks.js";
import { m0018DeadLetters } from "./migrations/0018_dead_letters.js";
import { m0026TypeErrors } from "./migrations/0026_type_errors.js";
import { m0027Tracking } from "./migrations/0027_tracking.js";
import { m0021PastWaits } from "./migrations/0021_past_waits.js";
import { m0024HistoryIndexes } from "./migrations/0024_history_indexes.js";
import { m0028TaskCache } from "./migrations/0028_task_cache.js";
import { m0029Models } from "./migrations/0029_models.js";
import { m0030InferenceLog } from "./migrations/0030_inference_log.js";
import { m0033CacheByAttempt } from "./migrations/0033_cache_by_attempt.js";
import { m0034Notes } from "./migrations/0034_notes.js";

export type DialectName = "sqlite" | "postgres";

type Step = (db: Kysely<unknown>, dialect: DialectName) => Promise<void>;

/** 0001 — the engine's tables: DAG versions, runs, task instances, attempts (immutable once ended), workers. */
const m0001: Step = async (db, dialect) => {
  const blob = dialect === "postgres" ? "bytea" : "blob";
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("dag_versions")
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("version", "text", (c) => c.notNull())
    .addColumn("spec", "text", (c) => c.notNull())
    .addColumn("file", "text")
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addPrimaryKeyConstraint("dag_versions_pk", ["dag_id", "version"])
    .execute();

  await db.schema
    .createTable("runs")
    .addColumn("run_id", "text", (c) => c.primaryKey())
    .addColumn("dag_id", "text", (c) => c.notNull())
    .addColumn("dag_version", "text", (c) => c.notNull())
    .addColumn("run_key", "text", (c) => c.notNull())
    .addColumn("run_type", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("state_reason", "text")
    .addColumn("logical_date", bigint, (c) => c.notNull())
    .addColumn("params", "text", (c) => c.notNull())
    .addColumn("unfinished", "integer", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("started_at", bigint)
    .addColumn("ended_at", bigint)
    .addColumn("timeout_at", bigint)
    .addUniqueConstraint("runs_dag_key", ["dag_id", "run_key"])
    .execute();
  await db.schema.createIndex("runs_dag_created").on("runs").columns(["dag_id", "created_at"]).execute();
  // Only active runs are indexed by state: history can grow to millions of rows without slowing the hot path.
  await sql`create index runs_active on runs (created_at) where state in ('queued', 'running')`.execute(db);

  await db.schema
    .createTable("task_instances")
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("try_number", "integer", (c) => c.notNull())
    .addColumn("try_base", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("n_upstream", "integer", (c) => c.notNull())
    .addColumn("n_success", "integer", (c) => c.notNull())
    .addColumn("n_failed", "integer", (c) => c.notNull())
    .addColumn("n_upstream_failed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("n_skipped", "integer", (c) => c.notNull())
    .addColumn("ready_at", bigint)
    .addColumn("priority", "integer", (c) => c.notNull())
    .addColumn("queue", "text", (c) => c.notNull())
    .addColumn("attempt_id", bigint)
    .addColumn("started_at", bigint)
    .addColumn("ended_at", bigint)
    .addPrimaryKeyConstraint("task_instances_pk", ["run_id", "task_id", "map_index"])
    .execute();
  // The ready queue: a partial index over claimable rows only, in claim order.
  // Queries must spell the states as literals for SQLite to use these partial indexes (see store.ts).
  await sql`create index task_instances_ready on task_instances (priority desc, ready_at)
            where state in ('scheduled', 'up_for_retry')`.execute(db);
  await sql`create index task_instances_ready_run on task_instances (run_id, priority desc, ready_at)
            where state in ('scheduled', 'up_for_retry')`.execute(db);

  await db.schema
    .createTable("attempts")
    .addColumn("attempt_id", dialect === "postgres" ? "bigserial" : "integer", (c) =>
      dialect === "postgres" ? c.primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn("run_id", "text", (c) => c.notNull())
    .addColumn("task_id", "text", (c) => c.notNull())
    .addColumn("map_index", "integer", (c) => c.notNull())
    .addColumn("try_number", "integer", (c) => c.notNull())
    .addColumn("try_base", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("worker_id", "text", (c) => c.notNull())
    .addColumn("hostname", "text", (c) => c.notNull())
    .addColumn("pid", "integer", (c) => c.notNull())
    .addColumn("started_at", bigint, (c) => c.notNull())
    .addColumn("ended_at", bigint)
    .addColumn("heartbeat_at", bigint, (c) => c.notNull())
    .addColumn("lease_expires_at", bigint, (c) => c.notNull())
    .addColumn("error_code", "text")
    .addColumn("error_message", "text")
    .addColumn("error_stack", "text")
    .addColumn("exit_code", "integer")
    .addColumn("output_inline", blob)
    .addColumn("output_ref", "text")
    .addColumn("output_size", bigint)
    .addUniqueConstraint("attempts_try", ["run_id", "task_id", "map_index", "try_number"])
    .execute();
  await sql`create index attempts_live on attempts (lease_expires_at) where state = 'running'`.execute(db);

  await db.schema
    .createTable("workers")
    .addColumn("worker_id", "text", (c) => c.primaryKey())
    .addColumn("hostname", "text", (c) => c.notNull())
    .addColumn("pid", "integer", (c) => c.notNull())
    .addColumn("queues", "text", (c) => c.notNull())
    .addColumn("concurrency", "integer", (c) => c.notNull())
    .addColumn("started_at", bigint, (c) => c.notNull())
    .addColumn("heartbeat_at", bigint, (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .execute();
};

/**
 * 0002 — scheduling: one row per DAG with its schedule state (the next data interval and when it is due,
 * paused, still present in the DAGs folder), import errors per file, and data intervals on runs.
 */
const m0002: Step = async (db, dialect) => {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("dags")
    .addColumn("dag_id", "text", (c) => c.primaryKey())
    .addColumn("file", "text")
    .addColumn("version", "text", (c) => c.notNull())
    .addColumn("schedule", "text")
    .addColumn("is_paused", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("is_active", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("default_params", "text")
    .addColumn("params_error", "text")
    .addColumn("last_interval_end", bigint)
    .addColumn("next_interval_start", bigint)
    .addColumn("next_interval_end", bigint)
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .execute();
  // Due DAGs are found through this index, never by scanning every DAG per tick.
  await sql`create index dags_due on dags (next_interval_end) where is_paused = 0 and is_active = 1`.execute(db);
  await db.schema
    .createTable("import_errors")
    .addColumn("file", "text", (c) => c.primaryKey())
    .addColumn("line", "integer")
    .addColumn("message", "text", (c) => c.notNull())
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .execute();
  await db.schema.alterTable("runs").addColumn("data_interval_start", bigint).execute();
  await db.schema.alterTable("runs").addColumn("data_interval_end", bigint).execute();
  await sql`create index runs_dag_active on runs (dag_id, created_at) where state in ('queued', 'running')`.execute(db);
};

const STEPS: ReadonlyArray<readonly [string, Step]> = [
  ["0001_engine", m0001],
  ["0002_scheduling", m0002],
  ["0003_sensors", m0003Sensors],
  ["0004_assets_events", m0004AssetsEvents],
  ["0005_backfills", m0005Backfills],
  ["0006_capacity", m0006Capacity],
  ["0007_auth", m0007Auth],
  ["0008_live_workers", m0008LiveWorkers],
  ["0009_artifacts", m0009Artifacts],
  ["0010_attempt_logs", m0010AttemptLogs],
  ["0011_autovacuum", m0011Autovacuum],
  ["0012_connections_variables", m0012ConnectionsVariables],
  ["0013_grants", m0013Grants],
  ["0014_audit", m0014Audit],
  ["0015_run_deadlines", m0015RunDeadlines],
  ["0016_dag_code", m0016DagCode],
  ["0017_callbacks", m0017Callbacks],
  ["0018_dead_letters", m0018DeadLetters],
  ["0026_type_errors", m0026TypeErrors],
  ["0027_tracking", m0027Tracking],
  ["0021_past_waits", m0021PastWaits],
  ["0024_history_indexes", m0024HistoryIndexes],
  ["0028_task_cache", m0028TaskCache],
  ["0029_models", m0029Models],
  ["0030_inference_log", m0030InferenceLog],
  ["0033_cache_by_attempt", m0033CacheByAttempt],
  ["0034_notes", m0034Notes],
];

export const MIGRATION_NAMES: readonly string[] = STEPS.map(([n]) => n);

export function migrationProvider(dialect: DialectName): MigrationProvider {
  return {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, step] of STEPS) out[name] = { up: (db) => step(db, dialect) };
      return out;
    },
  };
}
