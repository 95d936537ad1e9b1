/** The session cookie and who is calling (cookie or bearer API token). */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Auth, Principal } from "../auth/auth.js";
import { SESSION_TTL_MS } from "../auth/auth.js";

export const SESSION_COOKIE = "sluice_session";

/** Behind a TLS-terminating proxy the request reaches us as http: trust its X-Forwarded-Proto. */
function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("X-Forwarded-Proto")?.split(",")[0]?.trim() === "https";
}

export function setSessionCookie(c: Context, sessionId: string): void {
  setCookie(c, SESSION_COOKIE, sessionId, { httpOnly: true, sameSite: "Lax", path: "/", secure: isHttps(c), maxAge: Math.floor(SESSION_TTL_MS / 1000) });
}

export function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Lax", secure: isHttps(c) });
}

/**
 * The caller, or null. A bearer token wins over a cookie; `presented` says whether credentials were sent
 * at all (a wrong token is then a 401 with a reason, not "log in").
 */
export async function identify(c: Context, auth: Auth): Promise<{ principal: Principal | null; presented: "token" | "cookie" | null }> {
  const header = c.req.header("Authorization");
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return { principal: m ? await auth.tokenPrincipal(m[1]!) : null, presented: "token" };
  }
  const sid = getCookie(c, SESSION_COOKIE);
  if (sid) return { principal: sid.length <= 200 ? await auth.sessionPrincipal(sid) : null, presented: "cookie" };
  return { principal: null, presented: null };
}
