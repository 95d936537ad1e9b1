/**
 * SQL for callbacks (migration 0018, decision 0019): rows written in the transaction of the state change
 * that makes them due (`enqueue`, from engine/transaction.ts), claimed by live processes with a lease in
 * lease time (the database's clock on PostgreSQL, as attempts' leases), finished or rescheduled by the
 * claim that holds them. `store.callbacks`, or `tx.callbacks` inside a transaction.
 */
import type { Kysely } from "kysely";
import type { StoreContext } from "./aggregates.js";
import type { Database } from "./schema.js";
import { execText } from "./sqlText.js";

/** A callback that fell due, as a transition writes it. */
export interface NewCallback {
  runId: string;
  /** "" for the run's own. */
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  event: string;
  /** Its place in the list of its scope and event (Dag.callbacks). */
  position: number;
  name: string;
}

export interface CallbackRecord extends NewCallback {
  callbackId: number;
  state: "pending" | "running" | "done" | "failed";
  /** Tries made (a claimed row counts the try it is in). */
  tries: number;
  dueAt: number;
  claimedBy: string | null;
  lastError: string | null;
  createdAt: number;
  endedAt: number | null;
}

type Row = {
  callback_id: number | string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  event: string;
  position: number;
  name: string;
  state: string;
  tries: number;
  due_at: number | string;
  claimed_by: string | null;
  last_error: string | null;
  created_at: number | string;
  ended_at: number | string | null;
};

function toCallback(r: Row): CallbackRecord {
  return {
    callbackId: Number(r.callback_id),
    runId: r.run_id,
    taskId: r.task_id,
    mapIndex: r.map_index,
    tryNumber: r.try_number,
    event: r.event,
    position: r.position,
    name: r.name,
    state: r.state as CallbackRecord["state"],
    tries: r.tries,
    dueAt: Number(r.due_at),
    claimedBy: r.claimed_by,
    lastError: r.last_error,
    createdAt: Number(r.created_at),
    endedAt: r.ended_at === null ? null : Number(r.ended_at),
  };
}

/** @internal Constructed by the Store (`store.callbacks`) and by each transaction (`tx.callbacks`). */
export class CallbackRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  /**
   * Write callbacks that fell due, due now (lease time). A row that exists already (the same transition
   * run again after a PostgreSQL conflict, or a deadline noticed twice) is left as it is.
   */
  async enqueue(rows: readonly NewCallback[]): Promise<void> {
    if (rows.length === 0) return;
    const now = this.ctx.leaseNow();
    const values = rows.map(() => `(?, ?, ?, ?, ?, ?, ?, 'pending', 0, ${now.expr}, ?)`).join(", ");
    const params = rows.flatMap((r) => [r.runId, r.taskId, r.mapIndex, r.tryNumber, r.event, r.position, r.name, ...now.params, this.ctx.now()]);
    await execText(
      this.db,
      this.ctx.dialect,
      `insert into callbacks (run_id, task_id, map_index, try_number, event, position, name, state, tries, due_at, created_at)
        values ${values} on conflict do nothing`,
      params,
    );
  }

  /**
   * Claim up to `limit` due callbacks for `owner`: pending ones whose time has come, and running ones whose
   * claim's lease ended (their process died mid-try). The claim counts a try and holds the row for
   * `leaseMs` (`due_at` is the lease's end while running). PostgreSQL skips rows another process is
   * claiming (FOR UPDATE SKIP LOCKED), so many processes share the work without waiting on each other;
   * SQLite's single writer does the same. Served by the partial index callbacks_due.
   */
  async claim(owner: string, limit: number, leaseMs: number): Promise<CallbackRecord[]> {
    const now = this.ctx.leaseNow();
    const lock = this.ctx.dialect === "postgres" ? "for update skip locked" : "";
    const r = await execText<Row>(
      this.db,
      this.ctx.dialect,
      `update callbacks set state = 'running', claimed_by = ?, tries = tries + 1, due_at = ${now.expr} + ?
        where callback_id in (select callback_id from callbacks where state in ('pending', 'running') and due_at <= ${now.expr}
                               order by due_at limit ? ${lock})
        returning *`,
      [owner, ...now.params, leaseMs, ...now.params, limit],
    );
    return r.rows.map(toCallback).sort((a, b) => a.callbackId - b.callbackId);
  }

  /**
   * The end of a try, by the claim that made it (`owner`, `tries`: a claim whose lease ended and that
   * another process took over writes nothing). `retryInMs`: try again then; else done, or failed for good.
   * Returns whether the write counted.
   */
  async finish(c: Pick<CallbackRecord, "callbackId" | "tries">, owner: string, end: { state: "done" } | { state: "failed"; error: string } | { state: "pending"; error: string; retryInMs: number }): Promise<boolean> {
    const now = this.ctx.leaseNow();
    const pending = end.state === "pending";
    const r = await execText(
      this.db,
      this.ctx.dialect,
      `update callbacks set state = ?, last_error = ?, ended_at = ?, due_at = ${pending ? `${now.expr} + ?` : "due_at"}
        where callback_id = ? and state = 'running' and claimed_by = ? and tries = ?`,
      [end.state, end.state === "done" ? null : end.error, pending ? null : this.ctx.now(), ...(pending ? [...now.params, end.retryInMs] : []), c.callbackId, owner, c.tries],
    );
    return Number(r.numAffectedRows ?? 0) > 0;
  }

  /** How long until the next callback falls due (lease time), or null when none waits. */
  async nextDueIn(): Promise<number | null> {
    const now = this.ctx.leaseNow();
    const r = await execText<{ d: number | string | null }>(this.db, this.ctx.dialect, `select min(due_at) - ${now.expr} as d from callbacks where state in ('pending', 'running')`, now.params);
    const d = r.rows[0]?.d;
    return d === null || d === undefined ? null : Math.max(0, Number(d));
  }

  /** A run's callbacks, oldest first (run detail, `sluice runs show`). */
  async ofRun(runId: string): Promise<CallbackRecord[]> {
    const rows = await this.db.selectFrom("callbacks").selectAll().where("run_id", "=", runId).orderBy("callback_id").execute();
    return rows.map((r) => toCallback(r as Row));
  }
}
