/** Health (public, for probes) and status (what the store knows about workers, queues and runs). */
import { route, type Route } from "../route.js";

export function systemRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/health",
      access: "public",
      tag: "system",
      summary: "Liveness for probes: { status, db }",
      async handler({ c, env }) {
        try {
          await env.sluice.store.ping();
          return { status: "ok", db: "ok" };
        } catch {
          return c.json({ status: "degraded", db: "unavailable" }, 503);
        }
      },
    }),
    route({
      method: "get",
      path: "/status",
      access: "viewer",
      tag: "system",
      summary: "Schedulers and workers (host, pid, queues, capacity, running tasks, last heartbeat), queue depths, pools in use, active runs per state",
      async handler({ env }) {
        const store = env.sluice.store;
        const status = await store.status.deployment(store.now(), { staleAfterMs: 3 * env.sluice.config.leaseMs });
        return { ...status, runs: await store.runs.activeCounts(), database: store.dialect };
      },
    }),
  ];
}
