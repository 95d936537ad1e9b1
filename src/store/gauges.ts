/**
 * The deployment's gauges for /metrics (metrics/registry.ts `DeploymentGauges`), read at scrape time: a
 * few aggregate statements, each over a partial index of active work only — never a scan of the history.
 *
 * - ready: `task_instances_ready` (state in the three ready states, literal so that SQLite uses it),
 *   joined to each row's run by primary key; grouped in SQL by DAG version, task and queue, so the answer
 *   is a row per task, not per instance (a 10,000-instance fan-out is one row). The pool is a property of
 *   the task in its DAG version: mapped through the claim's profile cache (claims.ts), which the store
 *   keeps anyway — no spec is parsed per scrape.
 * - running: `attempts_live` (state = 'running'), joined to the task instance and the run by primary key.
 * - active runs: `runs_active` (state in ('queued', 'running')).
 * - processes: `workers_live`.
 * - dead letters: open entries per DAG (store/deadLetters.ts `countOpen`, its partial index).
 * The plans are in docs/decisions/0018-metrics.md; test/metrics/gauges.test.ts checks them on both dialects.
 */
import { sql } from "kysely";
import { DEFAULT_POOL } from "../core/capacity.js";
import { handleOf } from "./aggregates.js";
import { profilesOf } from "./claims.js";
import type { Store } from "./store.js";

export interface GaugeReadings {
  ready: { queue: string; pool: string; count: number }[];
  running: { queue: string; pool: string; count: number }[];
  activeRuns: { dagId: string; state: string; count: number }[];
  processes: { role: string; count: number }[];
  deadLetters: { dagId: string; count: number }[];
}

type TaskCount = { dag_id: string; dag_version: string; task_id: string; queue: string; n: number | string };

/**
 * The statements, by gauge (test/metrics/gauges.test.ts compiles them to check their plans). Ready means
 * due (`ready_at <= now`) in a running run, as claims see it.
 */
export function gaugeStatements(now: number) {
  return {
    ready: sql<TaskCount>`select r.dag_id, r.dag_version, ti.task_id, ti.queue, count(*) as n
        from task_instances ti join runs r on r.run_id = ti.run_id
       where ti.state in ('scheduled', 'up_for_retry', 'up_for_reschedule') and ti.ready_at <= ${now} and r.state = 'running'
       group by r.dag_id, r.dag_version, ti.task_id, ti.queue`,
    running: sql<TaskCount>`select r.dag_id, r.dag_version, ti.task_id, ti.queue, count(*) as n
        from attempts a
        join task_instances ti on ti.run_id = a.run_id and ti.task_id = a.task_id and ti.map_index = a.map_index
        join runs r on r.run_id = a.run_id
       where a.state = 'running'
       group by r.dag_id, r.dag_version, ti.task_id, ti.queue`,
    activeRuns: sql<{ dag_id: string; state: string; n: number | string }>`select dag_id, state, count(*) as n from runs where state in ('queued', 'running') group by dag_id, state`,
    processes: sql<{ role: string; n: number | string }>`select role, count(*) as n from workers where state in ('running', 'draining') group by role`,
  };
}

/**
 * Read the deployment's gauges.
 * @example
 * const g = await readGauges(store); // g.ready: [{ queue: "default", pool: "default_pool", count: 12 }]
 */
export async function readGauges(store: Store): Promise<GaugeReadings> {
  const db = handleOf(store);
  const q = gaugeStatements(store.now());
  // one after another: a scrape holds one of the pool's connections, never four (a scheduler has five)
  const ready = await q.ready.execute(db);
  const running = await q.running.execute(db);
  const runs = await q.activeRuns.execute(db);
  const procs = await q.processes.execute(db);
  const byPool = async (rows: TaskCount[]) => {
    const profile = await profilesOf(store.claimState.profiles, db, rows);
    const sums = new Map<string, { queue: string; pool: string; count: number }>();
    // the default queue and pool always have a series (0 when idle): an autoscaler's query must not come back empty
    sums.set(`default\0${DEFAULT_POOL}`, { queue: "default", pool: DEFAULT_POOL, count: 0 });
    for (const r of rows) {
      const pool = profile(r).pool;
      const k = `${r.queue}\0${pool}`;
      const s = sums.get(k) ?? { queue: r.queue, pool, count: 0 };
      s.count += Number(r.n);
      sums.set(k, s);
    }
    return [...sums.values()];
  };
  return {
    ready: await byPool(ready.rows),
    running: await byPool(running.rows),
    activeRuns: runs.rows.map((r) => ({ dagId: r.dag_id, state: r.state, count: Number(r.n) })),
    processes: procs.rows.map((r) => ({ role: r.role, count: Number(r.n) })),
    // the partial index of open entries (dead_letters_open): never the queue's history
    deadLetters: [...(await store.deadLetters.countOpen())].map(([dagId, count]) => ({ dagId, count })),
  };
}
