/**
 * SQL for assets: declarations, asset events, what asset-scheduled DAGs consumed (external events are
 * events.ts). `store.assets`, or `tx.assets` inside a transaction.
 */
import { sql, type Kysely } from "kysely";
import type { ConsumedRange } from "../core/assets.js";
import { toExternalEvent, type ExternalEventRecord } from "./events.js";
import type { Database } from "./schema.js";

export interface NewAssetEvent {
  asset: string;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  attemptId: number;
  createdAt: number;
  metadata: Record<string, unknown>;
}

export interface AssetEventRecord extends NewAssetEvent {
  eventId: number;
}

/** What one DAG declares about assets and events, as registered for scheduling and lineage. */
export interface DagTriggers {
  dagId: string;
  produces: { asset: string; taskId: string }[];
  /** The assets of its asset schedule. */
  consumes: string[];
  events: string[];
}

export interface AssetRecord {
  name: string;
  createdAt: number;
  lastEventId: number | null;
  lastEventAt: number | null;
}

type AssetEventRow = Omit<Database["asset_events"], "event_id"> & { event_id: number };

function toAssetEvent(r: AssetEventRow): AssetEventRecord {
  return {
    eventId: Number(r.event_id),
    asset: r.asset,
    dagId: r.dag_id,
    runId: r.run_id,
    taskId: r.task_id,
    mapIndex: r.map_index,
    tryNumber: r.try_number,
    attemptId: Number(r.attempt_id),
    createdAt: Number(r.created_at),
    metadata: JSON.parse(r.metadata) as Record<string, unknown>,
  };
}

/** @internal Constructed by the Store (`store.assets`) and by each transaction (`tx.assets`). */
export class AssetRows {
  constructor(private readonly db: Kysely<Database>) {}

  /** `names`: only these assets (per-DAG access: those of DAGs the reader may see). */
  async page(o: { limit: number; after: string | null; names?: readonly string[] }): Promise<{ name: string; createdAt: number; lastEventAt: number | null }[]> {
    if (o.names?.length === 0) return [];
    let q = this.db.selectFrom("assets").select(["name", "created_at", "last_event_at"]);
    if (o.names !== undefined) q = q.where("name", "in", o.names);
    if (o.after !== null) q = q.where("name", ">", o.after);
    const rows = await q.orderBy("name").limit(o.limit).execute();
    return rows.map((r) => ({ name: r.name, createdAt: Number(r.created_at), lastEventAt: r.last_event_at === null ? null : Number(r.last_event_at) }));
  }

  /** Every declared asset edge (DAG produces/consumes asset), for the lineage graph. */
  async edges(): Promise<{ asset: string; role: "produces" | "consumes"; dagId: string; taskId: string }[]> {
    const rows = await this.db.selectFrom("dag_assets").selectAll().orderBy("asset").orderBy("dag_id").execute();
    return rows.map((r) => ({ asset: r.asset, role: r.role, dagId: r.dag_id, taskId: r.task_id }));
  }

  // ---- registration ------------------------------------------------------------------------------------

  /**
   * Record what a DAG produces, consumes and subscribes to (replacing its previous registration). A newly
   * consumed asset starts at its latest event: a DAG runs on updates after it was registered, not on history.
   */
  async registerDagTriggers(t: DagTriggers, now: number): Promise<void> {
    await this.db.deleteFrom("dag_assets").where("dag_id", "=", t.dagId).execute();
    await this.db.deleteFrom("event_subscriptions").where("dag_id", "=", t.dagId).execute();
    const rows = [
      ...t.produces.map((p) => ({ asset: p.asset, role: "produces" as const, dag_id: t.dagId, task_id: p.taskId })),
      ...t.consumes.map((asset) => ({ asset, role: "consumes" as const, dag_id: t.dagId, task_id: "" })),
    ];
    if (rows.length) {
      await this.db.insertInto("dag_assets").values(rows).onConflict((oc) => oc.doNothing()).execute();
      const names = [...new Set(rows.map((r) => r.asset))];
      await this.db
        .insertInto("assets")
        .values(names.map((name) => ({ name, created_at: now, last_event_id: null, last_event_at: null })))
        .onConflict((oc) => oc.column("name").doNothing())
        .execute();
    }
    // what it no longer consumes: forget its progress (consuming it again later starts afresh)
    let stale = this.db.deleteFrom("asset_consumption").where("dag_id", "=", t.dagId);
    let staleQueue = this.db.deleteFrom("asset_dag_queue").where("dag_id", "=", t.dagId);
    if (t.consumes.length) {
      stale = stale.where("asset", "not in", t.consumes);
      staleQueue = staleQueue.where("asset", "not in", t.consumes);
    }
    await stale.execute();
    await staleQueue.execute();
    for (const asset of t.consumes) {
      await sql`insert into asset_consumption (dag_id, asset, last_event_id)
                values (${t.dagId}, ${asset}, coalesce((select last_event_id from assets where name = ${asset}), 0))
                on conflict (dag_id, asset) do nothing`.execute(this.db);
    }
    if (t.events.length) {
      await this.db
        .insertInto("event_subscriptions")
        .values(t.events.map((event) => ({ event, dag_id: t.dagId })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
  }

  /** DAGs that are gone: no more asset-triggered or event-triggered runs. Their recorded events stay. */
  async unregisterDagTriggers(dagIds: readonly string[]): Promise<void> {
    if (dagIds.length === 0) return;
    await this.db.deleteFrom("dag_assets").where("dag_id", "in", dagIds).execute();
    await this.db.deleteFrom("event_subscriptions").where("dag_id", "in", dagIds).execute();
    await this.db.deleteFrom("asset_consumption").where("dag_id", "in", dagIds).execute();
    await this.db.deleteFrom("asset_dag_queue").where("dag_id", "in", dagIds).execute();
  }

  // ---- asset events ------------------------------------------------------------------------------------

  /**
   * Record asset events (in the producing attempt's transaction) and queue every DAG scheduled on those
   * assets for evaluation. O(events × consumers); no scan.
   */
  async recordEvents(events: readonly NewAssetEvent[]): Promise<AssetEventRecord[]> {
    const out: AssetEventRecord[] = [];
    for (const e of events) {
      const row = await this.db
        .insertInto("asset_events")
        .values({
          asset: e.asset,
          dag_id: e.dagId,
          run_id: e.runId,
          task_id: e.taskId,
          map_index: e.mapIndex,
          try_number: e.tryNumber,
          attempt_id: e.attemptId,
          created_at: e.createdAt,
          metadata: JSON.stringify(e.metadata),
        })
        .returning("event_id")
        .executeTakeFirstOrThrow();
      const eventId = Number(row.event_id);
      await this.db
        .insertInto("assets")
        .values({ name: e.asset, created_at: e.createdAt, last_event_id: eventId, last_event_at: e.createdAt })
        .onConflict((oc) => oc.column("name").doUpdateSet({ last_event_id: eventId, last_event_at: e.createdAt }))
        .execute();
      // SQLite: INSERT … SELECT … ON CONFLICT needs the SELECT's WHERE (it has one) to parse unambiguously
      await sql`insert into asset_dag_queue (dag_id, asset, created_at)
                select dag_id, asset, ${e.createdAt} from dag_assets where asset = ${e.asset} and role = 'consumes'
                on conflict (dag_id, asset) do nothing`.execute(this.db);
      out.push({ ...e, eventId });
    }
    return out;
  }

  /** DAGs with assets updated since they last consumed them (served by the queue's primary key). */
  async queuedAssetDags(limit: number, after: string | null = null): Promise<string[]> {
    let q = this.db.selectFrom("asset_dag_queue").select("dag_id").distinct();
    if (after !== null) q = q.where("dag_id", ">", after);
    const rows = await q.orderBy("dag_id").limit(limit).execute();
    return rows.map((r) => r.dag_id);
  }

  async queuedAssetsOf(dagId: string): Promise<string[]> {
    const rows = await this.db.selectFrom("asset_dag_queue").select("asset").where("dag_id", "=", dagId).execute();
    return rows.map((r) => r.asset);
  }

  async dropQueuedAssets(dagId: string, assets?: readonly string[]): Promise<void> {
    let q = this.db.deleteFrom("asset_dag_queue").where("dag_id", "=", dagId);
    if (assets) {
      if (assets.length === 0) return;
      q = q.where("asset", "in", assets);
    }
    await q.execute();
  }

  /** Per asset: the last event the DAG consumed (0: none yet). */
  async consumedThrough(dagId: string, assets: readonly string[]): Promise<Map<string, number>> {
    if (assets.length === 0) return new Map();
    const rows = await this.db.selectFrom("asset_consumption").select(["asset", "last_event_id"]).where("dag_id", "=", dagId).where("asset", "in", assets).execute();
    return new Map(rows.map((r) => [r.asset, Number(r.last_event_id)]));
  }

  /** Per asset: its latest event id (assets never updated are missing). */
  async latestEventIds(assets: readonly string[]): Promise<Map<string, number>> {
    if (assets.length === 0) return new Map();
    const rows = await this.db.selectFrom("assets").select(["name", "last_event_id"]).where("name", "in", assets).where("last_event_id", "is not", null).execute();
    return new Map(rows.map((r) => [r.name, Number(r.last_event_id)]));
  }

  /**
   * A run consumed these events (ids in (afterId, throughId] per asset): link them to the run, advance the
   * DAG's progress and take the assets off its queue — in the run's transaction.
   */
  async consumeEvents(dagId: string, runId: string, ranges: readonly ConsumedRange[]): Promise<void> {
    for (const r of ranges) {
      await sql`insert into run_asset_events (run_id, event_id)
                select ${runId}, event_id from asset_events where asset = ${r.asset} and event_id > ${r.afterId} and event_id <= ${r.throughId}
                on conflict (run_id, event_id) do nothing`.execute(this.db);
      await this.db
        .insertInto("asset_consumption")
        .values({ dag_id: dagId, asset: r.asset, last_event_id: r.throughId })
        .onConflict((oc) => oc.columns(["dag_id", "asset"]).doUpdateSet({ last_event_id: r.throughId }))
        .execute();
    }
    await this.dropQueuedAssets(dagId, ranges.map((r) => r.asset));
  }

  /** What triggered a run: the external event and the asset events it consumed (oldest first). */
  async runTriggers(runId: string): Promise<{ event: ExternalEventRecord | null; assetEvents: AssetEventRecord[] }> {
    const ev = await this.db
      .selectFrom("event_runs as er")
      .innerJoin("event_log as el", "el.event_id", "er.event_id")
      .selectAll("el")
      .where("er.run_id", "=", runId)
      .executeTakeFirst();
    const assetEvents = await this.db
      .selectFrom("run_asset_events as r")
      .innerJoin("asset_events as ae", "ae.event_id", "r.event_id")
      .selectAll("ae")
      .where("r.run_id", "=", runId)
      .orderBy("ae.event_id")
      .execute();
    return { event: ev ? toExternalEvent(ev) : null, assetEvents: assetEvents.map(toAssetEvent) };
  }

  // ---- asset reads (CLI, API) --------------------------------------------------------------------------
  async list(): Promise<AssetRecord[]> {
    const rows = await this.db.selectFrom("assets").selectAll().orderBy("name").execute();
    return rows.map((r) => ({
      name: r.name,
      createdAt: Number(r.created_at),
      lastEventId: r.last_event_id === null ? null : Number(r.last_event_id),
      lastEventAt: r.last_event_at === null ? null : Number(r.last_event_at),
    }));
  }

  async get(name: string): Promise<AssetRecord | null> {
    const r = await this.db.selectFrom("assets").selectAll().where("name", "=", name).executeTakeFirst();
    return r
      ? { name: r.name, createdAt: Number(r.created_at), lastEventId: r.last_event_id === null ? null : Number(r.last_event_id), lastEventAt: r.last_event_at === null ? null : Number(r.last_event_at) }
      : null;
  }

  async getEvents(eventIds: readonly number[]): Promise<AssetEventRecord[]> {
    if (eventIds.length === 0) return [];
    const rows = await this.db.selectFrom("asset_events").selectAll().where("event_id", "in", eventIds).orderBy("event_id").execute();
    return rows.map(toAssetEvent);
  }

  /** An asset's events, newest first. */
  async listEvents(asset: string, opts: { limit: number }): Promise<AssetEventRecord[]> {
    const rows = await this.db.selectFrom("asset_events").selectAll().where("asset", "=", asset).orderBy("event_id", "desc").limit(opts.limit).execute();
    return rows.map(toAssetEvent);
  }

  /** Runs that consumed these asset events: event id -> runs. */
  async consumersOfEvents(eventIds: readonly number[]): Promise<Map<number, { runId: string; dagId: string }[]>> {
    const out = new Map<number, { runId: string; dagId: string }[]>();
    if (eventIds.length === 0) return out;
    const rows = await this.db
      .selectFrom("run_asset_events as r")
      .innerJoin("runs", "runs.run_id", "r.run_id")
      .select(["r.event_id", "r.run_id", "runs.dag_id"])
      .where("r.event_id", "in", eventIds)
      .orderBy("r.run_id")
      .execute();
    for (const r of rows) {
      const id = Number(r.event_id);
      if (!out.has(id)) out.set(id, []);
      out.get(id)!.push({ runId: r.run_id, dagId: r.dag_id });
    }
    return out;
  }

  /** Declared producers (DAG, task) and consumers (DAG) of assets, by asset. */
  async declarations(assets?: readonly string[]): Promise<Map<string, { producers: { dagId: string; taskId: string }[]; consumers: { dagId: string }[] }>> {
    let q = this.db.selectFrom("dag_assets").selectAll();
    if (assets) {
      if (assets.length === 0) return new Map();
      q = q.where("asset", "in", assets);
    }
    const rows = await q.orderBy("asset").orderBy("dag_id").orderBy("task_id").execute();
    const out = new Map<string, { producers: { dagId: string; taskId: string }[]; consumers: { dagId: string }[] }>();
    for (const r of rows) {
      if (!out.has(r.asset)) out.set(r.asset, { producers: [], consumers: [] });
      const e = out.get(r.asset)!;
      if (r.role === "produces") e.producers.push({ dagId: r.dag_id, taskId: r.task_id });
      else e.consumers.push({ dagId: r.dag_id });
    }
    return out;
  }

  /** The DAG's consumption progress per asset (for `assets show`). */
  async consumptionOf(asset: string): Promise<{ dagId: string; lastEventId: number }[]> {
    const rows = await this.db.selectFrom("asset_consumption").select(["dag_id", "last_event_id"]).where("asset", "=", asset).orderBy("dag_id").execute();
    return rows.map((r) => ({ dagId: r.dag_id, lastEventId: Number(r.last_event_id) }));
  }
}
