/**
 * The dead-letter queue (docs/operations.md): list (filters by DAG, state, run; keyset pages, newest
 * first), show, and retry or discard one entry or many. Per-DAG (app/access.ts): the list holds the
 * entries of DAGs the caller may read, one of a DAG it may not read is not found, and acting needs the
 * operator role on the entry's DAG. A bulk request answers 200 with each id's outcome (one refused or
 * resolved id does not undo the others); a caller without the operator role anywhere gets 403.
 */
import { z } from "zod";
import { DEAD_LETTER_STATES } from "../../core/deadLetters.js";
import { bulkDeadLetters, discardDeadLetter, getDeadLetter, listDeadLetters, MAX_BULK, retryDeadLetter } from "../../app/deadLetters.js";
import { SluiceError } from "../../errors.js";
import type { DeadLetterRecord } from "../../store/deadLetters.js";
import { decodeCursor, page } from "../cursor.js";
import { body, pagination, query, route, type Route } from "../route.js";
import { deadLetterBulkSchema, deadLetterSchema, list } from "../schemas.js";

/** Path ids are decimal integers, nothing else. */
function idOf(raw: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) throw new SluiceError("INVALID_INPUT", `id: must be a positive integer, got ${JSON.stringify(raw.slice(0, 50))}`, { details: { field: "id" } });
  return Number(raw);
}

/** An entry as the API shows it. */
export function deadLetterView(e: DeadLetterRecord): Record<string, unknown> {
  return {
    id: e.id,
    dagId: e.dagId,
    runId: e.runId,
    taskId: e.taskId,
    mapIndex: e.mapIndex,
    state: e.state,
    reason: e.reason,
    parked: e.parked,
    attempts: e.attempts,
    tryNumber: e.tryNumber,
    attemptId: e.attemptId,
    error: e.errorCode === null && e.errorMessage === null ? null : { code: e.errorCode, message: e.errorMessage },
    inputs: e.inputs.inputs,
    createdAt: e.createdAt,
    resolvedAt: e.resolvedAt,
    resolvedBy: e.resolvedBy,
  };
}

const ids = body({ ids: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(MAX_BULK) });

export function deadLetterRoutes(): Route[] {
  const bulk = (action: "retry" | "discard") =>
    route({
      method: "post",
      path: `/dlq/${action}`,
      response: deadLetterBulkSchema,
      access: "operator",
      scope: "dag",
      tag: "dlq",
      summary:
        action === "retry"
          ? "Retry dead letters: each instance and its downstream are cleared with a fresh set of retries; their runs resume. Each id's outcome"
          : "Discard dead letters: acknowledged, kept for history; their runs are left as they are. Each id's outcome",
      body: ids,
      async handler({ env, actor, body: b }) {
        const out = await bulkDeadLetters(env.sluice, actor!, action, b.ids);
        return {
          results: out.map((o) => (o.ok ? { id: o.id, ok: true, entry: deadLetterView(o.entry) } : { id: o.id, ok: false, error: { code: o.error.code, message: o.error.message } })),
          succeeded: out.filter((o) => o.ok).length,
          failed: out.filter((o) => !o.ok).length,
        };
      },
    });
  return [
    route({
      method: "get",
      path: "/dlq",
      response: list(deadLetterSchema),
      access: "viewer",
      scope: "dag",
      tag: "dlq",
      summary: "Dead letters (task instances that failed after their last try), newest first",
      query: query({
        ...pagination,
        dagId: z.string().max(200).optional(),
        runId: z.string().max(200).optional(),
        state: z.enum(DEAD_LETTER_STATES).optional(),
      }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[number]>(q.cursor, ["number"]);
        const rows = await listDeadLetters(env.sluice, actor!, {
          ...(q.dagId !== undefined ? { dagId: q.dagId } : {}),
          ...(q.runId !== undefined ? { runId: q.runId } : {}),
          ...(q.state !== undefined ? { state: q.state } : {}),
          limit: q.limit + 1,
          after: after?.[0] ?? null,
        });
        return page(rows, q.limit, deadLetterView, (e) => [e.id]);
      },
    }),
    route({
      method: "get",
      path: "/dlq/:id",
      response: deadLetterSchema,
      access: "viewer",
      scope: "dag",
      tag: "dlq",
      summary: "One dead letter",
      async handler({ env, actor, params }) {
        return deadLetterView(await getDeadLetter(env.sluice, actor!, idOf(params["id"]!)));
      },
    }),
    bulk("retry"),
    bulk("discard"),
    route({
      method: "post",
      path: "/dlq/:id/retry",
      response: deadLetterSchema,
      access: retryDeadLetter.role,
      scope: "dag",
      tag: "dlq",
      summary: "Retry one dead letter (409 when it is resolved already)",
      async handler({ env, actor, params }) {
        return deadLetterView(await retryDeadLetter(env.sluice, actor!, { id: idOf(params["id"]!) }));
      },
    }),
    route({
      method: "post",
      path: "/dlq/:id/discard",
      response: deadLetterSchema,
      access: discardDeadLetter.role,
      scope: "dag",
      tag: "dlq",
      summary: "Discard one dead letter (409 when it is resolved already)",
      async handler({ env, actor, params }) {
        return deadLetterView(await discardDeadLetter(env.sluice, actor!, { id: idOf(params["id"]!) }));
      },
    }),
  ];
}
