/**
 * Mapped task groups in the engine (core/mapGroups.ts has the semantics, docs/decisions/0032): a group
 * expands all its tasks at once, and instance i of a task reads and counts into instance i of its
 * downstream tasks in the group only — one row by key, never its task's other instances — so that a
 * 10,000-element group costs O(edges) per instance, like any other task.
 */
import { mapLength, mappableList } from "../core/mapping.js";
import { perIndex } from "../core/mapGroups.js";
import type { TaskSpec } from "../core/dagSpec.js";
import type { TaskState } from "../core/states.js";
import type { NewTaskInstance, TaskInstanceRecord, Tx } from "../store/store.js";
import type { Effects } from "./effects.js";
import type { SpecIndex } from "./specIndex.js";
import type { TransitionEnv } from "./transitions.js";
import { upstreamCounts, type UpstreamCounts } from "./upstreamCounts.js";

/**
 * How many instances a mapped task gets, from the lists it maps over; or why it gets none: an upstream
 * whose value is missing (it failed, or was marked success without one) makes it upstream_failed, as
 * Airflow's expand_mapped_task does when its input is "not fully populated" — never a silent skip; a
 * skipped upstream (a branch not taken) skips it: nothing was meant to be mapped.
 */
export async function resolveMapLength(tx: Tx, env: TransitionEnv, fx: Effects, idx: SpecIndex, runId: string, task: TaskSpec): Promise<number | "upstream_failed" | "skipped"> {
  const lengths: number[] = [];
  let missing: "upstream_failed" | "skipped" | null = null;
  for (const m of task.map!) {
    if ("values" in m.source) {
      lengths.push(m.source.values.length);
      continue;
    }
    const upstreamTask = idx.byId.get(m.source.task)!;
    const states = (await fx.tis.load(tx, runId, [m.source.task])).map((u) => u.state);
    if (states.some((st) => st === "failed" || st === "upstream_failed")) missing = "upstream_failed";
    else if (!upstreamTask.map && states.every((st) => st === "skipped" || st === "removed")) missing ??= "skipped";
    if (missing) continue;
    const outputs = await env.loadOutputs(tx, runId, m.source.task);
    const list = mappableList(upstreamTask.map ? outputs : outputs[0]);
    if (list === null) missing = "upstream_failed";
    else lengths.push(list.length);
  }
  return missing ?? mapLength(lengths, task.mapMode);
}

/** What expanding a group does through the transitions: decide a new instance, or end an instance that never expands. */
export interface GroupHooks {
  decide(ti: TaskInstanceRecord): Promise<void>;
  end(ti: TaskInstanceRecord, state: "skipped" | "upstream_failed"): void;
}

/**
 * Expand mapped group `groupId`: once one of its tasks may run, its lists are known, and every task of the
 * group still waiting as a placeholder becomes n instances waiting with the placeholder's counters (what
 * its upstream tasks outside the group reported so far; an in-group upstream counts as one instance, its
 * own map index). A task already decided as a placeholder (skipped before the group expanded) stays one
 * instance, relevant to every index (Airflow's map index -1). Downstream tasks outside the group wait for
 * n instances. An empty list, or lists that cannot be read, end every placeholder (skipped, upstream_failed).
 *
 * On PostgreSQL a settle holds the run FOR KEY SHARE while other settles count into the placeholders in
 * place; replacing them needs the run to itself, so the transaction takes it FOR UPDATE first (once per
 * group and run).
 */
export async function expandGroup(tx: Tx, env: TransitionEnv, fx: Effects, idx: SpecIndex, runId: string, groupId: string, hooks: GroupHooks): Promise<void> {
  const g = idx.mapGroups.get(groupId)!;
  await tx.ownRuns([runId]);
  const n = await resolveMapLength(tx, env, fx, idx, runId, g.tasks[0]!);
  const rows = await fx.tis.load(tx, runId, g.tasks.map((t) => t.id));
  const placeholders = new Map(rows.filter((r) => r.mapIndex === -1 && r.state === "none").map((r) => [r.taskId, r]));
  if (n === 0 || typeof n !== "number") {
    for (const t of g.tasks) {
      const p = placeholders.get(t.id);
      if (p) hooks.end(p, n === 0 ? "skipped" : n);
    }
    return;
  }
  const made: TaskInstanceRecord[] = [];
  for (const t of g.tasks) {
    const p = placeholders.get(t.id);
    if (!p) continue;
    await tx.taskInstances.delete(runId, t.id, -1);
    const fresh: NewTaskInstance[] = [];
    for (let i = 0; i < n; i++) fresh.push({ taskId: t.id, mapIndex: i, state: "none", nUpstream: p.nUpstream, readyAt: null, priority: p.priority, queue: p.queue });
    await tx.taskInstances.insert(runId, fresh);
    const records = fresh.map(
      (r): TaskInstanceRecord => ({
        ...r,
        runId,
        tryNumber: 0,
        tryBase: 0,
        nSuccess: p.nSuccess,
        nFailed: p.nFailed,
        nUpstreamFailed: p.nUpstreamFailed,
        nSkipped: p.nSkipped,
        attemptId: null,
        startedAt: null,
        endedAt: null,
        sensorDeadline: null,
        pokeCount: 0,
        corrupt: null,
        changedBy: null,
      }),
    );
    fx.tis.replaceTask(runId, t.id, records);
    // inserted with zero counters: what the placeholder had counted is written after them
    if (p.nSuccess || p.nFailed || p.nUpstreamFailed || p.nSkipped) {
      for (const r of records) fx.tis.update(r, { nSuccess: p.nSuccess, nFailed: p.nFailed, nUpstreamFailed: p.nUpstreamFailed, nSkipped: p.nSkipped });
    }
    fx.addUnfinished(runId, n - 1);
    made.push(...records);
    if (n === 1) continue;
    // a task outside the group after this one reduces over its n instances
    const outside = t.downstream.filter((d) => !perIndex(t, idx.byId.get(d)!));
    for (const d of await fx.tis.load(tx, runId, outside)) if (d.state === "none") fx.tis.update(d, { nUpstream: d.nUpstream + n - 1 });
  }
  for (const r of made) await hooks.decide(r);
}

/**
 * Instance `mapIndex` of `taskId`, which an instance of the same index of an upstream task in its mapped
 * group reports to. Read alone (FOR UPDATE when other settles of the run may count into it too: they wait
 * for this transaction instead of losing a count); null when the task has no such instance (it was decided
 * before the group expanded).
 */
export function indexedRow(tx: Tx, fx: Effects, runId: string, taskId: string, mapIndex: number): Promise<TaskInstanceRecord | null> {
  return fx.tis.loadOne(tx, { runId, taskId, mapIndex }, !tx.ownsRun(runId));
}

/**
 * A waiting instance's counters recounted from its upstream instances' states (mark, clear): an instance
 * of a task in a mapped group counts only the same index of its upstream tasks in the group (or their
 * placeholder, when they never expanded), and every instance of the others.
 */
export async function instanceUpstreamCounts(tx: Tx, fx: Effects, idx: SpecIndex, runId: string, task: TaskSpec, mapIndex: number): Promise<UpstreamCounts> {
  if (!task.mapGroup || mapIndex < 0) return upstreamCounts(tx, fx.tis, runId, task.upstream);
  const indexed = task.upstream.filter((u) => perIndex(idx.byId.get(u)!, task));
  const out = await upstreamCounts(tx, fx.tis, runId, task.upstream.filter((u) => !indexed.includes(u)));
  for (const u of indexed) {
    const row = (await fx.tis.loadOne(tx, { runId, taskId: u, mapIndex }, false)) ?? (await fx.tis.loadOne(tx, { runId, taskId: u, mapIndex: -1 }, false));
    if (!row) continue;
    out.instances++;
    count(out, row.state);
  }
  return out;
}

function count(out: UpstreamCounts, state: TaskState): void {
  if (state === "success") out.nSuccess++;
  else if (state === "failed" || state === "upstream_failed") out.nFailed++;
  else if (state === "skipped" || state === "removed") out.nSkipped++;
  if (state === "upstream_failed") out.nUpstreamFailed++;
}
