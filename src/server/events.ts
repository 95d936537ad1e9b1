/**
 * `POST /api/v1/events/<name>` — an external event: the body is its JSON payload (empty: null),
 * `Authorization: Bearer <token>` (SLUICE_EVENT_TOKEN, not a user's), optional `Idempotency-Key` header.
 * 201 with the runs it created; 200 with the existing ones when the key was seen before; 401, 400
 * (malformed JSON), 404 (no DAG is subscribed to the event), 413 (over 1 MB). Mounted by http.ts.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, Env, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { eventJson, type EventOutcome, type SendEventOptions } from "../engine/triggers.js";
import type { RequestOrigin } from "../app/actor.js";
import { SluiceError } from "../errors.js";
import { requestOrigin } from "./origin.js";

const MAX_EVENT_BODY_BYTES = 1024 * 1024;

interface ApiDeps {
  /** The bearer token of the events endpoint; null: events are off (401 saying so). */
  eventToken: string | null;
  /** `from`: where the request came from (the audit entry records it). */
  sendEvent(name: string, payload: unknown, opts: SendEventOptions, from: RequestOrigin): Promise<EventOutcome>;
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
export function registerEventRoutes<E extends Env>(app: Hono<E>, deps: ApiDeps): void {
  app.use("/api/v1/events/*", async (c, next) => {
    const header = c.req.header("Authorization") ?? "";
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (deps.eventToken === null) {
      return fail(c, new SluiceError("UNAUTHORIZED", "events are off on this server: set SLUICE_EVENT_TOKEN (16+ characters) and restart it"));
    }
    if (!m || !tokensEqual(m[1]!.trim(), deps.eventToken)) {
      const why = m ? "the token is wrong" : "send the header Authorization: Bearer <token> (SLUICE_EVENT_TOKEN)";
      return fail(c, new SluiceError("UNAUTHORIZED", `not authorized: ${why}`), { "WWW-Authenticate": 'Bearer realm="sluice"' });
    }
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
      const outcome = await deps.sendEvent(name, payload, { idempotencyKey: key === undefined ? undefined : key.trim(), source: "api" }, requestOrigin(c));
      return c.json(eventJson(outcome), outcome.duplicate ? 200 : 201);
    },
  );
}
