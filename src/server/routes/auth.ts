/** Login, logout, the current user (sessions are HTTP's); password change, users and API tokens (app/users). */
import { z } from "zod";
import { loginAudit, recordFailedLogin } from "../../app/audit.js";
import { changeOwnPassword, createToken, createUser, deleteUser, listTokens, listUsers, revokeToken, updateUser } from "../../app/users.js";
import { MAX_PASSWORD_LENGTH } from "../../auth/passwords.js";
import { LoginRateLimit } from "../../auth/rateLimit.js";
import { SluiceError } from "../../errors.js";
import { body, route, type Route } from "../route.js";
import { requestOrigin } from "../origin.js";
import { servedOverHttps } from "../origin.js";
import { clearSessionCookie, setSessionCookie } from "../session.js";
import { list, meSchema, newTokenSchema, ok, sessionSchema, tokenSchema, userSchema } from "../schemas.js";

const roleSchema = z.enum(["admin", "operator", "viewer", "none"]);
const password = z.string().max(MAX_PASSWORD_LENGTH);
const userView = (u: { username: string; role: string; createdAt?: number }) => ({ username: u.username, role: u.role, ...(u.createdAt !== undefined ? { createdAt: u.createdAt } : {}) });

export function authRoutes(limiter = new LoginRateLimit()): Route[] {
  return [
    route({
      method: "post",
      path: "/auth/login",
      response: sessionSchema,
      access: "public",
      tag: "auth",
      summary: "Log in: sets the session cookie; returns the user and the CSRF token",
      body: body({ username: z.string().min(1).max(200), password: z.string().min(1).max(MAX_PASSWORD_LENGTH) }),
      async handler({ c, env, body }) {
        const from = requestOrigin(c);
        // not served by node-server (app.request in a test): one bucket for all
        const key = `${body.username}\0${from.ip ?? "unknown"}`;
        const wait = limiter.retryAfter(key);
        if (wait > 0) {
          c.header("Retry-After", String(Math.ceil(wait / 1000)));
          throw new SluiceError("RATE_LIMITED", `too many failed logins for "${body.username}"; try again in ${Math.ceil(wait / 60_000)} minute(s)`);
        }
        const user = await env.auth.checkCredentials(body.username, body.password);
        if (!user) {
          limiter.fail(key);
          await recordFailedLogin(env.sluice, body.username, from);
          throw new SluiceError("UNAUTHORIZED", "wrong username or password");
        }
        limiter.succeed(key);
        const s = await env.auth.openSession(user.username, loginAudit(user.username, from));
        setSessionCookie(c, s.sessionId, servedOverHttps(c, env.sluice.config));
        return { user: userView(user), csrfToken: s.csrfToken };
      },
    }),
    route({
      method: "post",
      path: "/auth/logout",
      response: ok,
      access: "none",
      tag: "auth",
      summary: "Log out: ends this session",
      async handler({ c, env, principal }) {
        if (principal!.sessionHash) await env.auth.closeSession(principal!.sessionHash);
        clearSessionCookie(c, servedOverHttps(c, env.sluice.config));
        return { ok: true };
      },
    }),
    route({
      method: "get",
      path: "/auth/me",
      response: meSchema,
      access: "none",
      tag: "auth",
      summary: "The current user and (session callers) the CSRF token",
      // grants: the caller's own (a token's and its owner's), so that a UI can offer what they allow
      handler: async ({ principal, actor }) => {
        const subject = await actor!.access!.subject();
        const grants = [...subject.grants, ...(subject.kind === "token" ? subject.owner.grants : [])].map((g) => ({ role: g.role, selector: g.selector }));
        return { user: userView(principal!), csrfToken: principal!.csrfToken ?? null, via: principal!.via, grants };
      },
    }),
    route({
      method: "post",
      path: "/auth/password",
      response: sessionSchema,
      access: changeOwnPassword.role,
      tag: "auth",
      summary: "Change your password: ends every session of yours and opens a new one for this browser",
      body: body({ current: password, password }),
      async handler({ c, env, principal, actor, body }) {
        const p = principal!;
        await changeOwnPassword(env.auth, actor!, { current: body.current, password: body.password });
        if (p.via !== "session") return { user: userView(p), csrfToken: null };
        const s = await env.auth.openSession(p.username);
        setSessionCookie(c, s.sessionId, servedOverHttps(c, env.sluice.config));
        return { user: userView(p), csrfToken: s.csrfToken };
      },
    }),

    route({ method: "get", path: "/users", response: list(userSchema), access: listUsers.role, tag: "users", summary: "Users (not paginated beyond 500: user lists are small)", handler: async ({ env, actor }) => ({ items: (await listUsers(env.auth, actor!, {})).slice(0, 500).map(userView), nextCursor: null }) }),
    route({
      method: "post",
      path: "/users",
      response: userSchema,
      access: createUser.role,
      tag: "users",
      summary: "Create a user",
      status: 201,
      body: body({ username: z.string().min(1).max(64), password, role: roleSchema }),
      handler: async ({ env, actor, body }) => userView(await createUser(env.auth, actor!, body)),
    }),
    route({
      method: "patch",
      path: "/users/:username",
      response: userSchema,
      access: updateUser.role,
      tag: "users",
      summary: "Change a user's role and/or password (a new password ends their sessions)",
      body: body({ role: roleSchema.optional(), password: password.optional() }),
      handler: async ({ env, actor, params, body }) =>
        userView(await updateUser(env.auth, actor!, { username: params["username"]!, ...(body.role !== undefined ? { role: body.role } : {}), ...(body.password !== undefined ? { password: body.password } : {}) })),
    }),
    route({
      method: "delete",
      path: "/users/:username",
      response: ok,
      access: deleteUser.role,
      tag: "users",
      summary: "Delete a user: their sessions end and their tokens are revoked",
      async handler({ env, actor, params }) {
        await deleteUser(env.auth, actor!, { username: params["username"]! });
        return { ok: true };
      },
    }),

    route({
      method: "get",
      path: "/tokens",
      response: list(tokenSchema),
      access: listTokens.role,
      tag: "tokens",
      summary: "API tokens: your own (admins: everyone's). Never the token itself",
      async handler({ env, actor }) {
        const list = await listTokens(env.auth, actor!, {});
        return { items: list.slice(0, 500).map((t) => ({ id: t.tokenId, name: t.name, username: t.username, role: t.role, scope: t.scope, createdAt: t.createdAt, lastUsedAt: t.lastUsedAt })), nextCursor: null };
      },
    }),
    route({
      method: "post",
      path: "/tokens",
      response: newTokenSchema,
      access: createToken.role,
      tag: "tokens",
      summary:
        "Create an API token for yourself (role at most the highest you have, globally or through grants); scope events:<glob> makes an event token that may only send matching events. The token is in this response only",
      status: 201,
      body: body({ name: z.string().min(1).max(100), role: roleSchema.optional(), scope: z.string().min(1).max(210).optional() }),
      async handler({ env, actor, body }) {
        const t = await createToken(env.auth, actor!, { name: body.name, ...(body.role !== undefined ? { role: body.role } : {}), ...(body.scope !== undefined ? { scope: body.scope } : {}) });
        return { id: t.id, name: t.name, role: t.role, scope: t.scope, token: t.token };
      },
    }),
    route({
      method: "delete",
      path: "/tokens/:id",
      response: ok,
      access: revokeToken.role,
      tag: "tokens",
      summary: "Revoke an API token (your own; admins: anyone's)",
      async handler({ env, actor, params }) {
        await revokeToken(env.auth, actor!, { id: params["id"]! });
        return { ok: true };
      },
    }),
  ];
}
