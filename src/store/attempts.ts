/** SQL for attempts: reads of their records and outputs. `store.attempts`, or `tx.attempts` inside a transaction. */
import type { Kysely, QueryResult } from "kysely";
import type { StoreContext } from "./aggregates.js";
import { ATTEMPT_COLUMNS, selectOutputs, toAttempt, type AttemptEnd, type AttemptRecord, type EndedAttempt, type StoredOutput, type WaitingAttempt } from "./records.js";
import type { Tx } from "./store.js";
import type { Database } from "./schema.js";
import { execText, marks } from "./sqlText.js";

/** @internal Constructed by the Store (`store.attempts`) and by each transaction (`tx.attempts`). */
export class AttemptRows {
  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly ctx: StoreContext,
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

  /** Successful outputs of a task in a run, in map-index order (one row for an unmapped task); or of one map index. */
  outputs(runId: string, taskId: string, mapIndex?: number): Promise<StoredOutput[]> {
    return selectOutputs(this.db, runId, taskId, mapIndex);
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

/*
 * BY_ID_STATE: statements that find attempts by id and check their state take the state as a parameter,
 * not a literal. With a literal, PostgreSQL may serve them from the partial index attempts_live (its
 * predicate is that literal) and filter by id: a scan of every running attempt — and, until VACUUM, of
 * every attempt that ran since — instead of one primary-key lookup. A prepared statement's generic plan is
 * made once per connection from whatever the statistics were then, so this was a lottery per connection
 * (decision 0013). A parameter cannot prove the index's predicate, so only the key remains.
 */

/**
 * @internal The writes of attempts inside a transaction (`tx.attempts`): they take its run locks and
 * pipeline their statements (Tx.send).
 */
export class TxAttemptRows extends AttemptRows {
  constructor(
    db: Kysely<Database>,
    private readonly tx: Tx,
  ) {
    super(db, tx);
  }

  /**
   * End a live attempt: running, or a sensor's waiting between pokes (the engine ends those on cancel,
   * clear and sensor timeout). Returns null when the attempt is not live any more (it was fenced out:
   * cancelled, expired or superseded) — its result must then be dropped. An ended attempt is never
   * written again.
   */
  async end(end: AttemptEnd): Promise<EndedAttempt | null> {
    return (await this.endAttemptsIn([end], ["running", "up_for_reschedule"])).get(end.attemptId) ?? null;
  }

  /**
   * Record an attempt that never ran (its task instance failed before any worker took it: the queued
   * timeout), so that its error is read where every attempt's is. No worker, no lease.
   */
  async insertNeverRan(a: { runId: string; taskId: string; mapIndex: number; tryNumber: number; tryBase: number; at: number; errorCode: string; errorMessage: string }): Promise<void> {
    await this.tx.send(
      `insert into attempts (run_id, task_id, map_index, try_number, try_base, state, worker_id, hostname, pid, started_at, ended_at, heartbeat_at, lease_expires_at, error_code, error_message)
       values (?, ?, ?, ?, ?, 'failed', 'none', '', 0, ?, ?, ?, ?, ?, ?)`,
      [a.runId, a.taskId, a.mapIndex, a.tryNumber, a.tryBase, a.at, a.at, a.at, a.at, a.errorCode, a.errorMessage],
    );
  }

  /**
   * End running attempts, one statement for the group. Attempts that are not running any more (fenced
   * out: cancelled, expired, superseded) are missing from the result — their results must be dropped. An
   * ended attempt is never written again.
   */
  async endMany(ends: readonly AttemptEnd[]): Promise<Map<number, EndedAttempt>> {
    return this.endAttemptsIn(ends, ["running"]);
  }

  /**
   * Sensors' running attempts whose poke found the condition unmet: they wait for the next poke with no
   * worker and no lease (`claimReady` runs them again). Attempts not running any more (fenced out) are
   * missing from the result.
   */
  async reschedule(pokes: readonly { attemptId: number; at: number }[]): Promise<Map<number, WaitingAttempt>> {
    const out = new Map<number, WaitingAttempt>();
    for (let i = 0; i < pokes.length; i += 500) {
      const chunk = pokes.slice(i, i + 500);
      const r = await this.tx.send<{ attempt_id: number; run_id: string; task_id: string; map_index: number; try_number: number; try_base: number; started_at: number }>(
        `update attempts set state = 'up_for_reschedule', heartbeat_at = ?
          where state = ? and attempt_id in (${marks(chunk.length)})
          returning attempt_id, run_id, task_id, map_index, try_number, try_base, started_at`,
        [chunk[0]!.at, "running", ...chunk.map((p) => p.attemptId)], // BY_ID_STATE
      );
      for (const x of r.rows) {
        out.set(Number(x.attempt_id), { runId: x.run_id, taskId: x.task_id, mapIndex: x.map_index, tryNumber: x.try_number, tryBase: x.try_base, startedAt: x.started_at });
      }
    }
    return out;
  }

  /** Live attempts of a run — running, or a sensor's waiting between pokes — to end them on cancel or run timeout. */
  async running(runId: string): Promise<number[]> {
    const rows = await this.db
      .selectFrom("attempts")
      .select("attempt_id")
      .where("run_id", "=", runId)
      .where("state", "in", ["running", "up_for_reschedule"])
      .execute();
    return rows.map((r) => r.attempt_id);
  }

  /** `live`: the states an attempt may end from, as parameters (BY_ID_STATE). */
  private async endAttemptsIn(ends: readonly AttemptEnd[], live: readonly string[]): Promise<Map<number, EndedAttempt>> {
    type Ended = { attempt_id: number; run_id: string; task_id: string; map_index: number; try_number: number; try_base: number };
    // every chunk issued before the first answer is awaited (pipelined on PostgreSQL)
    const answers: Promise<QueryResult<Ended>>[] = [];
    for (let i = 0; i < ends.length; i += 200) {
      const chunk = ends.slice(i, i + 200);
      const row = this.tx.dialect === "postgres" ? END_VALUES_PG : END_VALUES_SQLITE;
      answers.push(this.tx.send<Ended>(
        `update attempts
            set state = v.column2, ended_at = v.column3, error_code = v.column4, error_message = v.column5,
                error_stack = v.column6, exit_code = v.column7, output_inline = v.column8, output_ref = v.column9,
                output_size = v.column10
           from (values ${chunk.map(() => row).join(", ")}) as v
          where attempts.attempt_id = v.column1 and attempts.state in (${marks(live.length)})
          returning attempts.attempt_id, attempts.run_id, attempts.task_id, attempts.map_index, attempts.try_number, attempts.try_base`,
        [...chunk.flatMap((e) => [
          e.attemptId,
          e.state,
          e.endedAt,
          e.errorCode ?? null,
          e.errorMessage ?? null,
          e.errorStack ?? null,
          e.exitCode ?? null,
          e.outputInline ?? null,
          e.outputRef ?? null,
          e.outputSize ?? null,
        ]), ...live],
      ));
    }
    const out = new Map<number, EndedAttempt>();
    for (const r of await Promise.all(answers)) {
      for (const x of r.rows) {
        out.set(Number(x.attempt_id), { runId: x.run_id, taskId: x.task_id, mapIndex: x.map_index, tryNumber: x.try_number, tryBase: x.try_base });
      }
    }
    return out;
  }
}

/** One row of `endAttempts`' VALUES list; PostgreSQL needs the types spelled out. */
const END_VALUES_SQLITE = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const END_VALUES_PG = "(?::bigint, ?::text, ?::bigint, ?::text, ?::text, ?::text, ?::integer, ?::bytea, ?::text, ?::bigint)";
