/**
 * SQL for connections (migration 0012). `password` and `extra` arrive and leave as ciphertexts made in
 * secrets/ (docs/decisions/0016-secrets.md): this module never sees a key or a secret in the clear.
 * `store.connections`, or `tx.connections` inside a transaction.
 */
import type { Kysely } from "kysely";
import type { StoreContext } from "./aggregates.js";
import type { ConnectionsTable, Database } from "./schema.js";

/** A connection as stored: the secret fields are ciphertexts (or null when unset). */
export interface ConnectionRow {
  connId: string;
  connType: string;
  description: string | null;
  host: string | null;
  port: number | null;
  login: string | null;
  /** Ciphertext, or null. */
  password: string | null;
  schema: string | null;
  /** Ciphertext of the extra JSON object, or null. */
  extra: string | null;
  createdAt: number;
  updatedAt: number;
}

const toRow = (r: ConnectionsTable): ConnectionRow => ({
  connId: r.conn_id,
  connType: r.conn_type,
  description: r.description,
  host: r.host,
  port: r.port === null ? null : Number(r.port),
  login: r.login,
  password: r.password,
  schema: r.schema_name,
  extra: r.extra,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

const toColumns = (c: ConnectionRow): ConnectionsTable => ({
  conn_id: c.connId,
  conn_type: c.connType,
  description: c.description,
  host: c.host,
  port: c.port,
  login: c.login,
  password: c.password,
  schema_name: c.schema,
  extra: c.extra,
  created_at: c.createdAt,
  updated_at: c.updatedAt,
});

/** @internal Constructed by the Store (`store.connections`) and by each transaction (`tx.connections`). */
export class ConnectionRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  async list(): Promise<ConnectionRow[]> {
    return (await this.db.selectFrom("connections").selectAll().orderBy("conn_id").execute()).map(toRow);
  }

  async get(connId: string): Promise<ConnectionRow | null> {
    const r = await this.db.selectFrom("connections").selectAll().where("conn_id", "=", connId).executeTakeFirst();
    return r ? toRow(r) : null;
  }

  /**
   * The row, locked until the transaction ends on PostgreSQL (SQLite's write transactions are already
   * serial): a rotation and an edit of the same connection do not overwrite each other.
   */
  async getForUpdate(connId: string): Promise<ConnectionRow | null> {
    let q = this.db.selectFrom("connections").selectAll().where("conn_id", "=", connId);
    if (this.ctx.dialect === "postgres") q = q.forUpdate();
    const r = await q.executeTakeFirst();
    return r ? toRow(r) : null;
  }

  /** Inserts the connection; false when the id is taken. */
  async insert(c: ConnectionRow): Promise<boolean> {
    const r = await this.db
      .insertInto("connections")
      .values(toColumns(c))
      .onConflict((oc) => oc.column("conn_id").doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Replaces every field but the id and createdAt; false when there is no such connection. */
  async update(c: ConnectionRow): Promise<boolean> {
    const { conn_id: _id, created_at: _created, ...cols } = toColumns(c);
    const r = await this.db.updateTable("connections").set(cols).where("conn_id", "=", c.connId).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Rotation: the new ciphertexts of a row, unless a change made them differ from `expected` meanwhile. */
  async replaceCiphertexts(connId: string, expected: { password: string | null; extra: string | null }, next: { password: string | null; extra: string | null }): Promise<boolean> {
    let q = this.db.updateTable("connections").set({ password: next.password, extra: next.extra }).where("conn_id", "=", connId);
    q = expected.password === null ? q.where("password", "is", null) : q.where("password", "=", expected.password);
    q = expected.extra === null ? q.where("extra", "is", null) : q.where("extra", "=", expected.extra);
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async delete(connId: string): Promise<boolean> {
    const r = await this.db.deleteFrom("connections").where("conn_id", "=", connId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Ids of the connections holding a secret (rotation walks them). */
  async idsWithSecrets(): Promise<string[]> {
    const rows = await this.db
      .selectFrom("connections")
      .select("conn_id")
      .where((eb) => eb.or([eb("password", "is not", null), eb("extra", "is not", null)]))
      .orderBy("conn_id")
      .execute();
    return rows.map((r) => r.conn_id);
  }
}
