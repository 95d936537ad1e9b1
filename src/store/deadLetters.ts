/**
 * SQL for the dead-letter queue (migration 0020): entries inserted in the transaction of a task
 * instance's final failure (engine/transitions.ts), listed and paged for the API and the CLI, resolved
 * (retried, discarded) by people, counted per DAG for the "DLQ size" metric. What an entry means is
 * core/deadLetters.ts; how a retry resumes the run is engine/operations.ts.
 */
import { sql, type Kysely, type Selectable } from "kysely";
import type { DeadLetterReason, DeadLetterState } from "../core/deadLetters.js";
import type { Database, DeadLettersTable } from "./schema.js";

export interface DeadLetterRecord {
  id: number;
  runId: string;
  taskId: string;
  /** -1 for a task that is not mapped. */
  mapIndex: number;
  dagId: string;
  /** The last attempt: its error and its log. */
  attemptId: number | null;
  tryNumber: number;
  /** Tries used since the instance was last cleared. */
  attempts: number;
  reason: DeadLetterReason;
  errorCode: string | null;
  errorMessage: string | null;
  /** Where the instance's inputs come from: input name -> upstream task id (its outputs in this run), and the map index. */
  inputs: { inputs: Record<string, string>; mapIndex: number };
  /** The DAG parks dead letters: the run did not fail for this one. */
  parked: boolean;
  state: DeadLetterState;
  createdAt: number;
  resolvedAt: number | null;
  resolvedBy: string | null;
}

/** An entry to write: the record's facts of the failure; its inputs as the task spec names them. */
export type NewDeadLetter = Pick<
  DeadLetterRecord,
  "runId" | "taskId" | "mapIndex" | "dagId" | "attemptId" | "tryNumber" | "attempts" | "reason" | "errorCode" | "errorMessage" | "parked"
> & { inputs: Record<string, string>; now: number };

type Row = Selectable<DeadLettersTable>;

const toDeadLetter = (r: Row): DeadLetterRecord => ({
  id: Number(r.dead_letter_id),
  runId: r.run_id,
  taskId: r.task_id,
  mapIndex: Number(r.map_index),
  dagId: r.dag_id,
  attemptId: r.attempt_id === null ? null : Number(r.attempt_id),
  tryNumber: Number(r.try_number),
  attempts: Number(r.attempts),
  reason: r.reason as DeadLetterReason,
  errorCode: r.error_code,
  errorMessage: r.error_message,
  inputs: parseInputs(r.inputs),
  parked: Number(r.parked) === 1,
  state: r.state as DeadLetterState,
  createdAt: Number(r.created_at),
  resolvedAt: r.resolved_at === null ? null : Number(r.resolved_at),
  resolvedBy: r.resolved_by,
});

function parseInputs(text: string): DeadLetterRecord["inputs"] {
  try {
    const v = JSON.parse(text) as DeadLetterRecord["inputs"];
    return { inputs: v.inputs ?? {}, mapIndex: Number(v.mapIndex ?? -1) };
  } catch {
    return { inputs: {}, mapIndex: -1 }; // a damaged row still lists; its inputs are the task's in the DAG
  }
}

/** @internal Constructed by the Store (`store.deadLetters`) and by each transaction (`tx.deadLetters`). */
export class DeadLetterRows {
  constructor(private readonly db: Kysely<Database>) {}

  /** One entry per final failure, in its transaction (the caller's). */
  async insert(e: NewDeadLetter): Promise<void> {
    await this.db
      .insertInto("dead_letters")
      .values({
        run_id: e.runId,
        task_id: e.taskId,
        map_index: e.mapIndex,
        dag_id: e.dagId,
        attempt_id: e.attemptId,
        try_number: e.tryNumber,
        attempts: e.attempts,
        reason: e.reason,
        error_code: e.errorCode,
        error_message: e.errorMessage,
        inputs: JSON.stringify({ inputs: e.inputs, mapIndex: e.mapIndex }),
        parked: e.parked ? 1 : 0,
        state: "open",
        created_at: e.now,
        resolved_at: null,
        resolved_by: null,
      })
      .execute();
  }

  async get(id: number): Promise<DeadLetterRecord | null> {
    const r = await this.db.selectFrom("dead_letters").selectAll().where("dead_letter_id", "=", id).executeTakeFirst();
    return r ? toDeadLetter(r) : null;
  }

  /** Newest first, keyset-paged by id (`after`: the last id of the previous page); `dagIds`: only these DAGs (the readable ones). */
  async page(o: { dagId?: string; dagIds?: readonly string[]; state?: DeadLetterState; runId?: string; limit: number; after: number | null }): Promise<DeadLetterRecord[]> {
    if (o.dagIds?.length === 0) return [];
    let q = this.db.selectFrom("dead_letters").selectAll();
    if (o.dagId !== undefined) q = q.where("dag_id", "=", o.dagId);
    if (o.dagIds !== undefined) q = q.where("dag_id", "in", o.dagIds);
    if (o.state !== undefined) q = q.where("state", "=", o.state);
    if (o.runId !== undefined) q = q.where("run_id", "=", o.runId);
    if (o.after !== null) q = q.where("dead_letter_id", "<", o.after);
    return (await q.orderBy("dead_letter_id", "desc").limit(o.limit).execute()).map(toDeadLetter);
  }

  /** Open entries per DAG (the "DLQ size" metric), from the partial index of open rows. */
  async countOpen(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom("dead_letters")
      .select(["dag_id", (eb) => eb.fn.countAll<number | string>().as("n")])
      .where("state", "=", "open")
      .groupBy("dag_id")
      .execute();
    return new Map(rows.map((r) => [r.dag_id, Number(r.n)]));
  }

  /**
   * Resolve an open entry (retried, discarded) by a person; false when it is not open (resolved already,
   * or gone). The state condition makes two people's clicks resolve it once.
   */
  async resolve(id: number, state: Exclude<DeadLetterState, "open">, by: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable("dead_letters")
      .set({ state, resolved_at: now, resolved_by: by })
      .where("dead_letter_id", "=", id)
      .where("state", "=", "open")
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /**
   * The open entries of instances a clear gives a fresh set of retries (engine/transitions.ts
   * `clearTasks`) become `retried`: the instance runs again, so the entry no longer waits for anyone.
   */
  async retryCleared(runId: string, instances: readonly { taskId: string; mapIndex: number }[], by: string | null, now: number): Promise<number> {
    if (instances.length === 0) return 0;
    const r = await this.db
      .updateTable("dead_letters")
      .set({ state: "retried", resolved_at: now, resolved_by: by })
      .where("run_id", "=", runId)
      .where("state", "=", "open")
      .where((eb) => eb.or(instances.map((i) => eb.and([eb("task_id", "=", i.taskId), eb("map_index", "=", i.mapIndex)]))))
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * A run's failed instances that are not parked (no open entry of a parking DAG): what decides whether a
   * run of a `deadLetter: "park"` DAG failed. Read once, when such a run finishes with a failure in it.
   */
  async unparkedFailures(runId: string): Promise<number> {
    const r = await sql<{ n: number | string }>`
      select count(*) as n from task_instances ti
      where ti.run_id = ${runId} and ti.state = 'failed'
        and not exists (
          select 1 from dead_letters d
          where d.run_id = ti.run_id and d.task_id = ti.task_id and d.map_index = ti.map_index and d.state = 'open' and d.parked = 1
        )`.execute(this.db);
    return Number(r.rows[0]?.n ?? 0);
  }

  /** Open parked entries of a run: the "N parked" flag of a run that succeeded with failures parked. */
  async parkedOfRun(runId: string): Promise<number> {
    const r = await this.db
      .selectFrom("dead_letters")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("run_id", "=", runId)
      .where("state", "=", "open")
      .where("parked", "=", 1)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Retention: the entries of deleted runs go with them (in the deleting transaction). */
  async deleteOfRuns(runIds: readonly string[]): Promise<number> {
    if (runIds.length === 0) return 0;
    const r = await this.db.deleteFrom("dead_letters").where("run_id", "in", runIds).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
