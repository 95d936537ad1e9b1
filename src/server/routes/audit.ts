/** The audit log (app/audit): who changed what, newest first; non-admins see entries about DAGs they may read. */
import { z } from "zod";
import { listAudit, parseSince } from "../../app/audit.js";
import type { AuditRecord } from "../../store/audit.js";
import { decodeCursor, page } from "../cursor.js";
import { pagination, query, route, type Route } from "../route.js";
import { auditEntrySchema, list } from "../schemas.js";

export function auditView(e: AuditRecord): Record<string, unknown> {
  return {
    id: e.id,
    at: e.at,
    actor: e.actor,
    via: e.via,
    ip: e.ip,
    userAgent: e.userAgent,
    action: e.action,
    dagId: e.dagId,
    runId: e.runId,
    target: e.target,
    before: e.before,
    after: e.after,
    outcome: e.outcome,
  };
}

export function auditRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/audit",
      response: list(auditEntrySchema),
      access: listAudit.role,
      tag: "audit",
      summary: "Audit log entries, newest first (admins: all; others: entries about DAGs they may read). since: a duration back (24h, 7d) or an ISO time",
      query: query({
        ...pagination,
        user: z.string().max(200).optional(),
        dagId: z.string().max(200).optional(),
        action: z.string().max(100).optional(),
        since: z.string().max(100).optional(),
      }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[number, number]>(q.cursor, ["number", "number"]);
        const rows = await listAudit(env.sluice, actor!, {
          ...(q.user !== undefined ? { actor: q.user } : {}),
          ...(q.dagId !== undefined ? { dagId: q.dagId } : {}),
          ...(q.action !== undefined ? { action: q.action } : {}),
          ...(q.since !== undefined ? { since: parseSince(q.since, env.sluice.store.now()) } : {}),
          limit: q.limit + 1,
          after: after && { at: after[0], id: after[1] },
        });
        return page(rows, q.limit, auditView, (e) => [e.at, e.id]);
      },
    }),
  ];
}
