/**
 * SQL for deadlines (migration 0018, decision 0019): each active run's next deadline to check
 * (`runs.deadline_at`, read through the partial index runs_next_deadline), and the misses — one row per
 * (run, task, map index) whose insert only one process can win. `store.deadlines`, or `tx.deadlines`.
 */
import { sql, type Kysely } from "kysely";
import type { StoreContext } from "./aggregates.js";
import type { Database } from "./schema.js";
import { execText } from "./sqlText.js";

export interface DeadlineMissRecord {
  runId: string;
  /** "" for the run's own deadline. */
  taskId: string;
  mapIndex: number;
  deadlineAt: number;
  missedAt: number;
}

const ACTIVE = sql<boolean>`deadline_at is not null and state in ('queued', 'running')`;

/** @internal Constructed by the Store (`store.deadlines`) and by each transaction (`tx.deadlines`). */
export class DeadlineRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  /**
   * Active runs whose next deadline has come (the store's clock), oldest first, and the earliest one still
   * ahead: what the checker handles now, and when to look again.
   */
  async due(limit: number): Promise<{ due: string[]; next: number | null }> {
    const now = this.ctx.now();
    const due = await this.db.selectFrom("runs").select("run_id").where(ACTIVE).where("deadline_at", "<=", now).orderBy("deadline_at").limit(limit).execute();
    const next = await this.db.selectFrom("runs").select("deadline_at").where(ACTIVE).where("deadline_at", ">", now).orderBy("deadline_at").limit(1).executeTakeFirst();
    return { due: due.map((r) => r.run_id), next: next?.deadline_at === null || next === undefined ? null : Number(next.deadline_at) };
  }

  /** A run's next deadline to check (null: none left). */
  async setNext(runId: string, at: number | null): Promise<void> {
    await this.db.updateTable("runs").set({ deadline_at: at }).where("run_id", "=", runId).execute();
  }

  /** Bring a run's next deadline forward to `at` (a task with a deadline from its start has started). */
  async lower(runId: string, at: number): Promise<void> {
    await execText(this.db, this.ctx.dialect, "update runs set deadline_at = ? where run_id = ? and (deadline_at is null or deadline_at > ?)", [at, runId, at]);
  }

  /**
   * Record a miss; true when this call recorded it (the one that writes the miss's callbacks), false when
   * it was recorded already — by this process earlier, or by another scheduler at the same moment.
   */
  async record(m: DeadlineMissRecord): Promise<boolean> {
    const r = await execText<{ run_id: string }>(
      this.db,
      this.ctx.dialect,
      "insert into deadline_misses (run_id, task_id, map_index, deadline_at, missed_at) values (?, ?, ?, ?, ?) on conflict do nothing returning run_id",
      [m.runId, m.taskId, m.mapIndex, m.deadlineAt, m.missedAt],
    );
    return r.rows.length > 0;
  }

  /** A run's misses (run detail, `sluice runs show`). */
  async ofRun(runId: string): Promise<DeadlineMissRecord[]> {
    const rows = await this.db.selectFrom("deadline_misses").selectAll().where("run_id", "=", runId).orderBy("missed_at").execute();
    return rows.map((r) => ({ runId: r.run_id, taskId: r.task_id, mapIndex: r.map_index, deadlineAt: Number(r.deadline_at), missedAt: Number(r.missed_at) }));
  }

  /** How many runs of each DAG missed a deadline, and when the last did (the DAG list). */
  async perDag(dagIds: readonly string[]): Promise<Map<string, { runs: number; lastMissedAt: number }>> {
    const out = new Map<string, { runs: number; lastMissedAt: number }>();
    if (dagIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("deadline_misses as m")
      .innerJoin("runs as r", "r.run_id", "m.run_id")
      .select(["r.dag_id", (eb) => eb.fn.count<number>("m.run_id").distinct().as("n"), (eb) => eb.fn.max("m.missed_at").as("last")])
      .where("r.dag_id", "in", dagIds)
      .groupBy("r.dag_id")
      .execute();
    for (const r of rows) out.set(r.dag_id, { runs: Number(r.n), lastMissedAt: Number(r.last) });
    return out;
  }
}
