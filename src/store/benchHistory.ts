/**
 * Store-side helpers of `npm run bench -- --pg` (src/bench/pg.ts): live workers, and a bulk load of
 * finished history to show that the hot path does not slow down as history grows (0008: partial indexes
 * over active work only).
 */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";


/** @internal Constructed by the Store (`store.benchHistory`) and by each transaction (`tx.benchHistory`). */
export class BenchHistory {
  constructor(private readonly db: Kysely<Database>) {}

  /** Workers of any process that are running now. */
  async countRunningWorkers(): Promise<number> {
    const r = await sql<{ n: number | string }>`select count(*) as n from workers where state = 'running'`.execute(this.db);
    return Number(r.rows[0]?.n ?? 0);
  }

  /**
   * Insert `runs` finished runs of `tasksPerRun` finished task instances each, with one successful attempt
   * per task instance, all in a few set-based statements (PostgreSQL: generate_series), ended `ageMs`
   * before `now`. Real-looking rows: the same columns the engine writes, states success/failed.
   */
  async insertFinishedHistory(opts: { runs: number; tasksPerRun: number; now: number; ageMs: number; dagId: string }): Promise<number> {
    const { runs, tasksPerRun, now, ageMs, dagId } = opts;
    const t = now - ageMs;
    await this.db.transaction().execute(async (tx) => {
      await sql`
        insert into runs (run_id, dag_id, dag_version, run_key, run_type, state, state_reason, logical_date, params,
                          unfinished, created_at, started_at, ended_at, timeout_at, data_interval_start, data_interval_end)
        select 'hist_' || r, ${dagId}, 'v0', 'hist:' || r, 'manual', 'success', null, ${t}::bigint + r, '{}',
               0, ${t}::bigint + r, ${t}::bigint + r, ${t}::bigint + r + 1000, null, null, null
          from generate_series(1, ${runs}::int) r`.execute(tx);
      await sql`
        insert into task_instances (run_id, task_id, map_index, state, try_number, try_base, n_upstream, n_success,
                                    n_failed, n_upstream_failed, n_skipped, ready_at, priority, queue, attempt_id,
                                    started_at, ended_at, sensor_deadline, poke_count)
        select 'hist_' || r, 't' || i, -1, case when i % 100 = 0 then 'failed' else 'success' end, 1, 0, 0, 0,
               0, 0, 0, null, 0, 'default', null, ${t}::bigint + r, ${t}::bigint + r + 10, null, 0
          from generate_series(1, ${runs}::int) r, generate_series(1, ${tasksPerRun}::int) i`.execute(tx);
      await sql`
        insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid,
                              started_at, ended_at, heartbeat_at, lease_expires_at)
        select run_id, task_id, -1, 1, 0, state, 'hist', 'hist', 0, started_at, ended_at, ended_at, ended_at
          from task_instances where run_id like 'hist\\_%' escape '\\'`.execute(tx);
      await sql`
        update task_instances ti set attempt_id = a.attempt_id from attempts a
         where a.run_id = ti.run_id and a.task_id = ti.task_id and a.map_index = ti.map_index and ti.run_id like 'hist\\_%' escape '\\'`.execute(tx);
    });
    return runs * tasksPerRun;
  }

  /**
   * What autovacuum would have done by now (this machine's PostgreSQL runs with autovacuum off; migration
   * 0011 sets when it would): dead row versions gone and fresh statistics in the tables of the hot path;
   * then a checkpoint, so that the one a bulk load starts does not land in a measured run (a role without
   * the privilege skips it). The bench does this to both of its schemas alike, so that the only difference
   * between them is the history.
   */
  async vacuumAnalyze(): Promise<void> {
    await sql`vacuum (analyze) runs, task_instances, attempts, workers, pools, dags, dag_versions`.execute(this.db);
    await sql`checkpoint`.execute(this.db).catch(() => undefined);
  }

  /** SQLite (the schedule bench): the rowid of the newest run, 0 when there is none. */
  async lastRunRowid(): Promise<number> {
    return Number((await sql<{ m: number | null }>`select max(rowid) as m from runs`.execute(this.db)).rows[0]?.m ?? 0);
  }

  /** SQLite: runs inserted after `rowid` (cheap to poll by rowid), only those of the interval ending at `intervalEnd` when given. */
  async runsAfterRowid(rowid: number, intervalEnd?: number): Promise<number> {
    const r = intervalEnd === undefined
      ? await sql<{ c: number }>`select count(*) as c from runs where rowid > ${rowid}`.execute(this.db)
      : await sql<{ c: number }>`select count(*) as c from runs where rowid > ${rowid} and data_interval_end = ${intervalEnd}`.execute(this.db);
    return Number(r.rows[0]!.c);
  }
}
