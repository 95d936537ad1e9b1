/**
 * Users, sessions and API tokens: what the HTTP server and `sluice users|tokens` share. Everything a
 * caller can see is free of secrets: hashes stay in the store, a new API token is returned once.
 */
import { SluiceError } from "../errors.js";
import type { ApiTokenRecord, UserRecord } from "../store/auth.js";
import type { Store } from "../store/store.js";
import { checkPassword, dummyHash, generatePassword, hashPassword, verifyPassword } from "./passwords.js";
import { parseScope } from "../core/grants.js";
import { GLOBAL_ROLES, ROLES, higherRole, lowerRole, roleAtLeast, type GlobalRole, type Role } from "./roles.js";
import { csrfTokenFor, newApiToken, newSecret, sha256Hex } from "./secrets.js";

export const SESSION_TTL_MS = 12 * 60 * 60_000;
const USERNAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

/** Who is calling: a user through a session or an API token. */
export interface Principal {
  username: string;
  /** The global role: a token's is the lower of its own and its owner's. Grants add per DAG (app/access.ts). */
  role: GlobalRole;
  via: "session" | "token";
  /**
   * API tokens: the token's id (grants name it), its own role and its owner's current global role (per-DAG
   * access caps a token by its owner's grants too), and its scope (`events:<glob>`: it may only send events).
   */
  token?: { id: string; role: GlobalRole; ownerRole: GlobalRole; scope: string | null };
  /** Session callers: the CSRF token state changes must carry. */
  csrfToken?: string;
  /** Session callers: the session id's hash (logout). */
  sessionHash?: string;
}

export function checkUsername(username: string): string {
  if (!USERNAME.test(username)) {
    throw new SluiceError("INVALID_INPUT", `username ${JSON.stringify(username)} is invalid: use 1-64 letters, digits, "_", ".", "@" and "-", not starting with "." "@" or "-"`, {
      details: { field: "username" },
    });
  }
  return username;
}

/** A role on DAGs (grants): viewer, operator or admin. */
export function checkRole(role: string, field = "role"): Role {
  if (!(ROLES as readonly string[]).includes(role)) throw new SluiceError("INVALID_INPUT", `${field}: must be one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`, { details: { field } });
  return role as Role;
}

/** A user's or token's global role: a role, or `none` (only what grants give). */
export function checkGlobalRole(role: string, field = "role"): GlobalRole {
  if (!(GLOBAL_ROLES as readonly string[]).includes(role)) throw new SluiceError("INVALID_INPUT", `${field}: must be one of ${GLOBAL_ROLES.join(", ")}, got ${JSON.stringify(role)}`, { details: { field } });
  return role as GlobalRole;
}

export class Auth {
  constructor(
    private readonly store: Pick<Store, "users" | "sessions" | "apiTokens" | "grants">,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The first start: with no users, create `admin` with `password` (SLUICE_ADMIN_PASSWORD) or a
   * generated one, returned so that the caller prints it once. Null when users exist.
   */
  async bootstrapAdmin(password: string | null): Promise<{ username: string; password: string; generated: boolean } | null> {
    if ((await this.store.users.count()) > 0) return null;
    const pw = password ?? generatePassword();
    const created = await this.store.users.insert({ username: "admin", passwordHash: await hashPassword(pw), role: "admin", now: this.now() });
    // another process created it first: its password was printed there
    return created ? { username: "admin", password: pw, generated: password === null } : null;
  }

  async createUser(username: string, password: string, role: string): Promise<UserRecord> {
    checkUsername(username);
    const r = checkGlobalRole(role);
    checkPassword(password);
    if (!(await this.store.users.insert({ username, passwordHash: await hashPassword(password), role: r, now: this.now() }))) {
      throw new SluiceError("CONFLICT", `user "${username}" already exists`, { details: { username, field: "username" } });
    }
    return (await this.store.users.get(username))!;
  }

  listUsers(): Promise<UserRecord[]> {
    return this.store.users.list();
  }

  async requireUser(username: string): Promise<UserRecord> {
    const u = await this.store.users.get(username);
    if (!u) throw new SluiceError("NOT_FOUND", `user "${username}" not found`, { details: { username } });
    return u;
  }

  /** Deleting a user ends their sessions and revokes their tokens. The last admin stays. */
  async deleteUser(username: string): Promise<void> {
    const u = await this.requireUser(username);
    if (u.role === "admin" && (await this.store.users.countAdmins()) <= 1) throw new SluiceError("CONFLICT", `user "${username}" is the last admin; make another user admin first`);
    await this.store.users.delete(username);
  }

  async setRole(username: string, role: string): Promise<UserRecord> {
    const r = checkGlobalRole(role);
    const u = await this.requireUser(username);
    if (u.role === "admin" && r !== "admin" && (await this.store.users.countAdmins()) <= 1) throw new SluiceError("CONFLICT", `user "${username}" is the last admin; make another user admin first`);
    await this.store.users.setRole(username, r);
    return (await this.store.users.get(username))!;
  }

  /** A new password ends every session of the user. */
  async setPassword(username: string, password: string): Promise<void> {
    await this.requireUser(username);
    checkPassword(password);
    await this.store.users.setPassword(username, await hashPassword(password), this.now());
  }

  /** The user when the password is right; null otherwise (unknown users cost the same time). */
  async checkCredentials(username: string, password: string): Promise<UserRecord | null> {
    const stored = await this.store.users.passwordHash(username);
    const ok = await verifyPassword(password, stored ?? (await dummyHash()));
    return ok && stored !== null ? this.store.users.get(username) : null;
  }

  /** A new session: its id goes into the cookie, never into the store. */
  async openSession(username: string): Promise<{ sessionId: string; csrfToken: string; expiresAt: number }> {
    const sessionId = newSecret();
    const now = this.now();
    await this.store.sessions.deleteExpired(now);
    const expiresAt = now + SESSION_TTL_MS;
    await this.store.sessions.insert({ idHash: sha256Hex(sessionId), username, now, expiresAt });
    return { sessionId, csrfToken: csrfTokenFor(sessionId), expiresAt };
  }

  async sessionPrincipal(sessionId: string): Promise<Principal | null> {
    const idHash = sha256Hex(sessionId);
    const u = await this.store.sessions.userOf(idHash, this.now());
    return u ? { username: u.username, role: u.role, via: "session", csrfToken: csrfTokenFor(sessionId), sessionHash: idHash } : null;
  }

  closeSession(sessionHash: string): Promise<void> {
    return this.store.sessions.delete(sessionHash);
  }

  /** A token acts with the lower of its own role and its owner's current role. */
  async tokenPrincipal(token: string): Promise<Principal | null> {
    const t = await this.store.apiTokens.byHash(sha256Hex(token));
    if (!t) return null;
    await this.store.apiTokens.touch(t.tokenId, this.now());
    return { username: t.username, role: lowerRole(t.role, t.userRole), via: "token", token: { id: t.tokenId, role: t.role, ownerRole: t.userRole, scope: t.scope } };
  }

  /**
   * A new API token for `username`, returned once. Its role is at most the highest the user has anywhere
   * (global role or a grant; default that): per DAG it is capped again by the user's access there
   * (app/access.ts). A `scope` (`events:<glob>`) makes an event token: it may only send matching events,
   * reads nothing, and its user must be an operator (as sending an event needs).
   */
  async createToken(username: string, name: string, role?: string, scope?: string): Promise<{ id: string; name: string; role: GlobalRole; token: string; scope: string | null }> {
    const u = await this.requireUser(username);
    if (name.trim() === "" || name.length > 100) throw new SluiceError("INVALID_INPUT", "name: must be 1-100 characters", { details: { field: "name" } });
    let r: GlobalRole;
    if (scope !== undefined) {
      parseScope(scope);
      if (role !== undefined && role !== "none") throw new SluiceError("INVALID_INPUT", `role: an event token (scope ${scope}) has no role; leave role out`, { details: { field: "role" } });
      if (!roleAtLeast(u.role, "operator")) throw new SluiceError("FORBIDDEN", `scope: sending events needs the operator role; ${username} is ${u.role}`, { details: { field: "scope" } });
      r = "none";
    } else {
      const grants = await this.store.grants.list([{ kind: "user", principal: username }]);
      const highest = grants.reduce<GlobalRole>((best, g) => higherRole(best, g.role), u.role);
      r = role === undefined ? highest : checkGlobalRole(role);
      if (!roleAtLeast(highest, r)) throw new SluiceError("FORBIDDEN", `role: a token of ${username} (${highest === u.role ? u.role : `at most ${highest} through grants`}) cannot have role ${r}`, { details: { field: "role" } });
    }
    const { tokenId, token } = newApiToken();
    await this.store.apiTokens.insert({ tokenId, tokenHash: sha256Hex(token), name, username, role: r, scope: scope ?? null, now: this.now() });
    return { id: tokenId, name, role: r, token, scope: scope ?? null };
  }

  listTokens(username?: string): Promise<ApiTokenRecord[]> {
    return this.store.apiTokens.list(username);
  }

  getToken(tokenId: string): Promise<ApiTokenRecord | null> {
    return this.store.apiTokens.get(tokenId);
  }

  async revokeToken(tokenId: string): Promise<void> {
    if (!(await this.store.apiTokens.delete(tokenId))) throw new SluiceError("NOT_FOUND", `token "${tokenId}" not found`, { details: { tokenId } });
  }
}
