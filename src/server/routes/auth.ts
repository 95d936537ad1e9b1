/** Login, logout, the current user, password change; users and API tokens (admin). */
import { z } from "zod";
import { checkPassword, MAX_PASSWORD_LENGTH } from "../../auth/passwords.js";
import { LoginRateLimit } from "../../auth/rateLimit.js";
import { roleAtLeast } from "../../auth/roles.js";
import { SluiceError } from "../../errors.js";
import { getConnInfo } from "@hono/node-server/conninfo";
import { body, route, type Route } from "../route.js";
import { clearSessionCookie, setSessionCookie } from "../session.js";

const roleSchema = z.enum(["admin", "operator", "viewer"]);
const password = z.string().max(MAX_PASSWORD_LENGTH);
const userView = (u: { username: string; role: string; createdAt?: number }) => ({ username: u.username, role: u.role, ...(u.createdAt !== undefined ? { createdAt: u.createdAt } : {}) });

export function authRoutes(limiter = new LoginRateLimit()): Route[] {
  return [
    route({
      method: "post",
      path: "/auth/login",
      access: "public",
      tag: "auth",
      summary: "Log in: sets the session cookie; returns the user and the CSRF token",
      body: body({ username: z.string().min(1).max(200), password: z.string().min(1).max(MAX_PASSWORD_LENGTH) }),
      async handler({ c, env, body }) {
        let ip = "unknown";
        try {
          ip = getConnInfo(c).remote.address ?? ip;
        } catch {
          // not served by node-server (app.request in a test): one bucket for all
        }
        const key = `${body.username}\0${ip}`;
        const wait = limiter.retryAfter(key);
        if (wait > 0) {
          c.header("Retry-After", String(Math.ceil(wait / 1000)));
          throw new SluiceError("RATE_LIMITED", `too many failed logins for "${body.username}"; try again in ${Math.ceil(wait / 60_000)} minute(s)`);
        }
        const user = await env.auth.checkCredentials(body.username, body.password);
        if (!user) {
          limiter.fail(key);
          throw new SluiceError("UNAUTHORIZED", "wrong username or password");
        }
        limiter.succeed(key);
        const s = await env.auth.openSession(user.username);
        setSessionCookie(c, s.sessionId);
        return { user: userView(user), csrfToken: s.csrfToken };
      },
    }),
    route({
      method: "post",
      path: "/auth/logout",
      access: "viewer",
      tag: "auth",
      summary: "Log out: ends this session",
      async handler({ c, env, principal }) {
        if (principal!.sessionHash) await env.auth.closeSession(principal!.sessionHash);
        clearSessionCookie(c);
        return { ok: true };
      },
    }),
    route({
      method: "get",
      path: "/auth/me",
      access: "viewer",
      tag: "auth",
      summary: "The current user and (session callers) the CSRF token",
      handler: ({ principal }) => ({ user: userView(principal!), csrfToken: principal!.csrfToken ?? null, via: principal!.via }),
    }),
    route({
      method: "post",
      path: "/auth/password",
      access: "viewer",
      tag: "auth",
      summary: "Change your password: ends every session of yours and opens a new one for this browser",
      body: body({ current: password, password }),
      async handler({ c, env, principal, body }) {
        const p = principal!;
        if (!(await env.auth.checkCredentials(p.username, body.current))) throw new SluiceError("FORBIDDEN", "current: the current password is wrong", { details: { field: "current" } });
        checkPassword(body.password);
        await env.auth.setPassword(p.username, body.password);
        if (p.via !== "session") return { user: userView(p), csrfToken: null };
        const s = await env.auth.openSession(p.username);
        setSessionCookie(c, s.sessionId);
        return { user: userView(p), csrfToken: s.csrfToken };
      },
    }),

    route({ method: "get", path: "/users", access: "admin", tag: "users", summary: "Users (not paginated beyond 500: user lists are small)", handler: async ({ env }) => ({ items: (await env.auth.listUsers()).slice(0, 500).map(userView), nextCursor: null }) }),
    route({
      method: "post",
      path: "/users",
      access: "admin",
      tag: "users",
      summary: "Create a user",
      status: 201,
      body: body({ username: z.string().min(1).max(64), password, role: roleSchema }),
      handler: async ({ env, body }) => userView(await env.auth.createUser(body.username, body.password, body.role)),
    }),
    route({
      method: "patch",
      path: "/users/:username",
      access: "admin",
      tag: "users",
      summary: "Change a user's role and/or password (a new password ends their sessions)",
      body: body({ role: roleSchema.optional(), password: password.optional() }),
      async handler({ env, params, body }) {
        const username = params["username"]!;
        await env.auth.requireUser(username);
        if (body.password !== undefined) checkPassword(body.password);
        if (body.role !== undefined) await env.auth.setRole(username, body.role);
        if (body.password !== undefined) await env.auth.setPassword(username, body.password);
        return userView(await env.auth.requireUser(username));
      },
    }),
    route({
      method: "delete",
      path: "/users/:username",
      access: "admin",
      tag: "users",
      summary: "Delete a user: their sessions end and their tokens are revoked",
      async handler({ env, params }) {
        await env.auth.deleteUser(params["username"]!);
        return { ok: true };
      },
    }),

    route({
      method: "get",
      path: "/tokens",
      access: "viewer",
      tag: "tokens",
      summary: "API tokens: your own (admins: everyone's). Never the token itself",
      async handler({ env, principal }) {
        const p = principal!;
        const list = await env.auth.listTokens(p.role === "admin" ? undefined : p.username);
        return { items: list.slice(0, 500).map((t) => ({ id: t.tokenId, name: t.name, username: t.username, role: t.role, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt })), nextCursor: null };
      },
    }),
    route({
      method: "post",
      path: "/tokens",
      access: "viewer",
      tag: "tokens",
      summary: "Create an API token for yourself (role at most yours); the token is in this response only",
      status: 201,
      body: body({ name: z.string().min(1).max(100), role: roleSchema.optional() }),
      async handler({ env, principal, body }) {
        const t = await env.auth.createToken(principal!.username, body.name, body.role);
        return { id: t.id, name: t.name, role: t.role, token: t.token };
      },
    }),
    route({
      method: "delete",
      path: "/tokens/:id",
      access: "viewer",
      tag: "tokens",
      summary: "Revoke an API token (your own; admins: anyone's)",
      async handler({ env, principal, params }) {
        const t = await env.auth.getToken(params["id"]!);
        // someone else's token is "not found", not "forbidden": ids of others' tokens stay unconfirmed
        if (!t || (t.username !== principal!.username && !roleAtLeast(principal!.role, "admin"))) throw new SluiceError("NOT_FOUND", `token "${params["id"]}" not found`);
        await env.auth.revokeToken(t.tokenId);
        return { ok: true };
      },
    }),
  ];
}
