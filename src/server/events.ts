/**
 * `POST /api/v1/events/<name>` — an external event: the body is its JSON payload (empty: null), optional
 * `Idempotency-Key` header. 201 with the runs it created; 200 with the existing ones when the key was seen
 * before; 401, 403, 400 (malformed JSON), 404 (no DAG is subscribed to the event), 413 (over 1 MB).
 * Mounted by http.ts.
 *
 * Who may send (docs/decisions/0016): an event token — an API token with scope `events:<name-glob>`,
 * for the events its glob matches only —, any other API token or signed-in user with the operator role
 * (globally: an event is not about one DAG; the caller does not choose which DAGs it starts), or
 * `Authorization: Bearer $SLUICE_EVENT_TOKEN`, kept for compatibility as a token with scope `events:*`.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, Env, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Principal } from "../auth/auth.js";
import { roleAtLeast } from "../auth/roles.js";
import { scopeAllowsEvent } from "../core/grants.js";
import { eventJson, type EventOutcome, type SendEventOptions } from "../engine/triggers.js";
import { SluiceError } from "../errors.js";

const MAX_EVENT_BODY_BYTES = 1024 * 1024;

interface ApiDeps<E extends Env> {
  /** SLUICE_EVENT_TOKEN (scope events:*); null: only API tokens and users may send events. */
  eventToken: string | null;
  /** The caller by API token or session cookie (server/session.ts). */
  identify(c: Context<E>): Promise<{ principal: Principal | null; presented: "token" | "cookie" | null }>;
  sendEvent(name: string, payload: unknown, opts: SendEventOptions): Promise<EventOutcome>;
}

/** Compare without leaking where the strings differ or how long the secret is. */
function tokensEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function fail<C extends Context>(c: C, err: SluiceError, headers: Record<string, string> = {}): Response {
  return c.json({ code: err.code, message: err.message }, err.httpStatus as ContentfulStatusCode, headers);
}

/** Mount the events endpoint on the API's app; its errors go to the app's error handler. */
export function registerEventRoutes<E extends Env>(app: Hono<E>, deps: ApiDeps<E>): void {
  app.use("/api/v1/events/*", async (c, next) => {
    const header = c.req.header("Authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    // the compatibility token first: it is no API token, and comparing it costs no query
    if (m && deps.eventToken !== null && tokensEqual(m[1]!.trim(), deps.eventToken)) return next();
    // Hono types a middleware's context with an `any` input; identify reads only headers and cookies
    const { principal, presented } = await deps.identify(c as Context<E>);
    if (!principal) {
      const why = presented === "token" ? "the token is wrong or revoked" : presented === "cookie" ? "the session has ended; log in again" : "send the header Authorization: Bearer <token>";
      const which = "an event token (sluice tokens create --scope events:<glob>), an operator's API token" + (deps.eventToken !== null ? " or SLUICE_EVENT_TOKEN" : " (SLUICE_EVENT_TOKEN is not set on this server)");
      return fail(c, new SluiceError("UNAUTHORIZED", `not authorized: ${why}; events take ${which}`), { "WWW-Authenticate": 'Bearer realm="sluice"' });
    }
    let name = c.req.path.slice("/api/v1/events/".length);
    try {
      name = decodeURIComponent(name);
    } catch {
      // a malformed escape: the route answers it
    }
    const scope = principal.token?.scope ?? null;
    if (scope !== null) {
      if (!scopeAllowsEvent(scope, name)) return fail(c, new SluiceError("FORBIDDEN", `this event token may only send events matching ${scope.slice("events:".length)}, not ${JSON.stringify(name)}`));
      // a token never outranks its owner: the owner must still be allowed to send events
      if (!roleAtLeast(principal.token!.ownerRole, "operator")) return fail(c, new SluiceError("FORBIDDEN", `sending events needs the operator role; the owner of this token, ${principal.username}, is ${principal.token!.ownerRole}`));
      return next();
    }
    if (principal.via === "session") {
      const sent = c.req.header("X-CSRF-Token");
      if (!sent || sent !== principal.csrfToken) return fail(c, new SluiceError("FORBIDDEN", "CSRF check failed: send the header X-CSRF-Token with the csrfToken from /api/v1/auth/me"));
    }
    if (!roleAtLeast(principal.role, "operator")) return fail(c, new SluiceError("FORBIDDEN", `sending events needs the operator role (globally) or an event token; ${principal.username} is ${principal.role}`));
    await next();
  });

  app.post(
    "/api/v1/events/:name",
    bodyLimit({
      maxSize: MAX_EVENT_BODY_BYTES,
      onError: (c) => fail(c, new SluiceError("PAYLOAD_TOO_LARGE", `the event payload is larger than ${MAX_EVENT_BODY_BYTES / 1024 / 1024} MB`)),
    }),
    async (c) => {
      const name = c.req.param("name");
      const text = await c.req.text();
      let payload: unknown = null;
      if (text.trim() !== "") {
        try {
          payload = JSON.parse(text);
        } catch (e) {
          throw new SluiceError("INVALID_PAYLOAD", `the request body is not JSON: ${(e as Error).message}`, { cause: e });
        }
      }
      const key = c.req.header("Idempotency-Key");
      const outcome = await deps.sendEvent(name, payload, { idempotencyKey: key === undefined ? undefined : key.trim(), source: "api" });
      return c.json(eventJson(outcome), outcome.duplicate ? 200 : 201);
    },
  );
}
