/** SQL for task instances. `store.taskInstances`, or `tx.taskInstances` inside a transaction. */
import { sql, type Kysely } from "kysely";
import type { Database } from "./schema.js";
import type { StoreContext } from "./aggregates.js";
import { toTaskInstance, type TaskInstanceRecord } from "./records.js";

/**
 * Claimable task instances. Written as a literal, not bound parameters: SQLite uses a partial index only
 * when the query's WHERE visibly implies the index's WHERE (task_instances_ready*), and with bound
 * parameters it cannot — every claim would then scan the run's task instances.
 */
const CLAIMABLE_TI = sql<boolean>`ti.state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`;

/** @internal Constructed by the Store (`store.taskInstances`) and by each transaction (`tx.taskInstances`). */
export class TaskInstanceRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  /** A run's task instances by (task id, map index). */
  async page(runId: string, o: { limit: number; after: { taskId: string; mapIndex: number } | null }): Promise<TaskInstanceRecord[]> {
    let q = this.db.selectFrom("task_instances").selectAll().where("run_id", "=", runId);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) => eb.or([eb("task_id", ">", a.taskId), eb.and([eb("task_id", "=", a.taskId), eb("map_index", ">", a.mapIndex)])]));
    }
    const rows = await q.orderBy("task_id").orderBy("map_index").limit(o.limit).execute();
    return rows.map(toTaskInstance);
  }

  /** Task instance states of one run, for the grid: only the two columns it needs (primary-key order). */
  async statesOfRun(runId: string): Promise<{ task_id: string; state: string }[]> {
    return this.db.selectFrom("task_instances").select(["task_id", "state"]).where("run_id", "=", runId).execute();
  }

  /** Set the claim priority of a run's task instances of the given tasks (every map index). */
  async setPriority(runId: string, taskIds: readonly string[], priority: number): Promise<void> {
    for (let i = 0; i < taskIds.length; i += 500) {
      await this.db.updateTable("task_instances").set({ priority }).where("run_id", "=", runId).where("task_id", "in", taskIds.slice(i, i + 500)).execute();
    }
  }

  async list(runId: string): Promise<TaskInstanceRecord[]> {
    const rows = await this.db
      .selectFrom("task_instances")
      .selectAll()
      .where("run_id", "=", runId)
      .orderBy("task_id")
      .orderBy("map_index")
      .execute();
    return rows.map(toTaskInstance);
  }

  /**
   * The earliest time a retry becomes due, to set a wake-up timer. Only runs that are `running` count, as
   * in claimReady: the ready tasks of a `queued` run cannot be claimed, and counting them made a worker
   * spin (a due time in the past, nothing to claim, again) and starve its event loop.
   */
  async nextRetryAt(runId?: string, backfillId?: number): Promise<number | null> {
    let q = this.db
      .selectFrom("task_instances as ti")
      .innerJoin("runs as r", "r.run_id", "ti.run_id")
      .select((eb) => eb.fn.min("ti.ready_at").as("at"))
      .where(CLAIMABLE_TI)
      .where("r.state", "=", "running");
    if (runId) q = q.where("ti.run_id", "=", runId);
    // the same filter as the worker's claims: else a worker of one backfill spins on others' ready work
    if (backfillId !== undefined) q = q.where("r.backfill_id", "=", backfillId);
    const row = await q.executeTakeFirst();
    return row?.at ?? null;
  }
}
