/** SQL for attempts: reads of their records and outputs. `store.attempts`, or `tx.attempts` inside a transaction. */
import type { Kysely } from "kysely";
import type { StoreContext } from "./aggregates.js";
import { ATTEMPT_COLUMNS, selectOutputs, toAttempt, type AttemptRecord, type StoredOutput } from "./records.js";
import type { Database } from "./schema.js";
import { execText, marks } from "./sqlText.js";

/** @internal Constructed by the Store (`store.attempts`) and by each transaction (`tx.attempts`). */
export class AttemptRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  async list(runId: string, taskId?: string, mapIndex?: number): Promise<AttemptRecord[]> {
    let q = this.db.selectFrom("attempts").select(ATTEMPT_COLUMNS).where("run_id", "=", runId);
    if (taskId !== undefined) q = q.where("task_id", "=", taskId);
    if (mapIndex !== undefined) q = q.where("map_index", "=", mapIndex);
    const rows = await q.orderBy("task_id").orderBy("map_index").orderBy("try_number").execute();
    return rows.map(toAttempt);
  }

  async get(attemptId: number): Promise<AttemptRecord | null> {
    const row = await this.db.selectFrom("attempts").select(ATTEMPT_COLUMNS).where("attempt_id", "=", attemptId).executeTakeFirst();
    return row ? toAttempt(row) : null;
  }

  /** Successful outputs of a task in a run, in map-index order (one row for an unmapped task). */
  outputs(runId: string, taskId: string): Promise<StoredOutput[]> {
    return selectOutputs(this.db, runId, taskId);
  }

  async output(attemptId: number): Promise<StoredOutput | null> {
    const r = await this.db
      .selectFrom("attempts")
      .select(["map_index", "output_inline", "output_ref"])
      .where("attempt_id", "=", attemptId)
      .executeTakeFirst();
    return r ? { mapIndex: r.map_index, inline: r.output_inline, ref: r.output_ref } : null;
  }

  /** Running attempts whose lease has expired, or whose worker is known dead (served by attempts_live). */
  async listLost(deadWorkerIds: string[]): Promise<{ attemptId: number; runId: string; workerId: string }[]> {
    const now = this.ctx.leaseNow();
    // literal state: lets SQLite use the partial index attempts_live; lease time from leaseNow (the
    // database's on PostgreSQL: a lease expires at the same instant for every host)
    const r = await execText<{ attempt_id: number; run_id: string; worker_id: string }>(this.db, this.ctx.dialect, 
      `select attempt_id, run_id, worker_id from attempts
        where state = 'running' and (lease_expires_at < ${now.expr}${deadWorkerIds.length ? ` or worker_id in (${marks(deadWorkerIds.length)})` : ""})`,
      [...now.params, ...deadWorkerIds],
    );
    return r.rows.map((x) => ({ attemptId: Number(x.attempt_id), runId: x.run_id, workerId: x.worker_id }));
  }
}
