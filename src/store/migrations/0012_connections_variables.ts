/**
 * 0012 — connections and variables (docs/decisions/0016-secrets.md).
 *
 * - `connections`: a typed record per id (Airflow's Connection). `password` and `extra` hold ciphertexts
 *   made by secrets/keyring.ts (`sluice:v1:<keyId>:…`), or null when unset: the store never sees a key or
 *   a secret in the clear. The other fields are not secret and stay readable (lists, the UI).
 * - `variables`: a JSON value per key; `value` is the JSON text, or its ciphertext when `is_secret` is 1.
 *
 * Numbered 0012 while the other parts of issue 12 add theirs on other branches: the migrator accepts
 * migrations that arrive out of order (store.ts).
 */
import type { Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0012ConnectionsVariables(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("connections")
    .addColumn("conn_id", "text", (c) => c.primaryKey())
    .addColumn("conn_type", "text", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("host", "text")
    .addColumn("port", "integer")
    .addColumn("login", "text")
    .addColumn("password", "text")
    .addColumn("schema_name", "text")
    .addColumn("extra", "text")
    .addColumn("created_at", bigint, (c) => c.notNull())
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("variables")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .addColumn("is_secret", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("description", "text")
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .execute();
}
