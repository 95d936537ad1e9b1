/**
 * SQL for variables (migration 0012): a JSON value per key, stored as JSON text — or, for a secret one,
 * as the ciphertext secrets/ made of that text (docs/decisions/0016-secrets.md). `store.variables`, or
 * `tx.variables` inside a transaction.
 */
import type { Kysely } from "kysely";
import type { StoreContext } from "./aggregates.js";
import type { Database, VariablesTable } from "./schema.js";

export interface VariableRow {
  key: string;
  /** JSON text, or its ciphertext when `isSecret`. */
  value: string;
  isSecret: boolean;
  description: string | null;
  updatedAt: number;
}

const toRow = (r: VariablesTable): VariableRow => ({
  key: r.key,
  value: r.value,
  isSecret: Number(r.is_secret) === 1,
  description: r.description,
  updatedAt: Number(r.updated_at),
});

/** @internal Constructed by the Store (`store.variables`) and by each transaction (`tx.variables`). */
export class VariableRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  async list(): Promise<VariableRow[]> {
    return (await this.db.selectFrom("variables").selectAll().orderBy("key").execute()).map(toRow);
  }

  async get(key: string): Promise<VariableRow | null> {
    const r = await this.db.selectFrom("variables").selectAll().where("key", "=", key).executeTakeFirst();
    return r ? toRow(r) : null;
  }

  /** The row, locked until the transaction ends on PostgreSQL (see ConnectionRows.getForUpdate). */
  async getForUpdate(key: string): Promise<VariableRow | null> {
    let q = this.db.selectFrom("variables").selectAll().where("key", "=", key);
    if (this.ctx.dialect === "postgres") q = q.forUpdate();
    const r = await q.executeTakeFirst();
    return r ? toRow(r) : null;
  }

  /** Create or replace the variable. */
  async put(v: VariableRow): Promise<void> {
    const cols = { value: v.value, is_secret: v.isSecret ? 1 : 0, description: v.description, updated_at: v.updatedAt };
    await this.db
      .insertInto("variables")
      .values({ key: v.key, ...cols })
      .onConflict((oc) => oc.column("key").doUpdateSet(cols))
      .execute();
  }

  /** Rotation: the new ciphertext of a secret variable, unless a change replaced `expected` meanwhile. */
  async replaceCiphertext(key: string, expected: string, next: string): Promise<boolean> {
    const r = await this.db.updateTable("variables").set({ value: next }).where("key", "=", key).where("is_secret", "=", 1).where("value", "=", expected).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async delete(key: string): Promise<boolean> {
    const r = await this.db.deleteFrom("variables").where("key", "=", key).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Keys of the secret variables (rotation walks them). */
  async secretKeys(): Promise<string[]> {
    return (await this.db.selectFrom("variables").select("key").where("is_secret", "=", 1).orderBy("key").execute()).map((r) => r.key);
  }
}
