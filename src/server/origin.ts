/**
 * Where a request came from, for the audit log and the login rate limit: the socket's address and the
 * User-Agent. X-Forwarded-For is not read: any client can send one, so trusting it would let a caller
 * write any address into the audit log. Behind a reverse proxy the proxy's address is recorded.
 */
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import type { RequestOrigin } from "../app/actor.js";

/** User agents are the client's text: kept to a sane length. */
const MAX_USER_AGENT = 500;

export function requestOrigin(c: Context): RequestOrigin {
  let ip: string | null = null;
  try {
    ip = getConnInfo(c).remote.address ?? null;
  } catch {
    // not served by node-server (app.request in a test): no address
  }
  const ua = c.req.header("User-Agent");
  return { ip, userAgent: ua === undefined ? null : ua.slice(0, MAX_USER_AGENT) };
}
