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

/** How this server is reached, for the same-origin check and the cookie's Secure flag (config). */
export interface PublicOrigin {
  /** SLUICE_PUBLIC_URL: the address users open (https://sluice.example.com), or null. */
  publicUrl: string | null;
  /** SLUICE_TRUST_PROXY: X-Forwarded-Proto and X-Forwarded-Host come from our own reverse proxy. */
  trustProxy: boolean;
}

/** The origin (scheme://host[:port]) browsers use to reach this server. */
export function ownOrigin(c: Context, o: PublicOrigin): string {
  if (o.publicUrl) return new URL(o.publicUrl).origin;
  const url = new URL(c.req.url);
  const proto = o.trustProxy ? c.req.header("X-Forwarded-Proto")?.split(",")[0]?.trim() : undefined;
  const host = (o.trustProxy ? c.req.header("X-Forwarded-Host")?.split(",")[0]?.trim() : undefined) ?? c.req.header("Host") ?? url.host;
  return `${proto ?? url.protocol.replace(":", "")}://${host}`;
}

/** Whether the session cookie must be Secure: served over HTTPS, directly or as our proxy says. */
export function servedOverHttps(c: Context, o: PublicOrigin): boolean {
  return ownOrigin(c, o).startsWith("https:");
}

/**
 * A state-changing request a browser sent from another site: refused whatever cookie it carries, on top of
 * the CSRF token (defence in depth; login has no token to check). Browsers say where a request comes from
 * with Sec-Fetch-Site (same-origin, same-site, cross-site, none) and Origin; programs (curl, scripts with a
 * token) send neither, and pass. Returns why it is refused, or null.
 */
export function crossOriginReason(c: Context, o: PublicOrigin): string | null {
  const site = c.req.header("Sec-Fetch-Site");
  if (site !== undefined && site !== "same-origin" && site !== "none") return `Sec-Fetch-Site is ${site}`;
  const origin = c.req.header("Origin");
  if (origin !== undefined && origin !== ownOrigin(c, o)) return `Origin ${origin} is not ${ownOrigin(c, o)}`;
  return null;
}
