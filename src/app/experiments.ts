/**
 * Experiments (issue 15, item 2): what tasks tracked, read per DAG access (app/access.ts). An experiment
 * lists the runs of DAGs the caller may read; a run it may not read is not found. The CLI reads through
 * here too (as the local admin). SQL in store/tracking.ts.
 */
import type { Sluice } from "../sluice.js";
import { SluiceError } from "../errors.js";
import type { Trial } from "../store/tracking.js";
import { canRead, dagIdsWith } from "./access.js";
import type { Actor } from "./actor.js";

/** At most this many runs in one comparison. */
export const MAX_COMPARE = 200;

export function listExperiments(s: Sluice, actor: Actor) {
  return dagIdsWith(actor).then((ids) => s.store.tracking.experiments(ids));
}

/** A page of an experiment's runs (newest first) with their trials. */
export async function experimentPage(s: Sluice, actor: Actor, experiment: string, o: { limit: number; after: { createdAt: number; runId: string } | null }): Promise<{ runs: { runId: string; createdAt: number }[]; trials: Trial[] }> {
  const runs = await s.store.tracking.experimentRuns(experiment, { ...o, dagIds: await dagIdsWith(actor) });
  // an experiment is its runs: with none the caller may read (on the first page), there is none
  if (runs.length === 0 && o.after === null) throw new SluiceError("NOT_FOUND", `no tracked runs in experiment "${experiment}" (sluice experiments list shows the experiments)`, { details: { experiment } });
  return { runs, trials: await s.store.tracking.trials(runs.slice(0, o.limit).map((r) => r.runId)) };
}

/** The trials of several runs side by side; every run must exist and be readable. */
export async function compareRuns(s: Sluice, actor: Actor, runIds: readonly string[]): Promise<Trial[]> {
  const ids = [...new Set(runIds)];
  if (ids.length === 0) throw new SluiceError("INVALID_INPUT", "runs: name at least one run id", { details: { field: "runs" } });
  if (ids.length > MAX_COMPARE) throw new SluiceError("INVALID_INPUT", `runs: at most ${MAX_COMPARE} runs in one comparison, got ${ids.length}`, { details: { field: "runs" } });
  for (const id of ids) await readableRun(s, actor, id);
  return s.store.tracking.trials(ids);
}

/** A run the caller may read; one of a DAG it may not read is not found, like a missing one. */
async function readableRun(s: Sluice, actor: Actor, runId: string): Promise<void> {
  const run = await s.store.runs.get(runId);
  if (!run || !(await canRead(actor, run.dagId))) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`, { details: { runId } });
}

/** One run's tracking: its trials and its files. */
export async function runTracking(s: Sluice, actor: Actor, runId: string) {
  await readableRun(s, actor, runId);
  return { trials: await s.store.tracking.trials([runId]), artifacts: await s.store.tracking.artifacts(runId) };
}

/** Metric series of one trial, in step order; with `maxPoints`, each series downsampled to about that many. */
export async function metricSeries(s: Sluice, actor: Actor, runId: string, taskId: string, mapIndex: number, names: readonly string[], maxPoints?: number) {
  await readableRun(s, actor, runId);
  const out: Record<string, Point[]> = {};
  for (const name of names) {
    const points = await s.store.tracking.series(runId, taskId, mapIndex, name);
    out[name] = maxPoints === undefined ? points : downsample(points, maxPoints);
  }
  return out;
}

type Point = { step: number; value: number; at: number };

/**
 * At most about `max` points of a series in step order, for a chart: the steps are cut into max/2 buckets
 * and each keeps its lowest and highest value (in step order), plus the first and last points. Unlike
 * averaging or taking every n-th point, a spike or a dip in a learning curve stays visible; a chart that
 * is a few hundred pixels wide cannot show more than two values per bucket anyway.
 */
export function downsample(points: readonly Point[], max: number): Point[] {
  if (points.length <= max || max < 4) return points.slice();
  const buckets = Math.floor((max - 2) / 2);
  const inner = points.length - 2;
  const out: Point[] = [points[0]!];
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * inner) / buckets);
    const to = 1 + Math.floor(((b + 1) * inner) / buckets);
    if (from >= to) continue;
    let lo = from;
    let hi = from;
    for (let i = from + 1; i < to; i++) {
      if (points[i]!.value < points[lo]!.value) lo = i;
      if (points[i]!.value > points[hi]!.value) hi = i;
    }
    if (lo === hi) out.push(points[lo]!);
    else out.push(points[Math.min(lo, hi)]!, points[Math.max(lo, hi)]!);
  }
  out.push(points[points.length - 1]!);
  return out;
}
