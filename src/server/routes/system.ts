/** Health (public, for probes) and status (what the store knows about workers, queues and runs). */
import { pingDb, systemStatus } from "../../store/api.js";
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
          await pingDb(env.sluice.store.db);
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
      summary: "Workers that are running, claimable task instances per queue, active runs per state (pools: none yet)",
      async handler({ env }) {
        const s = await systemStatus(env.sluice.store.db);
        return { schedulers: [], ...s, pools: [], database: env.sluice.store.dialect };
      },
    }),
  ];
}
