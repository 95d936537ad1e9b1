/**
 * SQL for depending on the past (migration 0021): the previous run of a DAG by logical date, a backfill's
 * first run, and the task instances held back by the past (`past_waits`). What a wait means is
 * core/pastDeps.ts; when it is decided, engine/pastDeps.ts.
 */
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

/** @internal Constructed by the Store (`store.pastWaits`) and by each transaction (`tx.pastWaits`). */
export class PastWaitRows {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * The DAG's latest run with a logical date before `logicalDate` (runs_dag_logical); `scheduledOnly`:
   * only scheduled and backfill runs (Airflow's get_previous_scheduled_dagrun, used with catchup).
   */
  async previousRun(dagId: string, logicalDate: number, scheduledOnly: boolean): Promise<{ runId: string; logicalDate: number } | null> {
    let q = this.db.selectFrom("runs").select(["run_id", "logical_date"]).where("dag_id", "=", dagId).where("logical_date", "<", logicalDate);
    if (scheduledOnly) q = q.where("run_type", "in", ["scheduled", "backfill"]);
    const r = await q.orderBy("logical_date", "desc").limit(1).executeTakeFirst();
    return r ? { runId: r.run_id, logicalDate: Number(r.logical_date) } : null;
  }

  /** Whether `runId` is the first run in its backfill's order (Airflow: it needs nothing of the past). */
  async firstInBackfill(backfillId: number, runId: string): Promise<boolean> {
    const r = await this.db
      .selectFrom("backfill_runs")
      .select("run_id")
      .where("backfill_id", "=", backfillId)
      .where("action", "in", ["create", "reprocess"])
      .orderBy("ordinal")
      .limit(1)
      .executeTakeFirst();
    return r?.run_id === runId;
  }

  /** Hold a task instance back (or say why again): it waits on `prevRunId`. True when it was not held before. */
  async hold(w: { runId: string; taskId: string; prevRunId: string; reason: string; now: number }): Promise<boolean> {
    const updated = await this.db
      .updateTable("past_waits")
      .set({ prev_run_id: w.prevRunId, reason: w.reason })
      .where("run_id", "=", w.runId)
      .where("task_id", "=", w.taskId)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return false;
    await this.db.insertInto("past_waits").values({ run_id: w.runId, task_id: w.taskId, prev_run_id: w.prevRunId, reason: w.reason, created_at: w.now }).execute();
    return true;
  }

  /** The wait is over (or the run is gone). */
  async release(runId: string, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.db.deleteFrom("past_waits").where("run_id", "=", runId).where("task_id", "in", taskIds).execute();
  }

  /** Retention: the rows of deleted runs (a run that ended while one of its tasks waited keeps its row till then). */
  async deleteOfRuns(runIds: readonly string[]): Promise<void> {
    if (runIds.length === 0) return;
    await this.db.deleteFrom("past_waits").where("run_id", "in", runIds).execute();
  }

  /** The task instances waiting on a run (past_waits_prev), by run. */
  async waitersOf(prevRunId: string): Promise<Map<string, string[]>> {
    const rows = await this.db.selectFrom("past_waits").select(["run_id", "task_id"]).where("prev_run_id", "=", prevRunId).execute();
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.run_id, [...(out.get(r.run_id) ?? []), r.task_id]);
    return out;
  }

  /**
   * The sweep's safety net (Recovery.recoverLostAttempts): waits of running runs on a previous run that
   * has ended — a wake-up lost to a crash between a commit and its follow-up, or a previous run of a
   * version without dependsOnPast (which does not look for waiters). Their gate decides them again.
   */
  async onEndedRuns(): Promise<Map<string, string[]>> {
    const rows = await this.db
      .selectFrom("past_waits as w")
      .innerJoin("runs as p", "p.run_id", "w.prev_run_id")
      .innerJoin("runs as r", "r.run_id", "w.run_id")
      .select(["w.run_id", "w.task_id"])
      .where("p.state", "not in", ["queued", "running"])
      .where("r.state", "=", "running")
      .execute();
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.run_id, [...(out.get(r.run_id) ?? []), r.task_id]);
    return out;
  }

  /** Why a run's task instances wait for the past, by task id (the waiting reasons of the CLI, API and UI). */
  async reasonsOf(runId: string): Promise<Map<string, string>> {
    const rows = await this.db.selectFrom("past_waits").select(["task_id", "reason"]).where("run_id", "=", runId).execute();
    return new Map(rows.map((r) => [r.task_id, r.reason]));
  }
}
