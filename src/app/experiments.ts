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

/** Metric series of one trial, in step order. */
export async function metricSeries(s: Sluice, actor: Actor, runId: string, taskId: string, mapIndex: number, names: readonly string[]) {
  await readableRun(s, actor, runId);
  const out: Record<string, { step: number; value: number; at: number }[]> = {};
  for (const name of names) out[name] = await s.store.tracking.series(runId, taskId, mapIndex, name);
  return out;
}
