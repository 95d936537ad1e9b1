/**
 * 0007 — users, sessions and API tokens of the web UI and REST API (docs/decisions/0010-api-and-auth.md).
 *
 * - `users`: username, scrypt hash (with its own salt and parameters in the string), role.
 * - `sessions`: the SHA-256 of the session id (the id itself lives only in the user's cookie, so a copy
 *   of the database lets no one log in), the user, expiry. Deleted on logout, password change and user
 *   deletion.
 * - `api_tokens`: the SHA-256 of the token (shown once), a public id to list and revoke it by, the
 *   owner and a role that never exceeds the owner's.
 *
 * Numbered 0007 while 0006 is being written on another branch: the migrator allows migrations to arrive
 * out of order (store.ts), so 0006 applies when it lands.
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0007Auth(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("users")
    .addColumn("username", "text", (c) => c.primaryKey())
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("password_changed_at", bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("sessions")
    .addColumn("id_hash", "text", (c) => c.primaryKey())
    .addColumn("username", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("expires_at", bigint, (c) => c.notNull())
    .execute();
  await db.schema.createIndex("sessions_user").on("sessions").column("username").execute();

  await db.schema
    .createTable("api_tokens")
    .addColumn("token_id", "text", (c) => c.primaryKey())
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("username", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("last_used_at", bigint)
    .execute();
  await db.schema.createIndex("api_tokens_user").on("api_tokens").column("username").execute();
}
