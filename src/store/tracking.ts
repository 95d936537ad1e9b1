/**
 * SQL for experiment tracking (migration 0027): what attempts record with `ctx.track`. A *trial* is one
 * task instance that recorded something (a run's training task, or each instance of a mapped sweep); its
 * latest recording attempt's values count. Comparisons read params and per-series summaries (last, min,
 * max, count), never the metric points, so comparing 100 runs of 10,000 points each reads a few hundred
 * rows. `store.tracking`.
 */
import type { Kysely } from "kysely";
import type { Database } from "./schema.js";

export interface TrackedPoint {
  name: string;
  step: number;
  /** Order of recording within the attempt. */
  seq: number;
  value: number;
  at: number;
}

/** What one attempt recorded since its last flush: written in one transaction. */
export interface TrackBatch {
  runId: string;
  dagId: string;
  experiment: string;
  taskId: string;
  mapIndex: number;
  attemptId: number;
  at: number;
  /** JSON text values. */
  params: { key: string; value: string }[];
  metrics: TrackedPoint[];
  tags: { key: string; value: string }[];
  artifacts: { name: string; ref: string; size: number; mediaType: string | null }[];
}

export interface MetricSummary {
  last: number;
  lastStep: number;
  min: number;
  max: number;
  points: number;
}

export interface Trial {
  runId: string;
  dagId: string;
  experiment: string;
  createdAt: number;
  taskId: string;
  mapIndex: number;
  params: Record<string, unknown>;
  metrics: Record<string, MetricSummary>;
  tags: Record<string, string>;
}

export interface TrackedArtifact {
  taskId: string;
  mapIndex: number;
  attemptId: number;
  name: string;
  ref: string;
  size: number;
  mediaType: string | null;
  at: number;
}

/** Rows per INSERT: far below both dialects' bound-parameter limits (9 columns). */
const CHUNK = 500;

export class TrackingRows {
  constructor(private readonly db: Kysely<Database>) {}

  /** Write a batch (call inside a transaction: the summaries are read, merged and written back). */
  async record(b: TrackBatch): Promise<void> {
    await this.db.insertInto("tracked_runs").values({ run_id: b.runId, experiment: b.experiment, dag_id: b.dagId, created_at: b.at }).onConflict((oc) => oc.column("run_id").doNothing()).execute();
    const owner = { run_id: b.runId, task_id: b.taskId, map_index: b.mapIndex, attempt_id: b.attemptId };
    for (const p of b.params) {
      await this.db
        .insertInto("tracked_params")
        .values({ ...owner, key: p.key, value: p.value })
        .onConflict((oc) => oc.columns(["attempt_id", "key"]).doUpdateSet({ value: p.value }))
        .execute();
    }
    for (const t of b.tags) {
      await this.db
        .insertInto("tracked_tags")
        .values({ ...owner, key: t.key, value: t.value })
        .onConflict((oc) => oc.columns(["attempt_id", "key"]).doUpdateSet({ value: t.value }))
        .execute();
    }
    for (const a of b.artifacts) {
      const cols = { ref: a.ref, size: a.size, media_type: a.mediaType, at: b.at };
      await this.db
        .insertInto("tracked_artifacts")
        .values({ ...owner, name: a.name, ...cols })
        .onConflict((oc) => oc.columns(["attempt_id", "name"]).doUpdateSet(cols))
        .execute();
    }
    for (let i = 0; i < b.metrics.length; i += CHUNK) {
      await this.db
        .insertInto("tracked_metrics")
        .values(b.metrics.slice(i, i + CHUNK).map((m) => ({ ...owner, name: m.name, step: m.step, seq: m.seq, value: m.value, at: m.at })))
        .execute();
    }
    await this.summarise(b);
  }

  /** Merge the batch's points into each series' summary; a newer attempt's first points replace an older one's. */
  private async summarise(b: TrackBatch): Promise<void> {
    const bySeries = new Map<string, MetricSummary>();
    for (const m of b.metrics) {
      const s = bySeries.get(m.name);
      if (!s) bySeries.set(m.name, { last: m.value, lastStep: m.step, min: m.value, max: m.value, points: 1 });
      else {
        // points arrive in recording order: the last recorded with the highest step is the series' last
        if (m.step >= s.lastStep) {
          s.last = m.value;
          s.lastStep = m.step;
        }
        s.min = Math.min(s.min, m.value);
        s.max = Math.max(s.max, m.value);
        s.points++;
      }
    }
    if (bySeries.size === 0) return;
    const existing = await this.db
      .selectFrom("tracked_metric_summaries")
      .selectAll()
      .where("run_id", "=", b.runId)
      .where("task_id", "=", b.taskId)
      .where("map_index", "=", b.mapIndex)
      .where("name", "in", [...bySeries.keys()])
      .execute();
    const old = new Map(existing.map((r) => [r.name, r]));
    for (const [name, s] of bySeries) {
      const o = old.get(name);
      const merged =
        o && Number(o.attempt_id) === b.attemptId
          ? {
              last_step: s.lastStep >= Number(o.last_step) ? s.lastStep : Number(o.last_step),
              last_value: s.lastStep >= Number(o.last_step) ? s.last : o.last_value,
              min_value: Math.min(o.min_value, s.min),
              max_value: Math.max(o.max_value, s.max),
              points: o.points + s.points,
            }
          : { last_step: s.lastStep, last_value: s.last, min_value: s.min, max_value: s.max, points: s.points };
      const cols = { attempt_id: b.attemptId, ...merged };
      await this.db
        .insertInto("tracked_metric_summaries")
        .values({ run_id: b.runId, task_id: b.taskId, map_index: b.mapIndex, name, ...cols })
        .onConflict((oc) => oc.columns(["run_id", "task_id", "map_index", "name"]).doUpdateSet(cols))
        .execute();
    }
  }

  /** Experiments with their run counts, most recently used first; `dagIds`: only runs of these DAGs. */
  async experiments(dagIds: readonly string[] | null): Promise<{ experiment: string; runs: number; lastRunAt: number; dagIds: string[] }[]> {
    if (dagIds !== null && dagIds.length === 0) return [];
    let q = this.db
      .selectFrom("tracked_runs")
      .select((eb) => ["experiment", "dag_id", eb.fn.countAll<number>().as("runs"), eb.fn.max("created_at").as("last")])
      .groupBy(["experiment", "dag_id"]);
    if (dagIds !== null) q = q.where("dag_id", "in", [...dagIds]);
    const out = new Map<string, { experiment: string; runs: number; lastRunAt: number; dagIds: string[] }>();
    for (const r of await q.execute()) {
      const e = out.get(r.experiment) ?? { experiment: r.experiment, runs: 0, lastRunAt: 0, dagIds: [] };
      e.runs += Number(r.runs);
      e.lastRunAt = Math.max(e.lastRunAt, Number(r.last));
      e.dagIds.push(r.dag_id);
      out.set(r.experiment, e);
    }
    return [...out.values()].sort((a, b) => b.lastRunAt - a.lastRunAt || a.experiment.localeCompare(b.experiment));
  }

  /** An experiment's runs, newest first (keyset: created_at, run_id). */
  async experimentRuns(experiment: string, o: { limit: number; after: { createdAt: number; runId: string } | null; dagIds: readonly string[] | null }): Promise<{ runId: string; createdAt: number }[]> {
    if (o.dagIds !== null && o.dagIds.length === 0) return [];
    let q = this.db.selectFrom("tracked_runs").select(["run_id", "created_at"]).where("experiment", "=", experiment);
    if (o.dagIds !== null) q = q.where("dag_id", "in", [...o.dagIds]);
    if (o.after) {
      const a = o.after;
      q = q.where((eb) => eb.or([eb("created_at", "<", a.createdAt), eb.and([eb("created_at", "=", a.createdAt), eb("run_id", "<", a.runId)])]));
    }
    const rows = await q.orderBy("created_at", "desc").orderBy("run_id", "desc").limit(o.limit).execute();
    return rows.map((r) => ({ runId: r.run_id, createdAt: Number(r.created_at) }));
  }

  /** The trials of these runs: params, metric summaries and tags of each task instance that recorded any. */
  async trials(runIds: readonly string[]): Promise<Trial[]> {
    if (runIds.length === 0) return [];
    const ids = [...runIds];
    const runs = await this.db.selectFrom("tracked_runs").selectAll().where("run_id", "in", ids).execute();
    const runOf = new Map(runs.map((r) => [r.run_id, r]));
    const trials = new Map<string, Trial>();
    const trial = (runId: string, taskId: string, mapIndex: number): Trial | null => {
      const key = `${runId}\u0000${taskId}\u0000${mapIndex}`;
      let t = trials.get(key);
      const run = runOf.get(runId);
      if (!run) return null;
      if (!t) {
        t = { runId, dagId: run.dag_id, experiment: run.experiment, createdAt: Number(run.created_at), taskId, mapIndex, params: {}, metrics: {}, tags: {} };
        trials.set(key, t);
      }
      return t;
    };
    // a trial's values are its latest recording attempt's: a retry records afresh
    const latest = new Map<string, number>();
    const note = (runId: string, taskId: string, mapIndex: number, attemptId: number) => {
      const k = `${runId}\u0000${taskId}\u0000${mapIndex}`;
      latest.set(k, Math.max(latest.get(k) ?? 0, attemptId));
    };
    const params = await this.db.selectFrom("tracked_params").selectAll().where("run_id", "in", ids).execute();
    for (const p of params) note(p.run_id, p.task_id, p.map_index, Number(p.attempt_id));
    const tags = await this.db.selectFrom("tracked_tags").selectAll().where("run_id", "in", ids).execute();
    for (const g of tags) note(g.run_id, g.task_id, g.map_index, Number(g.attempt_id));
    const sums = await this.db.selectFrom("tracked_metric_summaries").selectAll().where("run_id", "in", ids).execute();
    for (const s of sums) note(s.run_id, s.task_id, s.map_index, Number(s.attempt_id));
    const isLatest = (runId: string, taskId: string, mapIndex: number, attemptId: number) => latest.get(`${runId}\u0000${taskId}\u0000${mapIndex}`) === attemptId;
    for (const p of params) {
      if (!isLatest(p.run_id, p.task_id, p.map_index, Number(p.attempt_id))) continue;
      const t = trial(p.run_id, p.task_id, p.map_index);
      if (t) t.params[p.key] = JSON.parse(p.value) as unknown;
    }
    for (const s of sums) {
      if (!isLatest(s.run_id, s.task_id, s.map_index, Number(s.attempt_id))) continue;
      const t = trial(s.run_id, s.task_id, s.map_index);
      if (t) t.metrics[s.name] = { last: s.last_value, lastStep: Number(s.last_step), min: s.min_value, max: s.max_value, points: s.points };
    }
    for (const g of tags) {
      if (!isLatest(g.run_id, g.task_id, g.map_index, Number(g.attempt_id))) continue;
      const t = trial(g.run_id, g.task_id, g.map_index);
      if (t) t.tags[g.key] = g.value;
    }
    const order = new Map(ids.map((id, i) => [id, i]));
    return [...trials.values()].sort((a, b) => order.get(a.runId)! - order.get(b.runId)! || a.taskId.localeCompare(b.taskId) || a.mapIndex - b.mapIndex);
  }

  /** One series of a trial (its latest recording attempt), in step order. */
  async series(runId: string, taskId: string, mapIndex: number, name: string): Promise<{ step: number; value: number; at: number }[]> {
    const sum = await this.db
      .selectFrom("tracked_metric_summaries")
      .select("attempt_id")
      .where("run_id", "=", runId)
      .where("task_id", "=", taskId)
      .where("map_index", "=", mapIndex)
      .where("name", "=", name)
      .executeTakeFirst();
    if (!sum) return [];
    const rows = await this.db
      .selectFrom("tracked_metrics")
      .select(["step", "value", "at"])
      .where("attempt_id", "=", sum.attempt_id)
      .where("run_id", "=", runId)
      .where("name", "=", name)
      .orderBy("step")
      .orderBy("seq")
      .execute();
    return rows.map((r) => ({ step: Number(r.step), value: r.value, at: Number(r.at) }));
  }

  /** Files recorded by a run's attempts. */
  async artifacts(runId: string): Promise<TrackedArtifact[]> {
    const rows = await this.db.selectFrom("tracked_artifacts").selectAll().where("run_id", "=", runId).orderBy("task_id").orderBy("map_index").orderBy("name").execute();
    return rows.map((r) => ({ taskId: r.task_id, mapIndex: r.map_index, attemptId: Number(r.attempt_id), name: r.name, ref: r.ref, size: Number(r.size), mediaType: r.media_type, at: Number(r.at) }));
  }
}
