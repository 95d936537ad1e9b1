/**
 * `GET /metrics` in the Prometheus text format (metrics/registry.ts has the metrics; docs/metrics.md lists
 * them): on the API's port (`sluice dev`, `sluice server`, a `sluice scheduler` that serves the API) and,
 * for processes without one, on `--metrics-port` (`sluice worker`, `sluice scheduler`), where it is the
 * only route. Outside /api/v1, so it has its own check: an API token (or a session) of a user with the
 * viewer role — the text names every DAG — unless SLUICE_METRICS_PUBLIC=1.
 */
import { Hono, type Context } from "hono";
import { Auth } from "../auth/auth.js";
import { roleAtLeast } from "../auth/roles.js";
import { SluiceError } from "../errors.js";
import { collectRuntimeMetrics, CONTENT_TYPE, exposition } from "../metrics/registry.js";
import type { Sluice } from "../sluice.js";
import { readGauges } from "../store/gauges.js";
import { startServer, type RunningServer } from "./server.js";
import { identify } from "./session.js";

export interface MetricsOptions {
  /**
   * Also the deployment's gauges, read from the store per scrape (ready and running work, active runs,
   * processes). Every process but `sluice worker`: N workers would read the same numbers N times.
   */
  deployment: boolean;
}

/** Why the caller may not read the metrics, or null when it may. */
async function refusal(c: Context, s: Sluice, auth: Auth): Promise<SluiceError | null> {
  if (s.config.metricsPublic) return null;
  const { principal, presented } = await identify(c, auth);
  if (!principal) {
    const why = presented === "token" ? "the API token is wrong or revoked" : presented === "cookie" ? "the session has ended" : "send Authorization: Bearer <API token>";
    return new SluiceError("UNAUTHORIZED", `not authenticated: ${why} (or set SLUICE_METRICS_PUBLIC=1 to serve /metrics without credentials)`);
  }
  if (principal.token?.scope) return new SluiceError("FORBIDDEN", `this API token may only send events (scope ${principal.token.scope})`);
  if (!roleAtLeast(principal.role, "viewer")) return new SluiceError("FORBIDDEN", `reading /metrics needs the viewer role; ${principal.username} is ${principal.role}`);
  return null;
}

/** Mount `GET /metrics` on `app` (before the UI's fallback, which would answer it with the UI's page). */
export function mountMetrics(app: Hono, s: Sluice, auth: Auth, opts: MetricsOptions): void {
  collectRuntimeMetrics();
  app.get("/metrics", async (c) => {
    const no = await refusal(c, s, auth);
    if (no) {
      if (no.code === "UNAUTHORIZED") c.header("WWW-Authenticate", 'Bearer realm="sluice"');
      return c.json({ code: no.code, message: no.message }, no.httpStatus as 401 | 403);
    }
    const text = await exposition(opts.deployment ? () => readGauges(s.store) : undefined);
    return c.body(text, 200, { "Content-Type": CONTENT_TYPE, "Cache-Control": "no-store" });
  });
}

/**
 * Serve `/metrics` alone on its own port (`--metrics-port`): for `sluice worker`, and a `sluice scheduler`
 * without the API. Port 0: any free port (the bound one is in `url`).
 */
export function startMetricsServer(s: Sluice, opts: MetricsOptions & { port: number; host: string }): Promise<RunningServer> {
  const app = new Hono();
  mountMetrics(app, s, new Auth(s.store, () => s.engine.clock.now()), opts);
  return startServer(app, { port: opts.port, host: opts.host });
}
