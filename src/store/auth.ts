/**
 * SQL for users, sessions and API tokens (migration 0007). Secrets never enter here in the clear: session
 * ids and API tokens arrive hashed (auth/secrets.ts), passwords as scrypt strings (auth/passwords.ts).
 */
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";


export type Role = "admin" | "operator" | "viewer";
/**
 * A user's or token's role on everything: a Role, or `none` — nothing but what grants give (per-DAG
 * access, app/access.ts), as Airflow's users with only DAG-level permissions.
 */
export type GlobalRole = Role | "none";

export interface UserRecord {
  username: string;
  role: GlobalRole;
  createdAt: number;
  passwordChangedAt: number;
}

export interface ApiTokenRecord {
  tokenId: string;
  name: string;
  username: string;
  role: GlobalRole;
  createdAt: number;
  lastUsedAt: number | null;
  /** null: role-based access; `events:<name-glob>`: may only send matching events. */
  scope: string | null;
}

const toUser = (r: { username: string; role: string; created_at: number; password_changed_at: number }): UserRecord => ({
  username: r.username,
  role: r.role as GlobalRole,
  createdAt: r.created_at,
  passwordChangedAt: r.password_changed_at,
});

const TOKEN_COLUMNS = ["token_id", "name", "username", "role", "created_at", "last_used_at", "scope"] as const;
const toToken = (r: { token_id: string; name: string; username: string; role: string; created_at: number; last_used_at: number | null; scope: string | null }): ApiTokenRecord => ({
  tokenId: r.token_id,
  name: r.name,
  username: r.username,
  role: r.role as GlobalRole,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  scope: r.scope,
});

/** @internal Constructed by the Store (`store.users`) and by each transaction (`tx.users`). */
export class UserRows {
  constructor(private readonly db: Kysely<Database>) {}

  async count(): Promise<number> {
    const r = await this.db.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  /** Inserts the user; false when the name is taken. */
  async insert(u: { username: string; passwordHash: string; role: GlobalRole; now: number }): Promise<boolean> {
    const r = await this.db
      .insertInto("users")
      .values({ username: u.username, password_hash: u.passwordHash, role: u.role, created_at: u.now, password_changed_at: u.now })
      .onConflict((oc) => oc.column("username").doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async get(username: string): Promise<UserRecord | null> {
    const r = await this.db.selectFrom("users").select(["username", "role", "created_at", "password_changed_at"]).where("username", "=", username).executeTakeFirst();
    return r ? toUser(r) : null;
  }

  /** The stored hash, for checking a password at login (never leaves auth/). */
  async passwordHash(username: string): Promise<string | null> {
    const r = await this.db.selectFrom("users").select("password_hash").where("username", "=", username).executeTakeFirst();
    return r?.password_hash ?? null;
  }

  async list(): Promise<UserRecord[]> {
    const rows = await this.db.selectFrom("users").select(["username", "role", "created_at", "password_changed_at"]).orderBy("username").execute();
    return rows.map(toUser);
  }

  async countAdmins(): Promise<number> {
    const r = await this.db.selectFrom("users").select((eb) => eb.fn.countAll<number>().as("n")).where("role", "=", "admin").executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async setRole(username: string, role: GlobalRole): Promise<boolean> {
    const r = await this.db.updateTable("users").set({ role }).where("username", "=", username).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** A new password ends every session of the user (the caller may open a new one afterwards). */
  async setPassword(username: string, passwordHash: string, now: number): Promise<boolean> {
    const r = await this.db.updateTable("users").set({ password_hash: passwordHash, password_changed_at: now }).where("username", "=", username).executeTakeFirst();
    await new SessionRows(this.db).deleteOfUser(username);
    return Number(r.numUpdatedRows) > 0;
  }

  /** The user, their sessions, their API tokens and the grants of both. */
  async delete(username: string): Promise<boolean> {
    await new SessionRows(this.db).deleteOfUser(username);
    await this.db
      .deleteFrom("grants")
      .where((eb) =>
        eb.or([
          eb.and([eb("principal_kind", "=", "user"), eb("principal", "=", username)]),
          eb.and([eb("principal_kind", "=", "token"), eb("principal", "in", eb.selectFrom("api_tokens").select("token_id").where("username", "=", username))]),
        ]),
      )
      .execute();
    await this.db.deleteFrom("api_tokens").where("username", "=", username).execute();
    const r = await this.db.deleteFrom("users").where("username", "=", username).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

/** @internal Constructed by the Store (`store.sessions`) and by each transaction (`tx.sessions`). */
export class SessionRows {
  constructor(private readonly db: Kysely<Database>) {}

  // ---- sessions ---------------------------------------------------------------------------------------
  async insert(s: { idHash: string; username: string; now: number; expiresAt: number }): Promise<void> {
    await this.db.insertInto("sessions").values({ id_hash: s.idHash, username: s.username, created_at: s.now, expires_at: s.expiresAt }).execute();
  }

  /** The live session's user (with their current role), or null when unknown or expired. */
  async userOf(idHash: string, now: number): Promise<UserRecord | null> {
    const r = await this.db
      .selectFrom("sessions")
      .innerJoin("users", "users.username", "sessions.username")
      .select(["users.username", "users.role", "users.created_at", "users.password_changed_at"])
      .where("sessions.id_hash", "=", idHash)
      .where("sessions.expires_at", ">", now)
      .executeTakeFirst();
    return r ? toUser(r) : null;
  }

  async delete(idHash: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("id_hash", "=", idHash).execute();
  }

  async deleteOfUser(username: string): Promise<void> {
    await this.db.deleteFrom("sessions").where("username", "=", username).execute();
  }

  async deleteExpired(now: number): Promise<void> {
    await this.db.deleteFrom("sessions").where("expires_at", "<=", now).execute();
  }
}

/** @internal Constructed by the Store (`store.apiTokens`) and by each transaction (`tx.apiTokens`). */
export class ApiTokenRows {
  constructor(private readonly db: Kysely<Database>) {}

  // ---- API tokens -------------------------------------------------------------------------------------
  async insert(t: { tokenId: string; tokenHash: string; name: string; username: string; role: GlobalRole; scope?: string | null; now: number }): Promise<void> {
    await this.db
      .insertInto("api_tokens")
      .values({ token_id: t.tokenId, token_hash: t.tokenHash, name: t.name, username: t.username, role: t.role, created_at: t.now, last_used_at: null, scope: t.scope ?? null })
      .execute();
  }

  /** Tokens of one user, or of everyone (username undefined). */
  async list(username?: string): Promise<ApiTokenRecord[]> {
    let q = this.db.selectFrom("api_tokens").select(TOKEN_COLUMNS);
    if (username !== undefined) q = q.where("username", "=", username);
    return (await q.orderBy("created_at").orderBy("token_id").execute()).map(toToken);
  }

  async get(tokenId: string): Promise<ApiTokenRecord | null> {
    const r = await this.db.selectFrom("api_tokens").select(TOKEN_COLUMNS).where("token_id", "=", tokenId).executeTakeFirst();
    return r ? toToken(r) : null;
  }

  /** The token's record and its owner's current role, by the token's hash. */
  async byHash(tokenHash: string): Promise<(ApiTokenRecord & { userRole: GlobalRole }) | null> {
    const r = await this.db
      .selectFrom("api_tokens")
      .innerJoin("users", "users.username", "api_tokens.username")
      .select(["api_tokens.token_id", "api_tokens.name", "api_tokens.username", "api_tokens.role", "api_tokens.created_at", "api_tokens.last_used_at", "api_tokens.scope", "users.role as user_role"])
      .where("api_tokens.token_hash", "=", tokenHash)
      .executeTakeFirst();
    return r ? { ...toToken(r), userRole: r.user_role as GlobalRole } : null;
  }

  async touch(tokenId: string, now: number): Promise<void> {
    await this.db.updateTable("api_tokens").set({ last_used_at: now }).where("token_id", "=", tokenId).execute();
  }

  /** The token and its grants. */
  async delete(tokenId: string): Promise<boolean> {
    await this.db.deleteFrom("grants").where("principal_kind", "=", "token").where("principal", "=", tokenId).execute();
    const r = await this.db.deleteFrom("api_tokens").where("token_id", "=", tokenId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
