/**
 * Experiment tracking over HTTP (issue 15, item 2; app/experiments.ts): experiments, an experiment's runs
 * with their trials (keyset pages, newest first), a comparison of chosen runs, one run's tracking and a
 * trial's metric series. Per DAG: only runs of DAGs the caller may read.
 */
import { z } from "zod";
import { compareRuns, experimentPage, listExperiments, MAX_COMPARE, metricSeries, runTracking } from "../../app/experiments.js";
import { decodeCursor, encodeCursor } from "../cursor.js";
import { pagination, query, route, type Route } from "../route.js";
import { compareSchema, experimentSchema, experimentsSchema, metricSeriesSchema, runTrackingSchema } from "../schemas.js";

export function experimentRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/experiments",
      response: experimentsSchema,
      access: "viewer",
      scope: "dag",
      tag: "experiments",
      summary: "Experiments (by default one per DAG) with their number of tracked runs, most recently used first",
      async handler({ env, actor }) {
        return { items: await listExperiments(env.sluice, actor!) };
      },
    }),
    route({
      method: "get",
      path: "/experiments/:name",
      response: experimentSchema,
      access: "viewer",
      scope: "dag",
      tag: "experiments",
      summary: "An experiment's runs, newest first, with each trial's params, metric summaries (last, min, max, points) and tags",
      query: query({ ...pagination }),
      async handler({ env, actor, params, query: q }) {
        const after = decodeCursor<[number, string]>(q.cursor, ["number", "string"]);
        const page = await experimentPage(env.sluice, actor!, params.name!, { limit: q.limit + 1, after: after ? { createdAt: after[0], runId: after[1] } : null });
        const more = page.runs.length > q.limit;
        const runs = page.runs.slice(0, q.limit);
        const last = runs.at(-1);
        return { experiment: params.name!, runs, trials: page.trials, nextCursor: more && last ? encodeCursor([last.createdAt, last.runId]) : null };
      },
    }),
    route({
      method: "get",
      path: "/compare",
      response: compareSchema,
      access: "viewer",
      scope: "dag",
      tag: "experiments",
      summary: `Runs side by side: each trial's params and metric summaries (at most ${MAX_COMPARE} runs, comma-separated)`,
      query: query({ runs: z.string().min(1).max(20_000) }),
      async handler({ env, actor, query: q }) {
        return { trials: await compareRuns(env.sluice, actor!, q.runs.split(",").map((r) => r.trim()).filter(Boolean)) };
      },
    }),
    route({
      method: "get",
      path: "/runs/:runId/tracking",
      response: runTrackingSchema,
      access: "viewer",
      scope: "dag",
      tag: "experiments",
      summary: "What a run's tasks tracked: trials (params, metric summaries, tags) and files",
      async handler({ env, actor, params }) {
        return runTracking(env.sluice, actor!, params.runId!);
      },
    }),
    route({
      method: "get",
      path: "/runs/:runId/metrics",
      response: metricSeriesSchema,
      access: "viewer",
      scope: "dag",
      tag: "experiments",
      summary: "A trial's metric series in step order (`names` comma-separated; `task` and `mapIndex` name the trial; `maxPoints`: each series downsampled to about that many, keeping each bucket's lowest and highest value)",
      query: query({ task: z.string().min(1).max(250), mapIndex: z.coerce.number().int().min(-1).default(-1), names: z.string().min(1).max(5000), maxPoints: z.coerce.number().int().min(10).max(1_000_000).optional() }),
      async handler({ env, actor, params, query: q }) {
        const names = q.names.split(",").map((n) => n.trim()).filter(Boolean).slice(0, 50);
        return { series: await metricSeries(env.sluice, actor!, params.runId!, q.task, q.mapIndex, names, q.maxPoints) };
      },
    }),
  ];
}
