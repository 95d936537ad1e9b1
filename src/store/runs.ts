/** SQL for runs. `store.runs`, or `tx.runs` inside a transaction. */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import { toRun } from "./records.js";
import type { RunRecord } from "./store.js";

/** @internal Constructed by the Store (`store.runs`) and by each transaction (`tx.runs`). */
export class RunRows {
  constructor(private readonly db: Kysely<Database>) {}

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
}
