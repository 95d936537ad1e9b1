/**
 * Runs and task instances across DAGs, for the people who look at them (the runs and task-instance lists,
 * the dashboard): filtered lists in keyset pages, newest first, and the last hours at a glance. Indexes:
 * migration 0024 (runs by creation, by state and end, by who triggered them; deadline misses by time).
 * `store.history`.
 */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import { toRun, toTaskInstance, type RunRecord, type TaskInstanceRecord } from "./records.js";

/** Filters both lists share: by the runs' DAG, type, logical date and trigger. */
export interface RunFilter {
  dagId?: string;
  /** Only runs of these DAGs (per-DAG access, app/access.ts). */
  dagIds?: readonly string[];
  runType?: string;
  /** Logical date in [from, to] (ms). */
  from?: number;
  to?: number;
  triggeredBy?: string;
}

export interface RunListFilter extends RunFilter {
  state?: string;
  limit: number;
  after: { createdAt: number; runId: string } | null;
}

export interface TaskInstanceListFilter extends RunFilter {
  state?: string;
  taskId?: string;
  limit: number;
  after: { createdAt: number; runId: string; taskId: string; mapIndex: number } | null;
}

/** A task instance with what the list shows of its run. */
export interface TaskInstanceRow extends TaskInstanceRecord {
  dagId: string;
  logicalDate: number;
  runType: string;
  runCreatedAt: number;
}

export interface RecentRuns {
  failed: RunRecord[];
  running: RunRecord[];
  queued: RunRecord[];
  /** Runs that missed a deadline since `since`, or are still active past it; with the last miss. */
  late: { run: RunRecord; missedAt: number | null }[];
  counts: { failed: number; running: number; queued: number; late: number; succeeded: number };
}

/** @internal Constructed by the Store (`store.history`). */
export class HistoryRows {
  constructor(private readonly db: Kysely<Database>) {}

  /** Runs of every DAG (or the filtered ones), newest first (created_at, run_id descending). */
  async runs(o: RunListFilter): Promise<RunRecord[]> {
    if (o.dagIds?.length === 0) return [];
    let q = this.db.selectFrom("runs as r").selectAll("r");
    q = filterRuns(q, o);
    if (o.state !== undefined) q = q.where("r.state", "=", o.state);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) => eb.or([eb("r.created_at", "<", a.createdAt), eb.and([eb("r.created_at", "=", a.createdAt), eb("r.run_id", "<", a.runId)])]));
    }
    const rows = await q.orderBy("r.created_at", "desc").orderBy("r.run_id", "desc").limit(o.limit).execute();
    return rows.map(toRun);
  }

  /** Task instances of every DAG's runs, newest run first, then by task id and map index. */
  async taskInstances(o: TaskInstanceListFilter): Promise<TaskInstanceRow[]> {
    if (o.dagIds?.length === 0) return [];
    let q = this.db
      .selectFrom("task_instances as t")
      .innerJoin("runs as r", "r.run_id", "t.run_id")
      .selectAll("t")
      .select(["r.dag_id as r_dag_id", "r.logical_date as r_logical_date", "r.run_type as r_run_type", "r.created_at as r_created_at"]);
    q = filterRuns(q, o);
    if (o.state !== undefined) q = q.where("t.state", "=", o.state);
    if (o.taskId !== undefined) q = q.where("t.task_id", "=", o.taskId);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) =>
        eb.or([
          eb("r.created_at", "<", a.createdAt),
          eb.and([eb("r.created_at", "=", a.createdAt), eb("r.run_id", "<", a.runId)]),
          eb.and([eb("r.created_at", "=", a.createdAt), eb("r.run_id", "=", a.runId), eb("t.task_id", ">", a.taskId)]),
          eb.and([eb("r.created_at", "=", a.createdAt), eb("r.run_id", "=", a.runId), eb("t.task_id", "=", a.taskId), eb("t.map_index", ">", a.mapIndex)]),
        ]),
      );
    }
    const rows = await q.orderBy("r.created_at", "desc").orderBy("r.run_id", "desc").orderBy("t.task_id").orderBy("t.map_index").limit(o.limit).execute();
    return rows.map((r) => ({ ...toTaskInstance(r), dagId: r.r_dag_id, logicalDate: Number(r.r_logical_date), runType: r.r_run_type, runCreatedAt: Number(r.r_created_at) }));
  }

  /**
   * The dashboard: runs that failed since `since`, runs running and queued now, runs late (a deadline
   * missed since `since`, or active past their next deadline at `now`), `limit` of each, and the counts.
   */
  async recent(o: { since: number; now: number; limit: number; dagIds?: readonly string[] }): Promise<RecentRuns> {
    if (o.dagIds?.length === 0) return { failed: [], running: [], queued: [], late: [], counts: { failed: 0, running: 0, queued: 0, late: 0, succeeded: 0 } };
    const base = () => {
      let q = this.db.selectFrom("runs as r");
      if (o.dagIds !== undefined) q = q.where("r.dag_id", "in", o.dagIds);
      return q;
    };
    const ended = (state: string) => base().where("r.state", "=", state).where("r.ended_at", ">=", o.since);
    const active = (state: string) => base().where("r.state", "=", state);
    const newest = <T extends { orderBy: (c: "r.created_at", d: "desc") => T }>(q: T) => q.orderBy("r.created_at", "desc");
    const count = async (q: ReturnType<typeof base>) => Number((await q.select((eb) => eb.fn.countAll<number | string>().as("n")).executeTakeFirst())?.n ?? 0);

    const lateQuery = () => {
      let q = this.db
        .selectFrom("runs as r")
        .leftJoin(
          (eb) => eb.selectFrom("deadline_misses").select(["run_id", (x) => x.fn.max("missed_at").as("missed_at")]).where("missed_at", ">=", o.since).groupBy("run_id").as("m"),
          (j) => j.onRef("m.run_id", "=", "r.run_id"),
        )
        .where((eb) => eb.or([eb("m.missed_at", "is not", null), eb.and([eb(sql<boolean>`r.state in ('queued', 'running')`, "=", sql<boolean>`true`), eb("r.deadline_at", "<=", o.now)])]));
      if (o.dagIds !== undefined) q = q.where("r.dag_id", "in", o.dagIds);
      return q;
    };

    const [failed, running, queued, late, nFailed, nRunning, nQueued, nSucceeded, nLate] = await Promise.all([
      newest(ended("failed").selectAll("r")).limit(o.limit).execute(),
      newest(active("running").selectAll("r")).limit(o.limit).execute(),
      newest(active("queued").selectAll("r")).limit(o.limit).execute(),
      lateQuery().selectAll("r").select("m.missed_at as m_missed_at").orderBy("r.created_at", "desc").limit(o.limit).execute(),
      count(ended("failed")),
      count(active("running")),
      count(active("queued")),
      count(ended("success")),
      lateQuery()
        .select((eb) => eb.fn.countAll<number | string>().as("n"))
        .executeTakeFirst()
        .then((r) => Number(r?.n ?? 0)),
    ]);
    return {
      failed: failed.map(toRun),
      running: running.map(toRun),
      queued: queued.map(toRun),
      late: late.map((r) => ({ run: toRun(r), missedAt: r.m_missed_at === null || r.m_missed_at === undefined ? null : Number(r.m_missed_at) })),
      counts: { failed: nFailed, running: nRunning, queued: nQueued, late: nLate, succeeded: nSucceeded },
    };
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- both lists' queries (runs alone, or joined to task_instances) take these filters on "r"
function filterRuns<Q extends { where: (...args: any[]) => Q }>(q: Q, o: RunFilter): Q {
  let out = q;
  if (o.dagId !== undefined) out = out.where("r.dag_id", "=", o.dagId);
  if (o.dagIds !== undefined) out = out.where("r.dag_id", "in", o.dagIds);
  if (o.runType !== undefined) out = out.where("r.run_type", "=", o.runType);
  if (o.from !== undefined) out = out.where("r.logical_date", ">=", o.from);
  if (o.to !== undefined) out = out.where("r.logical_date", "<=", o.to);
  if (o.triggeredBy !== undefined) out = out.where("r.triggered_by", "=", o.triggeredBy);
  return out;
}
