/**
 * Users, sessions and API tokens: what the HTTP server and `sluice users|tokens` share. Everything a
 * caller can see is free of secrets: hashes stay in the store, a new API token is returned once.
 */
import { SluiceError } from "../errors.js";
import type { ApiTokenRecord, UserRecord } from "../store/auth.js";
import type { Store } from "../store/store.js";
import { checkPassword, dummyHash, generatePassword, hashPassword, verifyPassword } from "./passwords.js";
import { ROLES, lowerRole, roleAtLeast, type Role } from "./roles.js";
import { csrfTokenFor, newApiToken, newSecret, sha256Hex } from "./secrets.js";

export const SESSION_TTL_MS = 12 * 60 * 60_000;
const USERNAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

/** Who is calling: a user through a session or an API token. */
export interface Principal {
  username: string;
  role: Role;
  via: "session" | "token";
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

export function checkRole(role: string, field = "role"): Role {
  if (!(ROLES as readonly string[]).includes(role)) throw new SluiceError("INVALID_INPUT", `${field}: must be one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`, { details: { field } });
  return role as Role;
}

export class Auth {
  constructor(
    private readonly store: Pick<Store, "users" | "sessions" | "apiTokens">,
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
    const r = checkRole(role);
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
    const r = checkRole(role);
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
    return { username: t.username, role: lowerRole(t.role, t.userRole), via: "token" };
  }

  /** A new API token for `username` (role: at most theirs; default theirs). The token is returned once. */
  async createToken(username: string, name: string, role?: string): Promise<{ id: string; name: string; role: Role; token: string }> {
    const u = await this.requireUser(username);
    if (name.trim() === "" || name.length > 100) throw new SluiceError("INVALID_INPUT", "name: must be 1-100 characters", { details: { field: "name" } });
    const r = role === undefined ? u.role : checkRole(role);
    if (!roleAtLeast(u.role, r)) throw new SluiceError("FORBIDDEN", `role: a token of ${username} (${u.role}) cannot have role ${r}`, { details: { field: "role" } });
    const { tokenId, token } = newApiToken();
    await this.store.apiTokens.insert({ tokenId, tokenHash: sha256Hex(token), name, username, role: r, now: this.now() });
    return { id: tokenId, name, role: r, token };
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
