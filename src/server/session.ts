/** The session cookie and who is calling (cookie or bearer API token). */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Auth, Principal } from "../auth/auth.js";
import { SESSION_TTL_MS } from "../auth/auth.js";

export const SESSION_COOKIE = "sluice_session";

/**
 * `secure`: served over HTTPS (server/origin.ts servedOverHttps: the request's own scheme, SLUICE_PUBLIC_URL,
 * or X-Forwarded-Proto from a proxy trusted by SLUICE_TRUST_PROXY — never a header anyone may send).
 */
export function setSessionCookie(c: Context, sessionId: string, secure: boolean): void {
  setCookie(c, SESSION_COOKIE, sessionId, { httpOnly: true, sameSite: "Lax", path: "/", secure, maxAge: Math.floor(SESSION_TTL_MS / 1000) });
}

export function clearSessionCookie(c: Context, secure: boolean): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "Lax", secure });
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
