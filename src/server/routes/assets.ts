/**
 * Assets, their producers, consumers and events, and the lineage graph. Per-DAG (app/access.ts): a caller
 * limited to some DAGs sees the assets those DAGs produce or consume, only those DAGs among producers and
 * consumers, only their events, and only their part of the lineage graph.
 */
import { z } from "zod";
import { dagIdsWith } from "../../app/access.js";
import type { Actor } from "../../app/actor.js";
import type { ApiEnv } from "../route.js";
import { decodeCursor, page } from "../cursor.js";
import { notFound, pagination, query, route, type Route } from "../route.js";
import { assetDetailSchema, assetSchema, lineageSchema, list } from "../schemas.js";

/** The DAGs the actor may read (null: all) and the assets they declare. */
async function visible(env: ApiEnv, actor: Actor): Promise<{ dags: Set<string>; assets: Set<string> } | null> {
  const ids = await dagIdsWith(actor);
  if (ids === null) return null;
  const dags = new Set(ids);
  const assets = new Set((await env.sluice.store.assets.edges()).filter((e) => dags.has(e.dagId)).map((e) => e.asset));
  return { dags, assets };
}

interface LineageNode {
  id: string;
  kind: "dag" | "asset";
  name: string;
  /** Assets: the latest update (event) the caller may see, and the run that made it. */
  lastEvent?: { at: number; dagId: string | null; runId: string | null; taskId: string | null; runState: string | null } | null;
  /** DAGs: their latest run. */
  lastRun?: { runId: string; state: string; logicalDate: number } | null;
}

/**
 * What the lineage graph shows on its nodes: an asset's last update and the state of the run that made
 * it, a DAG's latest run. A few queries for the whole graph (lineage graphs are tens to hundreds of nodes).
 * An update made by a DAG the caller may not read is left out, as it is on the asset's page.
 */
async function describeLineage(env: ApiEnv, nodes: LineageNode[], readable: Set<string> | null): Promise<void> {
  const db = env.sluice.store;
  const assets = nodes.filter((n) => n.kind === "asset");
  const dags = nodes.filter((n) => n.kind === "dag");
  const latest = await db.assets.latestEventIds(assets.map((a) => a.name));
  const events = new Map((await db.assets.getEvents([...latest.values()])).map((e) => [e.asset, e]));
  const runIds = [...new Set([...events.values()].flatMap((e) => (e.runId ? [e.runId] : [])))];
  const runs = new Map((await Promise.all(runIds.map((id) => db.runs.get(id)))).flatMap((r) => (r ? [[r.runId, r] as const] : [])));
  for (const a of assets) {
    const e = events.get(a.name);
    const shown = e && (readable === null || (e.dagId !== null && readable.has(e.dagId)));
    a.lastEvent = shown ? { at: e.createdAt, dagId: e.dagId, runId: e.runId, taskId: e.taskId, runState: (e.runId && runs.get(e.runId)?.state) || null } : null;
  }
  const lastRuns = await db.runs.latestOf(dags.map((d) => d.name), 1);
  for (const d of dags) d.lastRun = lastRuns.get(d.name)?.[0] ?? null;
}

export function assetRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/assets",
      response: list(assetSchema),
      access: "viewer",
      scope: "dag",
      tag: "assets",
      summary: "Assets by name",
      query: query({ ...pagination }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[string]>(q.cursor, ["string"]);
        const v = await visible(env, actor!);
        const rows = await env.sluice.store.assets.page({ limit: q.limit + 1, after: after?.[0] ?? null, ...(v ? { names: [...v.assets] } : {}) });
        return page(rows, q.limit, (a) => a, (a) => [a.name]);
      },
    }),
    route({
      method: "get",
      path: "/assets/:name",
      response: assetDetailSchema,
      access: "viewer",
      scope: "dag",
      tag: "assets",
      summary: "An asset: producers (DAG, task), consumers (DAGs) and its latest events (at most 100, newest first)",
      async handler({ env, actor, params }) {
        const db = env.sluice.store;
        const name = params["name"]!;
        const v = await visible(env, actor!);
        if (v && !v.assets.has(name)) throw notFound("asset", name);
        const asset = await db.assets.get(name);
        const decl = (await db.assets.declarations([name])).get(name);
        if (!asset && !decl) throw notFound("asset", name);
        const shown = (dagId: string | null) => !v || (dagId !== null && v.dags.has(dagId));
        const events = (await db.assets.listEvents(name, { limit: 100 })).filter((e) => shown(e.dagId));
        return {
          name,
          createdAt: asset?.createdAt ?? null,
          lastEventAt: v ? (events[0]?.createdAt ?? null) : (asset?.lastEventAt ?? null),
          producers: (decl?.producers ?? []).filter((p) => shown(p.dagId)),
          consumers: (decl?.consumers ?? []).map((c) => c.dagId).filter(shown),
          events: events.map((e) => ({ eventId: e.eventId, dagId: e.dagId, runId: e.runId, taskId: e.taskId, mapIndex: e.mapIndex, createdAt: e.createdAt, metadata: e.metadata })),
        };
      },
    }),
    route({
      method: "get",
      path: "/lineage",
      response: lineageSchema,
      access: "viewer",
      scope: "dag",
      tag: "assets",
      summary: "Lineage graph of DAGs and assets (asset: only the edges that touch it): nodes { id, kind: dag|asset, name, lastEvent (assets), lastRun (DAGs) }, edges { from, to, taskId? }",
      query: query({ asset: z.string().max(500).optional() }),
      async handler({ env, actor, query: q }) {
        let edges = await env.sluice.store.assets.edges();
        if (q.asset !== undefined) edges = edges.filter((e) => e.asset === q.asset);
        const readable = await dagIdsWith(actor!);
        if (readable !== null) {
          const dags = new Set(readable);
          edges = edges.filter((e) => dags.has(e.dagId));
        }
        const nodes = new Map<string, LineageNode>();
        const out: { from: string; to: string; taskId?: string }[] = [];
        for (const e of edges) {
          const dag = `dag:${e.dagId}`;
          const asset = `asset:${e.asset}`;
          nodes.set(dag, { id: dag, kind: "dag", name: e.dagId });
          nodes.set(asset, { id: asset, kind: "asset", name: e.asset });
          out.push(e.role === "produces" ? { from: dag, to: asset, taskId: e.taskId } : { from: asset, to: dag });
        }
        await describeLineage(env, [...nodes.values()], readable === null ? null : new Set(readable));
        return { nodes: [...nodes.values()], edges: out };
      },
    }),
  ];
}
