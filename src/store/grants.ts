/**
 * SQL for grants (migration 0013): a role on the DAGs a selector picks, given to a user or to one API
 * token. What a grant means is app/access.ts; here they are only listed, inserted and deleted.
 */
import type { Kysely } from "kysely";
import type { Role } from "./auth.js";
import type { Database } from "./schema.js";

export type GrantPrincipalKind = "user" | "token";

export interface GrantRecord {
  grantId: number;
  principalKind: GrantPrincipalKind;
  /** A username, or an API token's id. */
  principal: string;
  role: Role;
  /** `dag:<glob>`, `tag:<tag>` or `owner:<name>`. */
  selector: string;
  createdAt: number;
  createdBy: string;
}

const toGrant = (r: { grant_id: number; principal_kind: string; principal: string; role: string; selector: string; created_at: number; created_by: string }): GrantRecord => ({
  grantId: Number(r.grant_id),
  principalKind: r.principal_kind as GrantPrincipalKind,
  principal: r.principal,
  role: r.role as Role,
  selector: r.selector,
  createdAt: Number(r.created_at),
  createdBy: r.created_by,
});

/** @internal Constructed by the Store (`store.grants`) and by each transaction (`tx.grants`). */
export class GrantRows {
  constructor(private readonly db: Kysely<Database>) {}

  /** Every grant, or those of some principals (a token's and its owner's: one query per request). */
  async list(of?: readonly { kind: GrantPrincipalKind; principal: string }[]): Promise<GrantRecord[]> {
    let q = this.db.selectFrom("grants").selectAll();
    if (of !== undefined) {
      if (of.length === 0) return [];
      q = q.where((eb) => eb.or(of.map((p) => eb.and([eb("principal_kind", "=", p.kind), eb("principal", "=", p.principal)]))));
    }
    return (await q.orderBy("grant_id").execute()).map(toGrant);
  }

  async get(grantId: number): Promise<GrantRecord | null> {
    const r = await this.db.selectFrom("grants").selectAll().where("grant_id", "=", grantId).executeTakeFirst();
    return r ? toGrant(r) : null;
  }

  /** The new grant; null when the same grant (principal, role, selector) exists already. */
  async insert(g: { principalKind: GrantPrincipalKind; principal: string; role: Role; selector: string; now: number; createdBy: string }): Promise<GrantRecord | null> {
    const r = await this.db
      .insertInto("grants")
      .values({ principal_kind: g.principalKind, principal: g.principal, role: g.role, selector: g.selector, created_at: g.now, created_by: g.createdBy })
      .onConflict((oc) => oc.columns(["principal_kind", "principal", "role", "selector"]).doNothing())
      .returning("grant_id")
      .executeTakeFirst();
    return r ? this.get(Number(r.grant_id)) : null;
  }

  async delete(grantId: number): Promise<boolean> {
    const r = await this.db.deleteFrom("grants").where("grant_id", "=", grantId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** A user's or token's grants go with it (user and token deletion). */
  async deleteOf(kind: GrantPrincipalKind, principal: string): Promise<void> {
    await this.db.deleteFrom("grants").where("principal_kind", "=", kind).where("principal", "=", principal).execute();
  }
}
