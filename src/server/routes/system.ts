/** Health (public, for probes) and status (what the store knows about workers, queues and runs). */
import { processDisks } from "../../logs/diskSpace.js";
import { dagIdsWith } from "../../app/access.js";
import { route, type Route } from "../route.js";
import { healthSchema, statusSchema } from "../schemas.js";

export function systemRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/health",
      response: healthSchema,
      access: "public",
      tag: "system",
      summary: "Liveness for probes: { status, db, disk } — 503 when the database is unreachable; a full disk (the home: logs, artifacts, SQLite; the SQLite database's, or this process's writes waiting for space) is status degraded, disk full, still 200 (restarting would not free space; writes resume by themselves once it is freed)",
      async handler({ c, env }) {
        const disk = (await processDisks(env.sluice.config.home, env.sluice.store)).state;
        try {
          await env.sluice.store.ping();
          return { status: disk === "full" ? "degraded" : "ok", db: "ok", disk };
        } catch {
          return c.json({ status: "degraded", db: "unavailable", disk }, 503);
        }
      },
    }),
    route({
      method: "get",
      path: "/status",
      response: statusSchema,
      access: "viewer",
      scope: "dag",
      tag: "system",
      summary:
        "Schedulers and workers (host, pid, queues, capacity, running tasks, last heartbeat), queue depths, pools in use, active runs per state. A caller with grants only (no global viewer role): the active runs of its DAGs, and no deployment (empty lists)",
      async handler({ env, actor }) {
        const store = env.sluice.store;
        const readable = await dagIdsWith(actor!);
        if (readable !== null) {
          // queue depths and running counts are over every DAG: they are the deployment's, not the caller's DAGs'
          return { at: store.now(), schedulers: [], workers: [], queues: [], pools: [], runs: await store.runs.activeCounts(readable ?? []), database: store.dialect };
        }
        const status = await store.status.deployment(store.now(), { staleAfterMs: 3 * env.sluice.config.leaseMs });
        return { ...status, runs: await store.runs.activeCounts(), database: store.dialect };
      },
    }),
  ];
}
