/**
 * The audit log (migration 0014): who changed what, from where, when. Append-only for the application:
 * this file has the insert, the reads, and the one delete `sluice db clean --audit-older-than` makes —
 * no update path. Entries are written in the transaction of the change they describe (`tx.audit.append`,
 * through an `AuditHook` the application layer makes: app/audit.ts), so a change and its entry commit or
 * roll back together.
 */
import { sql, type Kysely } from "kysely";
import type { StoreContext } from "./aggregates.js";
import type { Database } from "./schema.js";
import type { Tx } from "./tx.js";

export type AuditVia = "session" | "token" | "cli" | "system";

/** One entry as written. `before`/`after` must already be free of secret values (app/audit.ts redacts). */
export interface AuditEntry {
  actor: string;
  via: AuditVia;
  ip?: string | null;
  userAgent?: string | null;
  /** The operation id, e.g. `runs.trigger`. */
  action: string;
  dagId?: string | null;
  runId?: string | null;
  /** What was acted on when it is not a run: a pool, a user, a token id, an event, a backfill. */
  target?: string | null;
  before?: unknown;
  after?: unknown;
  /** Logins: success | failure. */
  outcome?: "success" | "failure" | null;
}

export interface AuditRecord {
  id: number;
  /** ms; the database's clock on PostgreSQL. */
  at: number;
  actor: string;
  via: AuditVia;
  ip: string | null;
  userAgent: string | null;
  action: string;
  dagId: string | null;
  runId: string | null;
  target: string | null;
  before: unknown;
  after: unknown;
  outcome: string | null;
}

/** What a change tells its audit entry: the part of the entry only the transaction knows. */
export interface AuditChange {
  dagId?: string | null;
  runId?: string | null;
  target?: string | null;
  before?: unknown;
  after?: unknown;
  outcome?: "success" | "failure" | null;
  /**
   * Fields of before/after whose values are secret whatever their name (a connection's `extra`, a
   * secret variable's `value`): replaced by "***" like the fields whose names look sensitive.
   */
  secretFields?: readonly string[];
}

/**
 * Writes the entry of a change inside the change's transaction: the store's and the engine's operations
 * take one as an optional last argument and call it once the change is written, with what they saw.
 * The application layer makes them (who, from where, which operation: app/audit.ts).
 */
export type AuditHook = ((tx: Tx, change: AuditChange) => Promise<void>) & {
  /** Who acts: recorded on what the change touches too (`runs.triggered_by`, `task_instances.changed_by`). */
  readonly actor: string;
};

export interface AuditFilter {
  actor?: string;
  dagId?: string;
  action?: string;
  /** Entries at or after this time (ms). */
  since?: number;
  /**
   * Which entries the reader may see (app/audit.ts `auditScope`): null, all; otherwise only entries
   * about a DAG — any DAG ("any"), or these DAGs.
   */
  dags?: "any" | readonly string[] | null;
}

const parse = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));
const text = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));

/** @internal Constructed by the Store (`store.audit`) and by each transaction (`tx.audit`). */
export class AuditRows {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly ctx: StoreContext,
  ) {}

  /** Append one entry (time: the database's on PostgreSQL); returns its id. */
  async append(e: AuditEntry): Promise<number> {
    // leaseNow: the store's clock as a parameter (SQLite), or PostgreSQL's clock as an expression
    const now = this.ctx.leaseNow();
    const atExpr = now.params.length ? sql<number>`${now.params[0]!}` : sql<number>`${sql.raw(now.expr)}`;
    const r = await this.db
      .insertInto("audit_log")
      .values({
        at: atExpr,
        actor: e.actor,
        via: e.via,
        ip: e.ip ?? null,
        user_agent: e.userAgent ?? null,
        action: e.action,
        dag_id: e.dagId ?? null,
        run_id: e.runId ?? null,
        target: e.target ?? null,
        before: text(e.before),
        after: text(e.after),
        outcome: e.outcome ?? null,
      })
      .returning("id")
      .executeTakeFirstOrThrow();
    return Number(r.id);
  }

  /** Entries newest first, after the cursor (the last row's `at` and `id`). */
  async page(f: AuditFilter & { limit: number; after: { at: number; id: number } | null }): Promise<AuditRecord[]> {
    let q = this.db.selectFrom("audit_log").selectAll();
    if (f.actor !== undefined) q = q.where("actor", "=", f.actor);
    if (f.dagId !== undefined) q = q.where("dag_id", "=", f.dagId);
    if (f.action !== undefined) q = q.where("action", "=", f.action);
    if (f.since !== undefined) q = q.where("at", ">=", f.since);
    if (f.dags === "any") q = q.where("dag_id", "is not", null);
    else if (f.dags) {
      if (f.dags.length === 0) return [];
      q = q.where("dag_id", "in", [...f.dags]);
    }
    if (f.after) {
      const a = f.after;
      q = q.where((eb) => eb.or([eb("at", "<", a.at), eb.and([eb("at", "=", a.at), eb("id", "<", a.id)])]));
    }
    const rows = await q.orderBy("at", "desc").orderBy("id", "desc").limit(f.limit).execute();
    return rows.map((r) => ({
      id: Number(r.id),
      at: Number(r.at),
      actor: r.actor,
      via: r.via as AuditVia,
      ip: r.ip,
      userAgent: r.user_agent,
      action: r.action,
      dagId: r.dag_id,
      runId: r.run_id,
      target: r.target,
      before: parse(r.before),
      after: parse(r.after),
      outcome: r.outcome,
    }));
  }

  /** Retention (`sluice db clean --audit-older-than`): delete entries older than `cutoff`; returns how many. */
  async deleteOlderThan(cutoff: number): Promise<number> {
    const r = await this.db.deleteFrom("audit_log").where("at", "<", cutoff).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
