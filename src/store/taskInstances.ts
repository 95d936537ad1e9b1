/** SQL for task instances. `store.taskInstances`, or `tx.taskInstances` inside a transaction. */
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";
import { toTaskInstance } from "./records.js";
import type { TaskInstanceRecord } from "./store.js";

/** @internal Constructed by the Store (`store.taskInstances`) and by each transaction (`tx.taskInstances`). */
export class TaskInstanceRows {
  constructor(private readonly db: Kysely<Database>) {}

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
}
