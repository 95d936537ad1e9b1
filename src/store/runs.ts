/** SQL for runs. `store.runs`, or `tx.runs` inside a transaction. */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import type { RunState } from "../core/states.js";
import type { StoreContext } from "./aggregates.js";
import { toRun, type RunRecord } from "./records.js";
import { execText } from "./sqlText.js";

/** A stalled run (Store.stalledRuns), for `runs r`: served by runs_active, task_instances_ready_run, attempts_live. */
export const STALLED = `r.state in ('queued', 'running') and r.state = 'running' and r.unfinished > 0
  and not exists (select 1 from task_instances t where t.run_id = r.run_id and t.state in ('scheduled', 'up_for_retry', 'up_for_reschedule'))
  and not exists (select 1 from attempts a where a.run_id = r.run_id and a.state = 'running')`;

/** @internal Constructed by the Store (`store.runs`) and by each transaction (`tx.runs`). */
export class RunRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  /** Runs, newest first (created_at, run_id descending); `after` is the last row of the previous page. */
  async page(o: { dagId?: string; state?: string; runType?: string; limit: number; after: { createdAt: number; runId: string } | null }): Promise<RunRecord[]> {
    let q = this.db.selectFrom("runs").selectAll();
    if (o.dagId !== undefined) q = q.where("dag_id", "=", o.dagId);
    if (o.state !== undefined) q = q.where("state", "=", o.state);
    if (o.runType !== undefined) q = q.where("run_type", "=", o.runType);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) => eb.or([eb("created_at", "<", a.createdAt), eb.and([eb("created_at", "=", a.createdAt), eb("run_id", "<", a.runId)])]));
    }
    const rows = await q.orderBy("created_at", "desc").orderBy("run_id", "desc").limit(o.limit).execute();
    return rows.map(toRun);
  }

  /** The newest `n` runs of each DAG (one indexed query per DAG: runs_dag_created). */
  async latestOf(dagIds: readonly string[], n: number): Promise<Map<string, { runId: string; state: string; logicalDate: number }[]>> {
    const out = new Map<string, { runId: string; state: string; logicalDate: number }[]>();
    for (const dagId of dagIds) {
      const rows = await this.db
        .selectFrom("runs")
        .select(["run_id", "state", "logical_date"])
        .where("dag_id", "=", dagId)
        .orderBy("created_at", "desc")
        .orderBy("run_id", "desc")
        .limit(n)
        .execute();
      out.set(
        dagId,
        rows.map((r) => ({ runId: r.run_id, state: r.state, logicalDate: Number(r.logical_date) })),
      );
    }
    return out;
  }

  /** Active runs per state, for /status. */
  async activeCounts(): Promise<{ state: string; count: number }[]> {
    // the literal keeps the partial index runs_active usable
    const runs = await this.db
      .selectFrom("runs")
      .select(["state", (eb) => eb.fn.countAll<number>().as("n")])
      .where(sql<boolean>`state in ('queued', 'running')`)
      .groupBy("state")
      .execute();
    return runs.map((r) => ({ state: r.state, count: Number(r.n) }));
  }

  /** A finished run that a backfill reprocesses becomes a backfill run, started now. */
  async adoptForBackfill(runId: string, backfillId: number, now: number, timeoutAt: number | null): Promise<void> {
    await this.db
      .updateTable("runs")
      .set({ run_type: "backfill", backfill_id: backfillId, started_at: now, ended_at: null, timeout_at: timeoutAt })
      .where("run_id", "=", runId)
      .execute();
  }

  // ---- reads ---------------------------------------------------------------------------------------

  async get(runId: string): Promise<RunRecord | null> {
    const row = await this.db.selectFrom("runs").selectAll().where("run_id", "=", runId).executeTakeFirst();
    return row ? toRun(row) : null;
  }

  async list(opts: { dagId?: string; states?: RunState[]; limit: number; offset?: number }): Promise<RunRecord[]> {
    let q = this.db.selectFrom("runs").selectAll();
    if (opts.dagId) q = q.where("dag_id", "=", opts.dagId);
    if (opts.states) q = q.where("state", "in", opts.states);
    const rows = await q
      .orderBy("created_at", "desc")
      .orderBy("run_id", "desc")
      .limit(opts.limit)
      .offset(opts.offset ?? 0)
      .execute();
    return rows.map(toRun);
  }

  /** Runs not yet finished (served by the partial index runs_active). */
  async listActive(): Promise<RunRecord[]> {
    const rows = await this.db
      .selectFrom("runs")
      .selectAll()
      .where(sql<boolean>`state in ('queued', 'running')`)
      .orderBy("created_at")
      .execute();
    return rows.map(toRun);
  }

  /**
   * Active runs with no unfinished task instance left: their finishing transaction's process died between
   * its COMMIT and finishing them (Engine.finishRunIfDone). Served by the partial index runs_active.
   */
  async withNothingLeft(): Promise<string[]> {
    const r = await execText<{ run_id: string }>(this.db, this.ctx.dialect, "select run_id from runs where state in ('queued', 'running') and unfinished <= 0", []);
    return r.rows.map((x) => x.run_id);
  }

  /**
   * Running runs where nothing happens: no task instance ready or due later, none running — yet some
   * still unfinished. A fan-in task instance whose deciding transaction's process died before it could
   * decide it waits so (Engine.unstall); a run should never be left so otherwise.
   */
  async stalled(): Promise<string[]> {
    const r = await execText<{ run_id: string }>(this.db, this.ctx.dialect, `select r.run_id from runs r where ${STALLED}`, []);
    return r.rows.map((x) => x.run_id);
  }
}
