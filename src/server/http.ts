/**
 * The HTTP server of `sluice dev` and `sluice server`: the REST API (route table in routes/), the events
 * endpoint, `/metrics` (server/metrics.ts) and the web UI on one port. One middleware authenticates every /api/v1 request and denies
 * by default: only routes marked public in the table (health, login, openapi.json) and the events
 * endpoint (its own check: event tokens, operators, SLUICE_EVENT_TOKEN) pass without a user. A scoped event
 * token calls nothing else; per-DAG routes check the caller's role on each DAG (app/access.ts). Every response carries the security headers.
 */
import { readFileSync } from "node:fs";
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { holdsAnywhere } from "../app/access.js";
import { actorOf } from "../app/actor.js";
import { systemAudit } from "../app/audit.js";
import { eventTokenActor, sendEvent } from "../app/events.js";
import { crossOriginReason, requestOrigin } from "./origin.js";
import { Auth, type Principal } from "../auth/auth.js";
import { roleAtLeast } from "../auth/roles.js";
import { SluiceError, toSluiceError } from "../errors.js";
import type { Sluice } from "../sluice.js";
import { registerEventRoutes } from "./events.js";
import { openApiDocument } from "./openapi.js";
import { openApiSchema } from "./schemas.js";
import { describeIssues, type ApiEnv, type Route } from "./route.js";
import { assetRoutes } from "./routes/assets.js";
import { auditRoutes } from "./routes/audit.js";
import { authRoutes } from "./routes/auth.js";
import { backfillRoutes } from "./routes/backfills.js";
import { dagRoutes } from "./routes/dags.js";
import { deadLetterRoutes } from "./routes/deadLetters.js";
import { experimentRoutes } from "./routes/experiments.js";
import { modelRoutes } from "./routes/models.js";
import { grantRoutes } from "./routes/grants.js";
import { historyRoutes } from "./routes/history.js";
import { logRoutes } from "./routes/logs.js";
import { mountMetrics } from "./metrics.js";
import { runRoutes } from "./routes/runs.js";
import { secretRoutes } from "./routes/secrets.js";
import { servingRoutes } from "./routes/serving.js";
import { DeploymentPool } from "../serving/deploymentPool.js";
import { systemRoutes } from "./routes/system.js";
import { startServer, type RunningServer } from "./server.js";
import { identify } from "./session.js";
import { mountStatic } from "./static.js";
import { SpecCache } from "./views.js";

export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * A body over the limit is still read (and dropped) up to this size, so that the client, which is still
 * sending, gets to read the 413 instead of a reset connection; beyond it the connection is cut.
 */
const DRAIN_BYTES = 16 * 1024 * 1024;

const tooLarge = () => new SluiceError("PAYLOAD_TOO_LARGE", `the request body is larger than ${MAX_BODY_BYTES / 1024 / 1024} MB`);

/** The body as text, at most MAX_BODY_BYTES (Hono's bodyLimit needs the global Request we leave alone). */
export async function readBody(c: Context): Promise<string> {
  const declared = Number(c.req.header("Content-Length") ?? Number.NaN);
  if (declared > DRAIN_BYTES) {
    c.header("Connection", "close");
    throw tooLarge();
  }
  const stream = c.req.raw.body as ReadableStream<Uint8Array> | null;
  if (!stream) return "";
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > DRAIN_BYTES) {
      await reader.cancel();
      c.header("Connection", "close");
      break;
    }
    if (total <= MAX_BODY_BYTES) chunks.push(value);
  }
  if (total > MAX_BODY_BYTES) throw tooLarge();
  return Buffer.concat(chunks).toString("utf8");
}

/** The policy of every response (the UI's pages may set their own, stricter or equal). */
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

type Vars = { Variables: { principal: Principal | null } };

export interface HttpOptions {
  /** SLUICE_EVENT_TOKEN, accepted by POST /api/v1/events/<name> as an event token of scope events:*; null: API tokens and users only. */
  eventToken: string | null;
  /** Mount the web UI (default true). */
  ui?: boolean;
  onError?: (e: SluiceError) => void;
}

function fail(c: Context, err: SluiceError, extra: Record<string, unknown> = {}): Response {
  // an error about one input names it in `fields`, as a 422 does, so a form can show it by its field
  const field = err.details["field"];
  const fields = typeof field === "string" && field ? { fields: [{ path: field, message: err.message }] } : {};
  return c.json({ code: err.code, message: err.message, ...fields, ...extra }, err.httpStatus as ContentfulStatusCode);
}

/** Every REST route, in one table (the OpenAPI document and the auth middleware read it too). */
export function apiRoutes(s: Sluice, drive: (backfillId: number) => void, models: () => DeploymentPool = noModels): Route[] {
  const specs = new SpecCache(s.store);
  const routes: Route[] = [...systemRoutes(), ...authRoutes(), ...dagRoutes(specs), ...historyRoutes(), ...runRoutes(), ...logRoutes(), ...assetRoutes(), ...backfillRoutes(drive), ...grantRoutes(), ...auditRoutes(), ...secretRoutes(), ...deadLetterRoutes(), ...experimentRoutes(), ...modelRoutes(), ...servingRoutes(models)];
  routes.push({
    method: "get",
    path: "/openapi.json",
    access: "public",
    tag: "system",
    summary: "This document",
    response: openApiSchema,
    handler: () => openApiDocument(routes, VERSION),
  });
  return routes;
}

const noModels = (): DeploymentPool => {
  throw new SluiceError("INTERNAL", "this API serves no models");
};

function matcher(method: string, path: string): (m: string, p: string) => boolean {
  const re = new RegExp(`^/api/v1${path.replace(/:[A-Za-z]+/g, "[^/]+")}/?$`);
  const upper = method.toUpperCase();
  return (m, p) => (m === upper || (upper === "GET" && m === "HEAD")) && re.test(p);
}

export function createHttpApp(s: Sluice, opts: HttpOptions): { app: Hono<Vars>; auth: Auth; routes: Route[]; close: () => Promise<void> } {
  const auth = new Auth(s.store, () => s.engine.clock.now());
  let closed = false;
  const env: ApiEnv = { sluice: s, auth, ...(opts.onError ? { onError: opts.onError } : {}) };
  const drive = (id: number) => {
    // the server drives backfills created through it; workers (this process's in `sluice dev`) run the tasks
    void s.resumeBackfill(id, { runTasks: false }).catch((e) => {
      if (!closed) opts.onError?.(toSluiceError(e));
    });
  };
  // models served through the API (routes/serving.ts) are loaded on their first request, then kept
  let models: DeploymentPool | null = null;
  const pool = () =>
    (models ??= new DeploymentPool(s, s.store.models, {
      onEvent: (message, level) => {
        if (level !== "info") opts.onError?.(new SluiceError(level === "error" ? "MODEL_LOAD" : "MODEL_UNAVAILABLE", message));
      },
    }));
  const routes = apiRoutes(s, drive, pool);
  const isPublic = [...routes.filter((r) => r.access === "public").map((r) => matcher(r.method, r.path)), matcher("post", "/events/:name")];

  const app = new Hono<Vars>();
  app.onError((e, c) => {
    const err = toSluiceError(e);
    if (err.httpStatus >= 500) {
      opts.onError?.(err);
      // internal messages may name files or SQL: the log gets them, the client a pointer to it
      if (err.code === "INTERNAL") return fail(c, new SluiceError("INTERNAL", "internal error; the server log has the details"));
    }
    return fail(c, err);
  });
  app.notFound((c) => fail(c, new SluiceError("ROUTE_NOT_FOUND", `no endpoint ${c.req.method} ${c.req.path}`)));

  app.use("*", async (c, next) => {
    await next();
    const h = c.res.headers;
    // the UI's static handler may have set its own policy: keep it
    if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", CSP);
    h.set("X-Content-Type-Options", "nosniff");
    if (!h.has("Referrer-Policy")) h.set("Referrer-Policy", "same-origin");
    if (!h.has("X-Frame-Options")) h.set("X-Frame-Options", "DENY");
    if (c.req.path.startsWith("/api/") && !h.has("Cache-Control")) h.set("Cache-Control", "no-store");
  });

  // deny by default: everything under /api/v1 needs a user unless the route table says public
  app.use("/api/v1/*", async (c: Context<Vars>, next) => {
    const method = c.req.method;
    // a browser's state-changing request from another site is refused whatever it carries (login included)
    if (!SAFE_METHODS.has(method)) {
      const why = crossOriginReason(c, s.config);
      if (why) return fail(c, new SluiceError("FORBIDDEN", `cross-origin request refused (${why}); set SLUICE_PUBLIC_URL to the address users open`));
    }
    if (isPublic.some((m) => m(method, c.req.path))) {
      c.set("principal", null);
      return next();
    }
    const { principal, presented } = await identify(c, auth);
    if (!principal) {
      const why =
        presented === "token" ? "the API token is wrong or revoked" : presented === "cookie" ? "the session has ended; log in again" : "log in (POST /api/v1/auth/login) or send Authorization: Bearer <API token>";
      c.header("WWW-Authenticate", 'Bearer realm="sluice"');
      return fail(c, new SluiceError("UNAUTHORIZED", `not authenticated: ${why}`));
    }
    if (principal.via === "session" && !SAFE_METHODS.has(method)) {
      const sent = c.req.header("X-CSRF-Token");
      if (!sent || sent !== principal.csrfToken) {
        return fail(c, new SluiceError("FORBIDDEN", "CSRF check failed: send the header X-CSRF-Token with the csrfToken from /api/v1/auth/me or the login response"));
      }
    }
    c.set("principal", principal);
    return next();
  });

  for (const r of routes) {
    app.on(r.method.toUpperCase(), `/api/v1${r.path}`, async (c) => {
      const principal = c.get("principal");
      // one actor per request: the grants it loads (app/access.ts) are loaded once for the request
      const actor = principal ? actorOf(principal, s.store, requestOrigin(c)) : null;
      if (r.access !== "public") {
        if (!principal || !actor) return fail(c, new SluiceError("UNAUTHORIZED", "not authenticated"));
        const scope = principal.token?.scope;
        if (scope) return fail(c, new SluiceError("FORBIDDEN", `this API token may only send events (scope ${scope}: POST /api/v1/events/<name>)`));
        // a per-DAG route may be called with the role held on some DAG; its handler checks the DAG
        const allowed = r.scope === "dag" ? await holdsAnywhere(actor, r.access) : roleAtLeast(principal.role, r.access);
        if (!allowed) {
          return fail(c, new SluiceError("FORBIDDEN", `this needs the ${r.access} role${r.scope === "dag" ? " (on some DAG)" : ""}; ${principal.username} is ${principal.role}`));
        }
      }
      const rawQuery = c.req.query();
      let query: unknown = {};
      if (r.query) {
        const q = r.query.safeParse(rawQuery);
        if (!q.success) throw describeIssues(q.error, "query");
        query = q.data;
      } else if (Object.keys(rawQuery).length) {
        throw new SluiceError("INVALID_INPUT", `query: unknown parameter "${Object.keys(rawQuery)[0]}" (this endpoint takes none)`, { details: { field: Object.keys(rawQuery)[0] } });
      }
      let body: unknown = undefined;
      if (!SAFE_METHODS.has(c.req.method)) {
        const text = await readBody(c);
        let json: unknown = {};
        if (text.trim() !== "") {
          try {
            json = JSON.parse(text);
          } catch (e) {
            throw new SluiceError("INVALID_PAYLOAD", `the request body is not JSON: ${(e as Error).message}`);
          }
        }
        if (r.body) {
          const b = r.body.safeParse(json);
          if (!b.success) throw describeIssues(b.error, "body");
          body = b.data;
        } else if (typeof json !== "object" || json === null || Array.isArray(json) || Object.keys(json).length) {
          throw new SluiceError("INVALID_INPUT", "body: this endpoint takes no body (send none or {})");
        }
      }
      const out = await r.handler({ c, env, principal, actor, params: c.req.param(), query, body });
      if (out instanceof Response) return out;
      return c.json(out as object, (r.status ?? 200) as ContentfulStatusCode);
    });
  }

  registerEventRoutes(app, {
    eventToken: opts.eventToken,
    identify: (c) => identify(c, auth),
    // the sender is the token's or session's user; SLUICE_EVENT_TOKEN belongs to no one and is named so
    // (an event token has no role of its own: events.ts checked its scope and its owner's operator role)
    sendEvent: (name, payload, o, from, by) =>
      sendEvent(s, by ? { ...actorOf(by, s.store, from), ...(by.token?.scope ? { role: "operator" as const } : {}) } : eventTokenActor(from), {
        name,
        payload,
        idempotencyKey: o.idempotencyKey,
        source: o.source ?? "api",
      }),
  });
  // before the UI: its fallback answers every other path with the UI's page
  mountMetrics(app as unknown as Hono, s, auth, { deployment: true });
  if (opts.ui !== false) mountStatic(app as unknown as Hono);
  return {
    app,
    auth,
    routes,
    close: async () => {
      closed = true;
      await models?.close();
    },
  };
}

export interface HttpServer extends RunningServer {
  auth: Auth;
  /** The route table (tests walk it). */
  routes: Route[];
  /** Set when this start created the first admin: print it once, never log it again. */
  firstAdmin: { username: string; password: string; generated: boolean } | null;
}

/**
 * Serve the API, the events endpoint and the UI on `config.port` / `config.host` (port 0: any free
 * port; the bound one is in `url`). On a store without users, the first admin is created (password from
 * SLUICE_ADMIN_PASSWORD, else generated) and returned for the caller to print once.
 */
export async function startHttp(s: Sluice, opts: HttpOptions & { port?: number; host?: string }): Promise<HttpServer> {
  const { app, auth, routes, close } = createHttpApp(s, opts);
  const firstAdmin = await auth.bootstrapAdmin(s.config.adminPassword, systemAudit("users.create"));
  const server = await startServer(app as unknown as Hono, { port: opts.port ?? s.config.port, host: opts.host ?? s.config.host });
  return {
    ...server,
    auth,
    routes,
    firstAdmin,
    close: async () => {
      await server.close();
      await close();
    },
  };
}
