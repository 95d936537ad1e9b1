/** Assets, their producers, consumers and events, and the lineage graph. */
import { z } from "zod";
import { decodeCursor, page } from "../cursor.js";
import { notFound, pagination, query, route, type Route } from "../route.js";

export function assetRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/assets",
      access: "viewer",
      tag: "assets",
      summary: "Assets by name",
      query: query({ ...pagination }),
      async handler({ env, query: q }) {
        const after = decodeCursor<[string]>(q.cursor, ["string"]);
        const rows = await env.sluice.store.assets.page({ limit: q.limit + 1, after: after?.[0] ?? null });
        return page(rows, q.limit, (a) => a, (a) => [a.name]);
      },
    }),
    route({
      method: "get",
      path: "/assets/:name",
      access: "viewer",
      tag: "assets",
      summary: "An asset: producers (DAG, task), consumers (DAGs) and its latest events (at most 100, newest first)",
      async handler({ env, params }) {
        const db = env.sluice.store;
        const name = params["name"]!;
        const asset = await db.assets.get(name);
        const decl = (await db.assets.declarations([name])).get(name);
        if (!asset && !decl) throw notFound("asset", name);
        const events = await db.assets.listEvents(name, { limit: 100 });
        return {
          name,
          createdAt: asset?.createdAt ?? null,
          lastEventAt: asset?.lastEventAt ?? null,
          producers: decl?.producers ?? [],
          consumers: (decl?.consumers ?? []).map((c) => c.dagId),
          events: events.map((e) => ({ eventId: e.eventId, dagId: e.dagId, runId: e.runId, taskId: e.taskId, mapIndex: e.mapIndex, createdAt: e.createdAt, metadata: e.metadata })),
        };
      },
    }),
    route({
      method: "get",
      path: "/lineage",
      access: "viewer",
      tag: "assets",
      summary: "Lineage graph of DAGs and assets (asset: only the edges that touch it): nodes { id, kind: dag|asset, name }, edges { from, to, taskId? }",
      query: query({ asset: z.string().max(500).optional() }),
      async handler({ env, query: q }) {
        let edges = await env.sluice.store.assets.edges();
        if (q.asset !== undefined) edges = edges.filter((e) => e.asset === q.asset);
        const nodes = new Map<string, { id: string; kind: "dag" | "asset"; name: string }>();
        const out: { from: string; to: string; taskId?: string }[] = [];
        for (const e of edges) {
          const dag = `dag:${e.dagId}`;
          const asset = `asset:${e.asset}`;
          nodes.set(dag, { id: dag, kind: "dag", name: e.dagId });
          nodes.set(asset, { id: asset, kind: "asset", name: e.asset });
          out.push(e.role === "produces" ? { from: dag, to: asset, taskId: e.taskId } : { from: asset, to: dag });
        }
        return { nodes: [...nodes.values()], edges: out };
      },
    }),
  ];
}
