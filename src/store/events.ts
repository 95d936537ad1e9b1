/**
 * SQL for external events: which DAGs subscribe to an event name, the event log, and the runs an event
 * created. `store.events`, or `tx.events` inside a transaction.
 */
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export interface ExternalEventRecord {
  eventId: number;
  name: string;
  payload: unknown;
  idempotencyKey: string | null;
  source: string;
  receivedAt: number;
}


/** @internal */
export function toExternalEvent(r: Omit<Database["event_log"], "event_id"> & { event_id: number }): ExternalEventRecord {
  return {
    eventId: Number(r.event_id),
    name: r.name,
    payload: JSON.parse(r.payload) as unknown,
    idempotencyKey: r.idempotency_key,
    source: r.source,
    receivedAt: Number(r.received_at),
  };
}

/** @internal Constructed by the Store (`store.events`) and by each transaction (`tx.events`). */
export class EventRows {
  constructor(private readonly db: Kysely<Database>) {}

  async subscribers(name: string): Promise<string[]> {
    const rows = await this.db.selectFrom("event_subscriptions").select("dag_id").where("event", "=", name).orderBy("dag_id").execute();
    return rows.map((r) => r.dag_id);
  }

  /** Every event name some DAG subscribes to (for "unknown event" messages). */
  async subscribedNames(): Promise<string[]> {
    const rows = await this.db.selectFrom("event_subscriptions").select("event").distinct().orderBy("event").execute();
    return rows.map((r) => r.event);
  }

  async findByKey(name: string, idempotencyKey: string): Promise<ExternalEventRecord | null> {
    const r = await this.db.selectFrom("event_log").selectAll().where("name", "=", name).where("idempotency_key", "=", idempotencyKey).executeTakeFirst();
    return r ? toExternalEvent(r) : null;
  }

  /** Record a received event and the DAGs it is for (their runs still to be created: run_id null). */
  async insert(e: { name: string; payload: unknown; idempotencyKey: string | null; source: string; receivedAt: number }, dagIds: readonly string[]): Promise<number> {
    const r = await this.db
      .insertInto("event_log")
      .values({ name: e.name, payload: JSON.stringify(e.payload ?? null), idempotency_key: e.idempotencyKey, source: e.source, received_at: e.receivedAt })
      .returning("event_id")
      .executeTakeFirstOrThrow();
    const eventId = Number(r.event_id);
    if (dagIds.length) await this.db.insertInto("event_runs").values(dagIds.map((dagId) => ({ event_id: eventId, dag_id: dagId, run_id: null }))).execute();
    return eventId;
  }

  /** The run an event created for a DAG (in the run's transaction). */
  async setRun(eventId: number, dagId: string, runId: string): Promise<void> {
    await this.db.updateTable("event_runs").set({ run_id: runId }).where("event_id", "=", eventId).where("dag_id", "=", dagId).execute();
  }

  /** The DAGs an event is for, with their runs (null: not created yet). */
  async runsOf(eventId: number): Promise<{ dagId: string; runId: string | null }[]> {
    const rows = await this.db.selectFrom("event_runs").select(["dag_id", "run_id"]).where("event_id", "=", eventId).orderBy("dag_id").execute();
    return rows.map((r) => ({ dagId: r.dag_id, runId: r.run_id }));
  }

  /** Received events, newest first, with the runs each created. */
  async list(opts: { name?: string; limit: number }): Promise<(ExternalEventRecord & { runs: { dagId: string; runId: string | null }[] })[]> {
    let q = this.db.selectFrom("event_log").selectAll();
    if (opts.name) q = q.where("name", "=", opts.name);
    const rows = (await q.orderBy("event_id", "desc").limit(opts.limit).execute()).map(toExternalEvent);
    if (rows.length === 0) return [];
    const runs = await this.db
      .selectFrom("event_runs")
      .selectAll()
      .where(
        "event_id",
        "in",
        rows.map((r) => r.eventId),
      )
      .orderBy("dag_id")
      .execute();
    return rows.map((r) => ({ ...r, runs: runs.filter((x) => Number(x.event_id) === r.eventId).map((x) => ({ dagId: x.dag_id, runId: x.run_id })) }));
  }
}
