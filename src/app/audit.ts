/**
 * Reading the audit log, its retention, and the entries of logins (which have no actor yet). Who may read
 * which entries is `auditScope`, the one place that decides it.
 */
import { parseDuration } from "../core/duration.js";
import { SluiceError } from "../errors.js";
import type { Sluice } from "../sluice.js";
import type { AuditFilter, AuditRecord } from "../store/audit.js";
import { dagIdsWith } from "./access.js";
import { operation, type Actor, type RequestOrigin } from "./actor.js";
import type { AuditHook } from "../store/audit.js";
import { auditEntry, auditHook } from "./auditEntry.js";

/**
 * Which entries `actor` may read: admins all of them; anyone else only entries about DAGs they may read
 * (global role or grants: app/access.ts). Entries about users, tokens, pools, grants, logins and retention
 * name no DAG: they are the admins'.
 */
export async function auditScope(_s: Sluice, actor: Actor): Promise<AuditFilter["dags"]> {
  if (actor.role === "admin") return null;
  const ids = await dagIdsWith(actor, "viewer");
  return ids === null ? "any" : ids;
}

export interface AuditQuery {
  actor?: string;
  dagId?: string;
  action?: string;
  /** Entries at or after this time (ms). */
  since?: number;
  limit: number;
  /** The last entry of the previous page. */
  after?: { at: number; id: number } | null;
}

/**
 * A listing's `since`, for the CLI and the API alike: a duration back from `now` ("24h", "7d", "1h30m")
 * or an ISO date or time ("2026-12-01", "2026-12-01T08:00:00Z"). `field` names it in the message.
 */
export function parseSince(text: string, now: number, field = "since"): number {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  } else {
    try {
      return now - parseDuration(t, field);
    } catch {
      // the message below covers both forms
    }
  }
  throw new SluiceError("INVALID_INPUT", `${field}: "${text}" is neither a duration ("24h", "7d") nor an ISO date or time ("2026-12-01", "2026-12-01T08:00:00Z")`, { details: { field } });
}

/** Audit entries, newest first, that the actor may read (`auditScope`). */
export const listAudit = operation("audit.list", "none", async (s: Sluice, actor, q: AuditQuery): Promise<AuditRecord[]> => {
  return s.store.audit.page({
    ...(q.actor !== undefined ? { actor: q.actor } : {}),
    ...(q.dagId !== undefined ? { dagId: q.dagId } : {}),
    ...(q.action !== undefined ? { action: q.action } : {}),
    ...(q.since !== undefined ? { since: q.since } : {}),
    dags: await auditScope(s, actor),
    limit: q.limit,
    after: q.after ?? null,
  });
});

/**
 * Retention (`sluice db clean --audit-older-than`): delete the entries older than `olderThanMs` (by the
 * database's clock on PostgreSQL, the clock entries are written with), and record that in one entry of
 * its own, in the same transaction — the log says when and by whom it was shortened.
 */
export const cleanAudit = operation("audit.clean", "admin", async (s: Sluice, _actor, input: { olderThanMs: number }, audit): Promise<{ deleted: number; cutoff: string }> => {
  const cutoffMs = (await s.store.leaseTime()) - input.olderThanMs;
  const cutoff = new Date(cutoffMs).toISOString();
  return s.store.tx(async (tx) => {
    const deleted = await tx.audit.deleteOlderThan(cutoffMs);
    await audit(tx, { target: "audit_log", before: null, after: { deleted, cutoff } });
    return { deleted, cutoff };
  });
});

/** The actor of a login: the user name given (it may not exist), from where the request came. */
export function loginActor(username: string, from: RequestOrigin): Actor {
  return { via: "session", name: username, role: "viewer", ip: from.ip, userAgent: from.userAgent };
}

/**
 * The hook of what Sluice does by itself that a reviewer still wants on record: the first admin, created
 * at the first start (actor "sluice", via system).
 */
export function systemAudit(action: string): AuditHook {
  return auditHook({ name: "sluice", via: "system" }, action);
}

/** The audit hook of a successful login: the session is opened and recorded in one transaction (Auth.openSession). */
export function loginAudit(username: string, from: RequestOrigin): AuditHook {
  return auditHook(loginActor(username, from), "auth.login");
}

/**
 * A failed login: one entry (outcome failure) naming the user name tried — never the password. Logins
 * refused by the rate limit are not recorded: they check no password, and recording them would let
 * anyone fill the log at the speed of requests (the failures that led to the limit are recorded).
 */
export async function recordFailedLogin(s: Sluice, username: string, from: RequestOrigin): Promise<void> {
  await s.store.audit.append(auditEntry(loginActor(username, from), "auth.login", { target: username, outcome: "failure" }));
}
