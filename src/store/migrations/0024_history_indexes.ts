/**
 * 0024 — The runs and task-instance lists across DAGs and the dashboard (store/history.ts) read runs
 * newest first over every DAG, runs that ended in a state since a time, runs by who triggered them, and
 * deadline misses since a time. Without these indexes each is a scan of all runs (runs_dag_created only
 * serves one DAG's runs; runs_active only queued and running ones).
 */
import { sql, type Kysely } from "kysely";

export async function m0024HistoryIndexes(db: Kysely<unknown>): Promise<void> {
  await sql`create index runs_created on runs (created_at, run_id)`.execute(db);
  await sql`create index runs_state_ended on runs (state, ended_at)`.execute(db);
  await sql`create index runs_triggered_by on runs (triggered_by, created_at) where triggered_by is not null`.execute(db);
  await sql`create index deadline_misses_missed on deadline_misses (missed_at)`.execute(db);
}
