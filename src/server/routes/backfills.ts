/**
 * Backfills: list, create (driven by this server process), progress, cancel. Per-DAG (app/access.ts): the
 * list holds the backfills of DAGs the caller may read; one of a DAG it may not read is not found.
 */
import { z } from "zod";
import { canRead, dagIdsWith, requireRoleOn } from "../../app/access.js";
import type { Actor } from "../../app/actor.js";
import { cancelBackfill, createBackfill, planBackfill } from "../../app/backfills.js";
import { REPROCESS_BEHAVIOURS } from "../../core/backfill.js";
import { MAX_BACKFILL_INTERVALS } from "../../engine/backfill.js";
import { SluiceError } from "../../errors.js";
import { decodeCursor, page } from "../cursor.js";
import { body, pagination, query, route, type ApiEnv, type Route } from "../route.js";
import { backfillView } from "../views.js";
import { backfillPlanSchema, backfillSchema, list } from "../schemas.js";

/** Path ids of backfills are decimal integers, nothing else. */
function backfillIdOf(raw: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) throw new SluiceError("INVALID_INPUT", `id: must be a positive integer, got ${JSON.stringify(raw.slice(0, 50))}`, { details: { field: "id" } });
  return Number(raw);
}

/** The backfill when the actor may read its DAG; BACKFILL_NOT_FOUND alike when missing or not readable. */
async function requireBackfill(env: ApiEnv, actor: Actor, raw: string) {
  const notFound = () => new SluiceError("BACKFILL_NOT_FOUND", `backfill ${raw} not found`);
  const b = await env.sluice.store.backfills.get(backfillIdOf(raw));
  if (!b) throw notFound();
  await requireRoleOn(actor, b.dagId, "viewer", notFound);
  return b;
}

export function backfillRoutes(drive: (backfillId: number) => void): Route[] {
  return [
    route({
      method: "get",
      path: "/backfills",
      response: list(backfillSchema),
      access: "viewer",
      scope: "dag",
      tag: "backfills",
      summary: "Backfills, newest first",
      query: query({ ...pagination, dagId: z.string().max(200).optional() }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[number]>(q.cursor, ["number"]);
        if (q.dagId !== undefined && !(await canRead(actor!, q.dagId))) return { items: [], nextCursor: null };
        const readable = q.dagId === undefined ? await dagIdsWith(actor!) : null;
        const rows = await env.sluice.store.backfills.page({
          ...(q.dagId !== undefined ? { dagId: q.dagId } : {}),
          ...(readable !== null ? { dagIds: readable } : {}),
          limit: q.limit + 1,
          after: after?.[0] ?? null,
        });
        return page(rows, q.limit, (b) => backfillView(b), (b) => [b.backfillId]);
      },
    }),
    route({
      method: "post",
      path: "/backfills",
      response: backfillSchema,
      otherResponses: { 200: { description: "dryRun: the plan, nothing created", schema: backfillPlanSchema } },
      access: createBackfill.role,
      scope: "dag",
      tag: "backfills",
      summary: `Backfill a DAG's data intervals starting in [from, to] (at most ${MAX_BACKFILL_INTERVALS}); dryRun: the plan only. The server drives it; workers run its tasks`,
      status: 201,
      body: body({
        dagId: z.string().min(1).max(200),
        from: z.number().int().min(0),
        to: z.number().int().min(0),
        reprocess: z.enum(REPROCESS_BEHAVIOURS as ["missing", "failed", "all"]).optional(),
        maxActive: z.number().int().min(1).max(1000).optional(),
        runBackwards: z.boolean().optional(),
        dryRun: z.boolean().optional(),
      }),
      async handler({ c, env, actor, body: b }) {
        const req = {
          dagId: b.dagId,
          from: b.from,
          to: b.to,
          ...(b.reprocess !== undefined ? { reprocess: b.reprocess } : {}),
          ...(b.maxActive !== undefined ? { maxActive: b.maxActive } : {}),
          ...(b.runBackwards !== undefined ? { runBackwards: b.runBackwards } : {}),
        };
        if (b.dryRun) {
          const plan = await planBackfill(env.sluice, actor!, req);
          const shown = plan.intervals.slice(0, 1000);
          return c.json({ dryRun: true, dagId: plan.dagId, from: plan.from, to: plan.to, reprocess: plan.reprocess, incomplete: plan.incomplete, total: plan.intervals.length, intervals: shown }, 200);
        }
        const { backfill } = await createBackfill(env.sluice, actor!, req);
        drive(backfill.backfillId);
        return backfillView(backfill, await env.sluice.store.backfills.counts(backfill.backfillId));
      },
    }),
    route({
      method: "get",
      path: "/backfills/:id",
      response: backfillSchema,
      access: "viewer",
      scope: "dag",
      tag: "backfills",
      summary: "A backfill with its progress: total, done, succeeded, failed, running, pending, skipped",
      async handler({ env, actor, params }) {
        const b = await requireBackfill(env, actor!, params["id"]!);
        return backfillView(b, await env.sluice.store.backfills.counts(b.backfillId));
      },
    }),
    route({
      method: "post",
      path: "/backfills/:id/cancel",
      response: backfillSchema,
      access: cancelBackfill.role,
      scope: "dag",
      tag: "backfills",
      summary: "Cancel a backfill: no more of its runs start; running ones finish",
      async handler({ env, actor, params }) {
        const after = await cancelBackfill(env.sluice, actor!, { backfillId: backfillIdOf(params["id"]!) });
        return backfillView(after, await env.sluice.store.backfills.counts(after.backfillId));
      },
    }),
  ];
}
