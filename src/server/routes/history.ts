/**
 * Runs and task instances across DAGs, and the dashboard (app/history.ts): lists with filters (DAG, state,
 * run type, logical-date range, who triggered) in keyset pages, and the last hours at a glance. Per-DAG
 * (app/access.ts): only the runs of DAGs the caller may read.
 */
import { z } from "zod";
import { listRuns, listTaskInstances, recentRuns } from "../../app/history.js";
import { RUN_STATES, TASK_STATES } from "../../core/states.js";
import { decodeCursor, page } from "../cursor.js";
import { pagination, query, route, type Route } from "../route.js";
import { dashboardSchema, list, runSchema, taskInstanceRowSchema } from "../schemas.js";
import { runView, taskInstanceView } from "../views.js";

/** A time in a query string: epoch ms or an ISO 8601 date-time. */
const time = z
  .string()
  .max(40)
  .transform((v, ctx) => {
    const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isFinite(t)) {
      ctx.addIssue({ code: "custom", message: `not a time: ${JSON.stringify(v)} (epoch ms or ISO 8601)` });
      return z.NEVER;
    }
    return t;
  });

const runFilters = {
  ...pagination,
  dagId: z.string().max(200).optional(),
  runType: z.string().max(40).optional(),
  from: time.optional().describe("logical date at or after (epoch ms or ISO 8601)"),
  to: time.optional().describe("logical date at or before (epoch ms or ISO 8601)"),
  triggeredBy: z.string().max(200).optional().describe("the user or token that triggered the run"),
};

/** The filter fields that are set, for the application layer. */
function filters(q: { dagId?: string | undefined; runType?: string | undefined; from?: number | undefined; to?: number | undefined; triggeredBy?: string | undefined }) {
  return {
    ...(q.dagId !== undefined ? { dagId: q.dagId } : {}),
    ...(q.runType !== undefined ? { runType: q.runType } : {}),
    ...(q.from !== undefined ? { from: q.from } : {}),
    ...(q.to !== undefined ? { to: q.to } : {}),
    ...(q.triggeredBy !== undefined ? { triggeredBy: q.triggeredBy } : {}),
  };
}

export const DASHBOARD_LIMIT = 20;

export function historyRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/runs",
      response: list(runSchema),
      access: "viewer",
      scope: "dag",
      tag: "runs",
      summary: "Runs of every DAG, newest first, filtered by DAG, state, run type, logical-date range (from, to) and who triggered them",
      query: query({ ...runFilters, state: z.enum(RUN_STATES).optional() }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[number, string]>(q.cursor, ["number", "string"]);
        const rows = await listRuns(env.sluice, actor!, {
          ...filters(q),
          ...(q.state !== undefined ? { state: q.state } : {}),
          limit: q.limit + 1,
          after: after && { createdAt: after[0], runId: after[1] },
        });
        return page(rows, q.limit, runView, (r) => [r.createdAt, r.runId]);
      },
    }),
    route({
      method: "get",
      path: "/task-instances",
      response: list(taskInstanceRowSchema),
      access: "viewer",
      scope: "dag",
      tag: "tasks",
      summary: "Task instances of every DAG's runs, newest run first, filtered by DAG, task, state, run type, logical-date range and who triggered the run",
      query: query({ ...runFilters, taskId: z.string().max(200).optional(), state: z.enum(TASK_STATES).optional() }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[number, string, string, number]>(q.cursor, ["number", "string", "string", "number"]);
        const rows = await listTaskInstances(env.sluice, actor!, {
          ...filters(q),
          ...(q.state !== undefined ? { state: q.state } : {}),
          ...(q.taskId !== undefined ? { taskId: q.taskId } : {}),
          limit: q.limit + 1,
          after: after && { createdAt: after[0], runId: after[1], taskId: after[2], mapIndex: after[3] },
        });
        return page(
          rows,
          q.limit,
          (t) => ({ ...taskInstanceView(t), runId: t.runId, dagId: t.dagId, logicalDate: t.logicalDate, runType: t.runType }),
          (t) => [t.runCreatedAt, t.runId, t.taskId, t.mapIndex],
        );
      },
    }),
    route({
      method: "get",
      path: "/dashboard",
      response: dashboardSchema,
      access: "viewer",
      scope: "dag",
      tag: "runs",
      summary: `The last hours at a glance (default 24): runs failed since then, running and queued now, late (a deadline missed since then, or active past their deadline); the newest ${DASHBOARD_LIMIT} of each and the counts`,
      query: query({ hours: z.coerce.number().int().min(1).max(24 * 30).default(24) }),
      async handler({ env, actor, query: q }) {
        const at = env.sluice.store.now();
        const since = at - q.hours * 3_600_000;
        const r = await recentRuns(env.sluice, actor!, { since, limit: DASHBOARD_LIMIT });
        return {
          since,
          at,
          counts: r.counts,
          failed: r.failed.map(runView),
          running: r.running.map(runView),
          queued: r.queued.map(runView),
          late: r.late.map((l) => ({ ...runView(l.run), missedAt: l.missedAt, lateBy: l.run.deadlineAt !== null && l.run.deadlineAt <= at && l.run.endedAt === null ? at - l.run.deadlineAt : null })),
        };
      },
    }),
  ];
}
