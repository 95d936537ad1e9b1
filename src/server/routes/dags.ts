/**
 * DAGs: list with filters, detail, structure, versions, code, pause; import errors; the grid. Every one is
 * per-DAG (app/access.ts): the list shows the DAGs the caller may read; a DAG it may not read is
 * DAG_NOT_FOUND, the same answer as for one that does not exist.
 */
import { readFile } from "node:fs/promises";
import { dagIdsWith, dagNotReadable, requireRoleOn } from "../../app/access.js";
import type { Actor } from "../../app/actor.js";
import { setDagPaused } from "../../app/dags.js";
import { isAbsolute, relative, resolve } from "node:path";
import { z } from "zod";
import type { DagSpec } from "../../core/dagSpec.js";
import { SluiceError } from "../../errors.js";
import { type DagRecord } from "../../store/dags.js";
import { decodeCursor, encodeCursor, page } from "../cursor.js";
import { body, boolParam, notFound, pagination, query, route, type ApiEnv, type Route } from "../route.js";
import { GRID_ABSENT, GRID_LETTERS, GRID_RANK, SpecCache, dagDetail, dagSummary, structure } from "../views.js";
import { dagCodeSchema, dagDetailSchema, dagSummarySchema, dagVersionSchema, gridSchema, importErrorSchema, list, structureSchema, typeErrorsSchema } from "../schemas.js";

/** Grids are runs x tasks: fewer runs per page than other lists (25 runs of 10,000 tasks: 250,000 cells). */
export const GRID_DEFAULT_RUNS = 25;
export const GRID_MAX_RUNS = 100;

const RANK_OF: Record<string, number> = Object.fromEntries(GRID_RANK.map((s, i) => [s, i]));
/** rank -> letter; 255: no instance of the task in the run. */
const LETTER_OF_RANK: Record<number, string> = { ...Object.fromEntries(GRID_RANK.map((s, i) => [i, GRID_LETTERS[s]])), 255: GRID_ABSENT };

export function dagRoutes(specs: SpecCache): Route[] {
  /** The DAG's row when the actor may read it; DAG_NOT_FOUND alike when it is missing or not readable. */
  const requireDag = async (env: ApiEnv, actor: Actor, dagId: string): Promise<DagRecord> => {
    await requireRoleOn(actor, dagId, "viewer");
    const row = await env.sluice.store.dags.get(dagId);
    if (!row) throw dagNotReadable(dagId);
    return row;
  };
  const specOf = async (row: DagRecord, version = row.version): Promise<DagSpec> => {
    const spec = await specs.get(row.dagId, version);
    if (!spec) throw new SluiceError("NOT_FOUND", `DAG "${row.dagId}" has no version "${version}"`, { details: { version } });
    return spec;
  };
  const summaries = async (env: ApiEnv, rows: DagRecord[]) => {
    const db = env.sluice.store;
    const ids = rows.map((r) => r.dagId);
    const [last, broken, missed] = await Promise.all([db.runs.latestOf(ids, 10), db.dags.filesWithImportErrors(), db.deadlines.perDag(ids)]);
    return Promise.all(
      rows.map(async (r) => ({
        ...dagSummary(r, await specs.get(r.dagId, r.version), last.get(r.dagId) ?? [], r.file !== null && broken.has(r.file)),
        // runs that missed a deadline (decision 0019): how many, and when the last did
        deadlineMisses: missed.get(r.dagId) ?? { runs: 0, lastMissedAt: null },
      })),
    );
  };

  return [
    route({
      method: "get",
      path: "/dags",
      response: list(dagSummarySchema),
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: "DAGs by id, filtered: q (id or description contains), tag, owner, state (of the latest run), paused",
      query: query({ ...pagination, q: z.string().max(200).optional(), tag: z.string().max(200).optional(), owner: z.string().max(200).optional(), state: z.string().max(40).optional(), paused: boolParam.optional() }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[string]>(q.cursor, ["string"]);
        const needle = q.q?.toLowerCase();
        const readable = await dagIdsWith(actor!);
        const visible = readable && new Set(readable);
        const out: DagRecord[] = [];
        let more = false;
        // DAG counts are in the hundreds or thousands: filter in order and stop after a page
        for (const row of await env.sluice.store.dags.list()) {
          if (after && row.dagId <= after[0]) continue;
          if (visible && !visible.has(row.dagId)) continue;
          if (q.paused !== undefined && row.isPaused !== q.paused) continue;
          if (needle !== undefined || q.tag !== undefined || q.owner !== undefined) {
            const spec = await specs.get(row.dagId, row.version);
            if (needle !== undefined && !row.dagId.toLowerCase().includes(needle) && !(spec?.description ?? "").toLowerCase().includes(needle)) continue;
            if (q.tag !== undefined && !(spec?.tags ?? []).includes(q.tag)) continue;
            if (q.owner !== undefined && spec?.owner !== q.owner) continue;
          }
          if (q.state !== undefined) {
            const [latest] = await env.sluice.store.runs.page({ dagId: row.dagId, limit: 1, after: null });
            if (latest?.state !== q.state) continue;
          }
          if (out.length === q.limit) {
            more = true;
            break;
          }
          out.push(row);
        }
        return { items: await summaries(env, out), nextCursor: more ? encodeCursor([out[out.length - 1]!.dagId]) : null };
      },
    }),
    route({
      method: "get",
      path: "/dags/:dagId",
      response: dagDetailSchema,
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: "A DAG: the list's fields plus docs, params (JSON Schema), defaults, maxActiveRuns, catchup",
      async handler({ env, actor, params }) {
        const row = await requireDag(env, actor!, params["dagId"]!);
        const [base] = await summaries(env, [row]);
        return dagDetail(base!, row, await specs.get(row.dagId, row.version));
      },
    }),
    route({
      method: "patch",
      path: "/dags/:dagId",
      response: dagSummarySchema,
      access: setDagPaused.role,
      scope: "dag",
      tag: "dags",
      summary: "Pause or unpause a DAG (404 DAG_NOT_FOUND for a DAG no scheduler has registered)",
      body: body({ paused: z.boolean() }),
      async handler({ env, actor, params, body }) {
        const [base] = await summaries(env, [await setDagPaused(env.sluice, actor!, { dagId: params["dagId"]!, paused: body.paused })]);
        return base;
      },
    }),
    route({
      method: "get",
      path: "/dags/:dagId/structure",
      response: structureSchema,
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: "Tasks, edges and task groups of a DAG version (default: the latest)",
      query: query({ version: z.string().max(100).optional() }),
      async handler({ env, actor, params, query: q }) {
        const row = await requireDag(env, actor!, params["dagId"]!);
        const version = q.version ?? row.version;
        return structure(version, await specOf(row, version));
      },
    }),
    route({
      method: "get",
      path: "/dags/:dagId/versions",
      response: list(dagVersionSchema),
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: "Versions of a DAG, newest first",
      query: query({ ...pagination }),
      async handler({ env, actor, params, query: q }) {
        const row = await requireDag(env, actor!, params["dagId"]!);
        const after = decodeCursor<[number, string]>(q.cursor, ["number", "string"]);
        const rows = await env.sluice.store.dags.pageVersions(row.dagId, { limit: q.limit + 1, after: after && { createdAt: after[0], version: after[1] } });
        return page(rows, q.limit, (v) => v, (v) => [v.createdAt, v.version]);
      },
    }),
    route({
      method: "get",
      path: "/dags/:dagId/code",
      response: dagCodeSchema,
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: "The source file of a DAG version (as it is on disk now)",
      query: query({ version: z.string().max(100).optional() }),
      async handler({ env, actor, params, query: q }) {
        const row = await requireDag(env, actor!, params["dagId"]!);
        const version = q.version ?? row.version;
        const stored = await env.sluice.store.dags.getVersion(row.dagId, version);
        if (!stored) throw notFound("version", version);
        const file = stored.file;
        // only files inside the DAGs folder are served, whatever the database says
        const dags = resolve(env.sluice.config.dagsDir);
        const rel = file ? relative(dags, resolve(file)) : "..";
        if (!file || rel.startsWith("..") || isAbsolute(rel)) throw new SluiceError("NOT_FOUND", `the code of DAG "${row.dagId}" version ${version} is not in the DAGs folder`);
        const code = await readFile(file, "utf8").catch(() => null);
        if (code === null) throw new SluiceError("NOT_FOUND", `the file of DAG "${row.dagId}" (${rel}) is gone`);
        return { file: rel, code };
      },
    }),
    route({
      method: "get",
      path: "/import-errors",
      response: list(importErrorSchema),
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: "DAG files that failed to import",
      query: query({ ...pagination }),
      async handler({ env, actor, query: q }) {
        const after = decodeCursor<[string]>(q.cursor, ["string"]);
        const readable = await dagIdsWith(actor!);
        if (readable === null) {
          const rows = await env.sluice.store.dags.pageImportErrors({ limit: q.limit + 1, after: after?.[0] ?? null });
          return page(rows, q.limit, (e) => e, (e) => [e.file]);
        }
        // a caller limited to some DAGs sees the errors of their files only (import errors are few); the
        // errors name files relative to the DAGs folder, the DAGs' rows absolute paths
        const ids = new Set(readable);
        const dir = resolve(env.sluice.config.dagsDir);
        const files = new Set((await env.sluice.store.dags.accessMeta()).filter((m) => ids.has(m.dagId) && m.file !== null).map((m) => relative(dir, resolve(m.file!))));
        const rows = (await env.sluice.store.dags.listImportErrors())
          .filter((e) => files.has(e.file) && (!after || e.file > after[0]))
          .slice(0, q.limit + 1)
          .map((e) => ({ file: e.file, line: e.line, message: e.message, at: e.updatedAt }));
        return page(rows, q.limit, (e) => e, (e) => [e.file]);
      },
    }),
    route({
      method: "get",
      path: "/type-errors",
      response: typeErrorsSchema,
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: "Type errors of the DAG files, from the latest background type check of `sluice dev` (at most 1,000)",
      async handler({ env, actor }) {
        const all = await env.sluice.store.dags.listTypeErrors();
        const readable = await dagIdsWith(actor!);
        let items = all;
        if (readable !== null) {
          // a caller limited to some DAGs sees the errors in their files only (paths relative to the folder)
          const ids = new Set(readable);
          const dir = resolve(env.sluice.config.dagsDir);
          const files = new Set((await env.sluice.store.dags.accessMeta()).filter((m) => ids.has(m.dagId) && m.file !== null).map((m) => relative(dir, resolve(m.file!))));
          items = all.filter((e) => files.has(e.file));
        }
        return { items: items.slice(0, 1000), total: items.length };
      },
    }),
    route({
      method: "get",
      path: "/dags/:dagId/grid",
      response: gridSchema,
      access: "viewer",
      scope: "dag",
      tag: "dags",
      summary: `Runs x tasks, newest runs first: one state letter per task per run (docs/api.md). limit: runs per page (default ${GRID_DEFAULT_RUNS}, max ${GRID_MAX_RUNS})`,
      query: query({ limit: z.coerce.number().int().min(1).max(GRID_MAX_RUNS).default(GRID_DEFAULT_RUNS), cursor: pagination.cursor }),
      async handler({ env, actor, params, query: q }) {
        const row = await requireDag(env, actor!, params["dagId"]!);
        const spec = await specOf(row);
        const after = decodeCursor<[number, string]>(q.cursor, ["number", "string"]);
        const runs = await env.sluice.store.runs.page({ dagId: row.dagId, limit: q.limit + 1, after: after && { createdAt: after[0], runId: after[1] } });
        const more = runs.length > q.limit;
        const shown = more ? runs.slice(0, q.limit) : runs;
        const tasks = spec.tasks.map((t) => t.id);
        const position = new Map(tasks.map((t, i) => [t, i]));
        const states: Record<string, string> = {};
        for (const run of shown) {
          // one letter per task; a mapped task keeps its worst map index (lowest rank)
          const ranks = new Uint8Array(tasks.length).fill(255);
          for (const ti of await env.sluice.store.taskInstances.statesOfRun(run.runId)) {
            const i = position.get(ti.task_id);
            const r = RANK_OF[ti.state] ?? 254;
            if (i !== undefined && r < ranks[i]!) ranks[i] = r;
          }
          let text = "";
          for (let i = 0; i < ranks.length; i++) text += LETTER_OF_RANK[ranks[i]!] ?? "?";
          states[run.runId] = text;
        }
        return {
          tasks,
          runs: shown.map((r) => ({ runId: r.runId, state: r.state, logicalDate: r.logicalDate, startedAt: r.startedAt, endedAt: r.endedAt, runType: r.runType, createdAt: r.createdAt })),
          states,
          nextCursor: more ? encodeCursor([shown[shown.length - 1]!.createdAt, shown[shown.length - 1]!.runId]) : null,
        };
      },
    }),
  ];
}
