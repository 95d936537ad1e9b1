/**
 * Runs (list, detail, trigger, cancel), task instances, attempts, clear, mark, inputs and outputs. Changes
 * are app/runs operations. All per-DAG (app/access.ts): lists hold the runs of DAGs the caller may read; a
 * run or attempt of a DAG it may not read is not found, the same answer as for one that does not exist.
 */
import type { Context } from "hono";
import { z } from "zod";
import { decodeOutput, toPreview } from "../../artifacts/serialize.js";
import { dagNotReadable, requireRoleOn } from "../../app/access.js";
import type { Actor } from "../../app/actor.js";
import { cancelRun, clearTasks, markTasks, NOTE_MAX_CHARS, setNote, triggerRun } from "../../app/runs.js";
import { RUN_STATES } from "../../core/states.js";
import { perIndex } from "../../core/mapGroups.js";
import { SluiceError, isSluiceError } from "../../errors.js";
import { decodeCursor, page } from "../cursor.js";
import { body, mapIndexParam, notFound, pagination, query, route, type ApiEnv, type Route } from "../route.js";
import { attemptView, callbackView, deadlineMissView, runView, taskInstanceView } from "../views.js";
import { attemptDetailSchema, attemptSchema, clearResultSchema, list, markResultSchema, noteSchema, outputSchema, previewSchema, runAttemptSchema, runDetailSchema, runSchema, runTaskInstanceSchema } from "../schemas.js";

/** Previews of outputs and inputs stop here: the UI shows a preview, the download is the artifact. */
export const PREVIEW_CHARS = 64 * 1024;

export function preview(value: unknown): { preview: string; truncated: boolean } {
  let text: string;
  try {
    text = JSON.stringify(toPreview(value), null, 2) ?? "null";
  } catch {
    text = String(value);
  }
  return text.length > PREVIEW_CHARS ? { preview: text.slice(0, PREVIEW_CHARS), truncated: true } : { preview: text, truncated: false };
}

const runsQuery = { ...pagination, state: z.enum(RUN_STATES).optional(), runType: z.string().max(40).optional() };

async function listRuns(env: ApiEnv, q: { limit: number; cursor?: string; state?: string; runType?: string }, dagId: string) {
  const after = decodeCursor<[number, string]>(q.cursor, ["number", "string"]);
  const rows = await env.sluice.store.runs.page({
    dagId,
    ...(q.state !== undefined ? { state: q.state } : {}),
    ...(q.runType !== undefined ? { runType: q.runType } : {}),
    limit: q.limit + 1,
    after: after && { createdAt: after[0], runId: after[1] },
  });
  return page(rows, q.limit, runView, (r) => [r.createdAt, r.runId]);
}

/** The run when the actor may read its DAG; RUN_NOT_FOUND alike when it is missing or not readable. */
async function requireRun(env: ApiEnv, actor: Actor, runId: string) {
  const notFound = () => new SluiceError("RUN_NOT_FOUND", `run "${runId}" not found`, { details: { runId } });
  const run = await env.sluice.store.runs.get(runId);
  if (!run) throw notFound();
  await requireRoleOn(actor, run.dagId, "viewer", notFound);
  return run;
}

async function requireTask(env: ApiEnv, runId: string, taskId: string) {
  const idx = await env.sluice.engine.specFor(runId);
  const task = idx.byId.get(taskId);
  if (!task) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task "${taskId}"`, { details: { runId, taskId } });
  return task;
}

/** Path ids of attempts are decimal integers, nothing else (they never become paths themselves). */
export function attemptIdOf(raw: string): number {
  if (!/^[1-9][0-9]{0,15}$/.test(raw)) throw new SluiceError("INVALID_INPUT", `attemptId: must be a positive integer, got ${JSON.stringify(raw.slice(0, 50))}`, { details: { field: "attemptId" } });
  return Number(raw);
}

/**
 * The attempt with this path id and its run's DAG, when the actor may read that DAG; a missing attempt, a
 * missing run and an unreadable DAG are the same 404 (the attempt routes here and in logs.ts).
 */
export async function requireAttempt(env: ApiEnv, actor: Actor, rawId: string) {
  const id = attemptIdOf(rawId);
  const a = await env.sluice.store.attempts.get(id);
  if (!a) throw notFound("attempt", id);
  const run = await env.sluice.store.runs.get(a.runId);
  if (!run) throw notFound("attempt", id);
  await requireRoleOn(actor, run.dagId, "viewer", () => notFound("attempt", id));
  return { id, a, dagId: run.dagId };
}

/** Param errors as 422 with one entry per field. */
function paramsRejected(c: Context, e: SluiceError): Response {
  const issues = (e.details["issues"] as { path?: string; message: string }[] | undefined) ?? [];
  const fields = issues.length ? issues.map((i) => ({ path: i.path ?? "", message: i.message })) : [{ path: typeof e.details["param"] === "string" ? e.details["param"] : "", message: e.message }];
  return c.json({ code: e.code, message: e.message, fields }, 422);
}

export function runRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/dags/:dagId/runs",
      response: list(runSchema),
      access: "viewer",
      scope: "dag",
      tag: "runs",
      summary: "Runs of a DAG, newest first",
      query: query(runsQuery),
      async handler({ env, actor, params, query: q }) {
        const dagId = params["dagId"]!;
        await requireRoleOn(actor!, dagId, "viewer");
        if (!(await env.sluice.store.dags.get(dagId))) throw dagNotReadable(dagId);
        return listRuns(env, q, dagId);
      },
    }),
    route({
      method: "post",
      path: "/dags/:dagId/runs",
      response: runSchema,
      access: triggerRun.role,
      scope: "dag",
      tag: "runs",
      summary: "Trigger a run (422 with `fields` when params are invalid); the same idempotencyKey returns the existing run",
      status: 201,
      body: body({ params: z.record(z.string(), z.unknown()).optional(), logicalDate: z.number().int().min(0).max(8.64e15).optional(), idempotencyKey: z.string().min(1).max(200).optional(), noCache: z.boolean().optional() }),
      async handler({ c, env, actor, params, body: b }) {
        try {
          const run = await triggerRun(env.sluice, actor!, {
            dagId: params["dagId"]!,
            params: b.params ?? {},
            ...(b.logicalDate !== undefined ? { logicalDate: new Date(b.logicalDate) } : {}),
            ...(b.idempotencyKey !== undefined ? { idempotencyKey: b.idempotencyKey } : {}),
            ...(b.noCache ? { noCache: true } : {}),
          });
          return runView(run);
        } catch (e) {
          if (isSluiceError(e, "INVALID_PARAM")) return paramsRejected(c, e);
          throw e;
        }
      },
    }),
    route({
      method: "get",
      path: "/runs/:runId",
      response: runDetailSchema,
      access: "viewer",
      scope: "dag",
      tag: "runs",
      summary: "A run, with its deadline misses, its callbacks (decision 0019) and parkedTasks: its failed instances parked in the dead-letter queue",
      handler: async ({ env, actor, params }) => {
        const run = await requireRun(env, actor!, params["runId"]!);
        const store = env.sluice.store;
        const [misses, callbacks, parkedTasks, note] = await Promise.all([store.deadlines.ofRun(run.runId), store.callbacks.ofRun(run.runId), store.deadLetters.parkedOfRun(run.runId), store.notes.ofRun(run.runId)]);
        // parkedTasks: failed instances parked in the dead-letter queue (`deadLetter: "park"`): a run that succeeded with them says so
        return { ...runView(run), deadlineMisses: misses.map(deadlineMissView), callbacks: callbacks.map(callbackView), parkedTasks, note };
      },
    }),
    route({
      method: "put",
      path: "/runs/:runId/note",
      response: noteSchema,
      access: setNote.role,
      scope: "dag",
      tag: "runs",
      summary: `Set the run's note (markdown, at most ${NOTE_MAX_CHARS} characters; "" removes it), recorded with who wrote it and when`,
      body: body({ note: z.string() }),
      handler: async ({ env, actor, params, body: b }) => {
        await requireRun(env, actor!, params["runId"]!);
        return setNote(env.sluice, actor!, { runId: params["runId"]!, note: b.note });
      },
    }),
    route({
      method: "put",
      path: "/runs/:runId/tasks/:taskId/note",
      response: noteSchema,
      access: setNote.role,
      scope: "dag",
      tag: "tasks",
      summary: `Set a task instance's note (mapIndex for a mapped one; markdown, at most ${NOTE_MAX_CHARS} characters; "" removes it)`,
      body: body({ note: z.string(), mapIndex: mapIndexParam.optional() }),
      handler: async ({ env, actor, params, body: b }) => {
        await requireRun(env, actor!, params["runId"]!);
        return setNote(env.sluice, actor!, { runId: params["runId"]!, taskId: params["taskId"]!, note: b.note, ...(b.mapIndex !== undefined ? { mapIndex: b.mapIndex } : {}) });
      },
    }),
    route({
      method: "post",
      path: "/runs/:runId/cancel",
      response: runSchema,
      access: cancelRun.role,
      scope: "dag",
      tag: "runs",
      summary: "Cancel a run: running tasks are aborted, the rest skipped (409 when it has finished)",
      handler: async ({ env, actor, params }) => runView(await cancelRun(env.sluice, actor!, { runId: params["runId"]! })),
    }),
    route({
      method: "get",
      path: "/runs/:runId/tasks",
      response: list(runTaskInstanceSchema),
      access: "viewer",
      scope: "dag",
      tag: "tasks",
      summary: "Task instances of a run by task id (mapped tasks: one row per map index)",
      query: query({ ...pagination }),
      async handler({ env, actor, params, query: q }) {
        const run = await requireRun(env, actor!, params["runId"]!);
        const after = decodeCursor<[string, number]>(q.cursor, ["string", "number"]);
        const rows = await env.sluice.store.taskInstances.page(run.runId, { limit: q.limit + 1, after: after && { taskId: after[0], mapIndex: after[1] } });
        // ready instances that no live worker can take say why (waitingReason; null otherwise)
        const why = run.state === "running" ? await env.sluice.engine.waitingReasons(run.runId, rows.slice(0, q.limit)) : new Map<string, string>();
        // the run's notes: a handful at most, one primary-key range
        const notes = new Map((await env.sluice.store.notes.ofTasks(run.runId)).map((n) => [`${n.taskId}\0${n.mapIndex}`, { note: n.note, updatedBy: n.updatedBy, updatedAt: n.updatedAt }]));
        return page(rows, q.limit, (t) => ({ ...taskInstanceView(t), waitingReason: why.get(`${t.taskId}\0${t.mapIndex}`) ?? null, note: notes.get(`${t.taskId}\0${t.mapIndex}`) ?? null }), (t) => [t.taskId, t.mapIndex]);
      },
    }),
    route({
      method: "get",
      path: "/runs/:runId/tasks/:taskId/attempts",
      response: list(attemptSchema),
      access: "viewer",
      scope: "dag",
      tag: "tasks",
      summary: "Attempts of a task instance, oldest first",
      query: query({ ...pagination, mapIndex: mapIndexParam.optional() }),
      async handler({ env, actor, params, query: q }) {
        const run = await requireRun(env, actor!, params["runId"]!);
        await requireTask(env, run.runId, params["taskId"]!);
        const after = decodeCursor<[number]>(q.cursor, ["number"]);
        // attempts of one task are few (retries + 1 per clear): filtered here, in attempt order
        const all = (await env.sluice.store.attempts.list(run.runId, params["taskId"], q.mapIndex)).sort((a, b) => a.attemptId - b.attemptId);
        const rows = all.filter((a) => !after || a.attemptId > after[0]).slice(0, q.limit + 1);
        return page(rows, q.limit, attemptView, (a) => [a.attemptId]);
      },
    }),
    route({
      method: "get",
      path: "/runs/:runId/attempts",
      response: list(runAttemptSchema),
      access: "viewer",
      scope: "dag",
      tag: "tasks",
      summary: "Every attempt of a run (retries and clears included), by task, map index and try: the timeline's data",
      query: query({ ...pagination }),
      async handler({ env, actor, params, query: q }) {
        const run = await requireRun(env, actor!, params["runId"]!);
        const after = decodeCursor<[number]>(q.cursor, ["number"]);
        // paged by attempt id, the order attempts were made in
        const all = (await env.sluice.store.attempts.list(run.runId)).sort((a, b) => a.attemptId - b.attemptId);
        const rows = all.filter((a) => !after || a.attemptId > after[0]).slice(0, q.limit + 1);
        return page(rows, q.limit, (a) => ({ ...attemptView(a), taskId: a.taskId, mapIndex: a.mapIndex }), (a) => [a.attemptId]);
      },
    }),
    route({
      method: "post",
      path: "/runs/:runId/tasks/:taskId/clear",
      response: clearResultSchema,
      access: clearTasks.role,
      scope: "dag",
      tag: "tasks",
      summary:
        "Clear a task instance (every map index, or mapIndex) so it runs again; downstream / upstream: the tasks after / before it too (whole); onlyFailed: only failed and upstream_failed instances; dryRun: the instances it would clear, changing nothing",
      body: body({ mapIndex: mapIndexParam.optional(), downstream: z.boolean().optional(), upstream: z.boolean().optional(), onlyFailed: z.boolean().optional(), dryRun: z.boolean().optional() }),
      handler: ({ env, actor, params, body: b }) =>
        clearTasks(env.sluice, actor!, {
          runId: params["runId"]!,
          taskIds: [params["taskId"]!],
          downstream: b.downstream ?? false,
          upstream: b.upstream ?? false,
          onlyFailed: b.onlyFailed ?? false,
          dryRun: b.dryRun ?? false,
          ...(b.mapIndex !== undefined ? { mapIndex: b.mapIndex } : {}),
        }),
    }),
    route({
      method: "post",
      path: "/runs/:runId/tasks/:taskId/mark",
      response: markResultSchema,
      access: markTasks.role,
      scope: "dag",
      tag: "tasks",
      summary:
        "Mark a task instance (every map index, or one) success, failed or skipped, with its downstream / upstream tasks; waiting downstream tasks are re-evaluated. dryRun: the instances it would change (run: null)",
      body: body({ state: z.enum(["success", "failed", "skipped"]), mapIndex: mapIndexParam.optional(), downstream: z.boolean().optional(), upstream: z.boolean().optional(), dryRun: z.boolean().optional() }),
      async handler({ env, actor, params, body: b }) {
        const r = await markTasks(env.sluice, actor!, {
          runId: params["runId"]!,
          taskId: params["taskId"]!,
          state: b.state,
          downstream: b.downstream ?? false,
          upstream: b.upstream ?? false,
          dryRun: b.dryRun ?? false,
          ...(b.mapIndex !== undefined ? { mapIndex: b.mapIndex } : {}),
        });
        return { dryRun: r.dryRun, marked: r.marked, instances: r.instances, run: r.run && runView(r.run) };
      },
    }),
    route({
      method: "get",
      path: "/runs/:runId/tasks/:taskId/inputs",
      response: z.strictObject({ inputs: z.record(z.string(), previewSchema) }),
      access: "viewer",
      scope: "dag",
      tag: "tasks",
      summary: "Previews of the values a task receives from its upstream tasks",
      query: query({ mapIndex: mapIndexParam.optional() }),
      async handler({ env, actor, params, query: q }) {
        const run = await requireRun(env, actor!, params["runId"]!);
        const task = await requireTask(env, run.runId, params["taskId"]!);
        const idx = await env.sluice.engine.specFor(run.runId);
        const inputs: Record<string, { preview: string; truncated: boolean }> = {};
        const mapIndex = q.mapIndex;
        for (const [name, upstream] of Object.entries(task.inputs)) {
          const up = idx.byId.get(upstream);
          // an instance of a task in a mapped group receives its upstream's instance of the same index (core/mapGroups.ts)
          if (up && mapIndex !== undefined && mapIndex >= 0 && perIndex(up, task)) {
            inputs[name] = preview((await env.sluice.engine.loadOutputs(run.runId, upstream, mapIndex))[0]);
            continue;
          }
          const values = await env.sluice.engine.loadOutputs(run.runId, upstream);
          inputs[name] = preview(up?.map ? values : values[0]);
        }
        return { inputs };
      },
    }),
    route({
      method: "get",
      path: "/attempts/:attemptId",
      response: attemptDetailSchema,
      access: "viewer",
      scope: "dag",
      tag: "tasks",
      summary: "An attempt by its id, with its run, DAG, task and map index (a cache hit's `cachedFrom` names such an id)",
      async handler({ env, actor, params }) {
        const { a, dagId } = await requireAttempt(env, actor!, params["attemptId"]!);
        return { ...attemptView(a), taskId: a.taskId, mapIndex: a.mapIndex, runId: a.runId, dagId };
      },
    }),
    route({
      method: "get",
      path: "/attempts/:attemptId/output",
      response: outputSchema,
      access: "viewer",
      scope: "dag",
      tag: "tasks",
      summary: "A preview of an attempt's output",
      async handler({ env, actor, params }) {
        const { id, a } = await requireAttempt(env, actor!, params["attemptId"]!);
        const stored = await env.sluice.store.attempts.output(id);
        if (!stored || (!stored.inline && !stored.ref)) return { size: a.outputSize ?? 0, preview: null, truncated: false };
        // artifact refs are content hashes checked by the artifact store: never a path from the request
        const bytes = stored.inline ?? (await env.sluice.engine.artifacts.get(stored.ref!));
        return { size: a.outputSize ?? bytes.byteLength, ...preview(decodeOutput(bytes)) };
      },
    }),
  ];
}
