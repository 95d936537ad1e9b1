/**
 * SQL for backfills (migration 0005, decision 0006): the backfill rows, their plans (one row per data
 * interval), the driver's lease, and the two writes a backfill makes to runs it takes over. `store.backfills`,
 * or `tx.backfills` inside a transaction.
 */
import { sql, type Kysely, type Selectable } from "kysely";
import type { IntervalAction, Reprocess } from "../core/backfill.js";
import type { RunState } from "../core/states.js";
import type { Database } from "./schema.js";


export type BackfillState = "running" | "success" | "failed" | "cancelled";

export interface BackfillRecord {
  backfillId: number;
  dagId: string;
  from: number;
  to: number;
  reprocess: Reprocess;
  maxActive: number;
  runBackwards: boolean;
  state: BackfillState;
  stateReason: string | null;
  createdAt: number;
  endedAt: number | null;
  /** The process driving it now (null when none has it). */
  driver: { pid: number; host: string; heartbeatAt: number } | null;
}

export interface BackfillIntervalRecord {
  logicalDate: number;
  intervalEnd: number;
  ordinal: number;
  action: IntervalAction;
  /** The run the backfill started for the interval (created or cleared), once started. */
  runId: string | null;
  /** That run's state now, or null. */
  runState: RunState | null;
}

export interface BackfillCounts {
  /** Intervals the backfill runs (create or reprocess). */
  planned: number;
  /** Of which not started yet. */
  pending: number;
  /** Started, run queued or running. */
  active: number;
  succeeded: number;
  failed: number;
  /** Intervals skipped because a run exists or is in flight. */
  skipped: number;
}

export function toBackfill(r: Selectable<Database["backfills"]>): BackfillRecord {
  return {
    backfillId: Number(r.backfill_id),
    dagId: r.dag_id,
    from: Number(r.from_date),
    to: Number(r.to_date),
    reprocess: r.reprocess as Reprocess,
    maxActive: r.max_active,
    runBackwards: r.run_backwards === 1,
    state: r.state as BackfillState,
    stateReason: r.state_reason,
    createdAt: Number(r.created_at),
    endedAt: r.ended_at === null ? null : Number(r.ended_at),
    driver:
      r.driver_pid === null || r.driver_host === null
        ? null
        : { pid: r.driver_pid, host: r.driver_host, heartbeatAt: Number(r.driver_heartbeat_at ?? 0) },
  };
}

/** @internal Constructed by the Store (`store.backfills`) and by each transaction (`tx.backfills`). */
export class BackfillRows {
  constructor(private readonly db: Kysely<Database>) {}

  /** Backfills, newest first. */
  /** `dagIds`: only backfills of these DAGs (per-DAG access, app/access.ts). */
  async page(o: { dagId?: string; dagIds?: readonly string[]; limit: number; after: number | null }): Promise<BackfillRecord[]> {
    if (o.dagIds?.length === 0) return [];
    let q = this.db.selectFrom("backfills").selectAll();
    if (o.dagId !== undefined) q = q.where("dag_id", "=", o.dagId);
    if (o.dagIds !== undefined) q = q.where("dag_id", "in", o.dagIds);
    if (o.after !== null) q = q.where("backfill_id", "<", o.after);
    return (await q.orderBy("backfill_id", "desc").limit(o.limit).execute()).map(toBackfill);
  }

  /** Create a running backfill and its plan (call inside a transaction). Returns its id. */
  async insert(b: { dagId: string; from: number; to: number; reprocess: Reprocess; maxActive: number; runBackwards: boolean; now: number }, plan: readonly { start: number; end: number; action: IntervalAction }[]): Promise<number> {
    const row = await this.db
      .insertInto("backfills")
      .values({
        dag_id: b.dagId,
        from_date: b.from,
        to_date: b.to,
        reprocess: b.reprocess,
        max_active: b.maxActive,
        run_backwards: b.runBackwards ? 1 : 0,
        state: "running",
        state_reason: null,
        created_at: b.now,
        ended_at: null,
        driver_pid: null,
        driver_host: null,
        driver_heartbeat_at: null,
      })
      .returning("backfill_id")
      .executeTakeFirstOrThrow();
    const id = Number(row.backfill_id);
    // SQLite allows 32766 bound parameters per statement; 6 columns a row.
    for (let i = 0; i < plan.length; i += 2000) {
      await this.db
        .insertInto("backfill_runs")
        .values(plan.slice(i, i + 2000).map((p, j) => ({ backfill_id: id, logical_date: p.start, interval_end: p.end, ordinal: i + j, action: p.action, run_id: null })))
        .execute();
    }
    return id;
  }

  async get(backfillId: number): Promise<BackfillRecord | null> {
    const r = await this.db.selectFrom("backfills").selectAll().where("backfill_id", "=", backfillId).executeTakeFirst();
    return r ? toBackfill(r) : null;
  }

  /** Newest first. */
  async list(opts: { dagId?: string; limit: number }): Promise<BackfillRecord[]> {
    let q = this.db.selectFrom("backfills").selectAll();
    if (opts.dagId) q = q.where("dag_id", "=", opts.dagId);
    return (await q.orderBy("backfill_id", "desc").limit(opts.limit).execute()).map(toBackfill);
  }

  /** The DAG's running backfill, if any (there is at most one: backfills_one_running). */
  async runningOf(dagId: string): Promise<BackfillRecord | null> {
    const r = await this.db.selectFrom("backfills").selectAll().where("dag_id", "=", dagId).where(sql<boolean>`state = 'running'`).executeTakeFirst();
    return r ? toBackfill(r) : null;
  }

  /**
   * The runs that hold the schedule keys of these interval starts (`sched:<ISO start>`: scheduled and
   * backfill runs of the interval), by start.
   */
  async runsOfIntervals(dagId: string, starts: readonly number[]): Promise<Map<number, { runId: string; state: RunState }>> {
    const out = new Map<number, { runId: string; state: RunState }>();
    for (let i = 0; i < starts.length; i += 500) {
      const keys = starts.slice(i, i + 500).map((t) => `sched:${new Date(t).toISOString()}`);
      const rows = await this.db.selectFrom("runs").select(["run_id", "state", "run_key"]).where("dag_id", "=", dagId).where("run_key", "in", keys).execute();
      for (const r of rows) out.set(Date.parse(r.run_key.slice("sched:".length)), { runId: r.run_id, state: r.state as RunState });
    }
    return out;
  }

  /** The plan with each started interval's run state, in run order. */
  async listIntervals(backfillId: number): Promise<BackfillIntervalRecord[]> {
    const rows = await this.db
      .selectFrom("backfill_runs as b")
      .leftJoin("runs as r", "r.run_id", "b.run_id")
      .select(["b.logical_date", "b.interval_end", "b.ordinal", "b.action", "b.run_id", "r.state"])
      .where("b.backfill_id", "=", backfillId)
      .orderBy("b.ordinal")
      .execute();
    return rows.map((r) => ({
      logicalDate: Number(r.logical_date),
      intervalEnd: Number(r.interval_end),
      ordinal: r.ordinal,
      action: r.action as IntervalAction,
      runId: r.run_id,
      runState: (r.state ?? null) as RunState | null,
    }));
  }

  /** The next interval to start (served by backfill_runs_pending). */
  async nextPendingInterval(backfillId: number): Promise<{ start: number; end: number; action: IntervalAction } | null> {
    const r = await this.db
      .selectFrom("backfill_runs")
      .select(["logical_date", "interval_end", "action"])
      .where("backfill_id", "=", backfillId)
      .where(sql<boolean>`run_id is null and action in ('create', 'reprocess')`)
      .orderBy("ordinal")
      .limit(1)
      .executeTakeFirst();
    return r ? { start: Number(r.logical_date), end: Number(r.interval_end), action: r.action as IntervalAction } : null;
  }



  async counts(backfillId: number): Promise<BackfillCounts> {
    const r = await sql<{ planned: number; pending: number; active: number; succeeded: number; failed: number; skipped: number }>`
      select sum(case when b.action in ('create', 'reprocess') then 1 else 0 end) as planned,
             sum(case when b.action in ('create', 'reprocess') and b.run_id is null then 1 else 0 end) as pending,
             sum(case when r.state in ('queued', 'running') then 1 else 0 end) as active,
             sum(case when r.state = 'success' then 1 else 0 end) as succeeded,
             sum(case when r.state = 'failed' then 1 else 0 end) as failed,
             sum(case when b.action in ('skip_exists', 'skip_in_flight') then 1 else 0 end) as skipped
        from backfill_runs b left join runs r on r.run_id = b.run_id
       where b.backfill_id = ${backfillId}`.execute(this.db);
    const row = r.rows[0];
    const n = (x: unknown) => Number(x ?? 0);
    return { planned: n(row?.planned), pending: n(row?.pending), active: n(row?.active), succeeded: n(row?.succeeded), failed: n(row?.failed), skipped: n(row?.skipped) };
  }

  /** The interval's run was started by the backfill. */
  async linkRun(backfillId: number, logicalDate: number, runId: string): Promise<void> {
    await this.db.updateTable("backfill_runs").set({ run_id: runId }).where("backfill_id", "=", backfillId).where("logical_date", "=", logicalDate).execute();
  }

  /** The interval is skipped after all (a run appeared, or became active, after the plan was made). */
  async skipInterval(backfillId: number, logicalDate: number, action: "skip_exists" | "skip_in_flight"): Promise<void> {
    await this.db.updateTable("backfill_runs").set({ action }).where("backfill_id", "=", backfillId).where("logical_date", "=", logicalDate).execute();
  }

  /** Record (or clear, with null) the process driving the backfill. */
  async setDriver(backfillId: number, driver: { pid: number; host: string; now: number } | null): Promise<void> {
    await this.db
      .updateTable("backfills")
      .set({ driver_pid: driver?.pid ?? null, driver_host: driver?.host ?? null, driver_heartbeat_at: driver?.now ?? null })
      .where("backfill_id", "=", backfillId)
      .execute();
  }

  async heartbeatDriver(backfillId: number, pid: number, host: string, now: number): Promise<void> {
    await this.db
      .updateTable("backfills")
      .set({ driver_heartbeat_at: now })
      .where("backfill_id", "=", backfillId)
      .where("driver_pid", "=", pid)
      .where("driver_host", "=", host)
      .execute();
  }

  /** End a running backfill; false when it was not running (already ended or cancelled). */
  async end(backfillId: number, state: Exclude<BackfillState, "running">, reason: string | null, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable("backfills")
      .set({ state, state_reason: reason, ended_at: now })
      .where("backfill_id", "=", backfillId)
      .where(sql<boolean>`state = 'running'`)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}
