/**
 * What a branch's decision means, with Airflow's semantics (airflow/models/skipmixin.py
 * `SkipMixin.skip_all_except`, airflow/operators/branch.py `BranchMixin._expand_task_group_roots`):
 *
 * - a branch names task ids or task group ids; a group stands for its root tasks (those with no upstream
 *   inside the group);
 * - of its direct downstream tasks it skips only those it did not follow *and that are not downstream of a
 *   followed task*: in `branch -> task1 -> join` plus `branch -> join`, following `task1` keeps `join`
 *   waiting for `task1` instead of skipping it (the common branch-and-join shape);
 * - the decision stands until the branch runs again: clearing a task the branch skipped skips it again
 *   (Airflow's NotPreviouslySkippedDep).
 */
import { SluiceError } from "../errors.js";
import type { DagSpec, TaskSpec } from "./dagSpec.js";

type Tasks = ReadonlyMap<string, TaskSpec>;

/**
 * The direct downstream task ids a branch follows when its function returned `value` (an id, a handle, a
 * group id, a list of them, or null/undefined for none). An id that is neither a direct downstream task
 * nor a task group with a root among them is an error naming the DAG, the branch and the id.
 */
export function branchFollows(spec: Pick<DagSpec, "id" | "groups" | "tasks">, branch: TaskSpec, value: unknown): string[] {
  const items = value === null || value === undefined ? [] : Array.isArray(value) ? (value as unknown[]) : [value];
  const follows = new Set<string>();
  const bad: unknown[] = [];
  for (const item of items) {
    const id = typeof item === "string" ? item : typeof item === "object" && item !== null && typeof (item as { id?: unknown }).id === "string" ? (item as { id: string }).id : null;
    const targets = id === null ? null : targetsOf(spec, branch, id) ?? (branch.group ? targetsOf(spec, branch, `${branch.group}.${id}`) : null);
    if (targets) for (const t of targets) follows.add(t);
    else bad.push(item);
  }
  if (bad.length) {
    const groups = spec.groups.map((g) => `"${g.id}"`);
    throw new SluiceError(
      "TASK_FAILED",
      `DAG "${spec.id}": branch "${branch.id}" returned ${bad.map((b) => JSON.stringify(b) ?? String(b)).join(", ")}, which is neither a direct downstream task nor a task group after it; it must name one of: ${branch.downstream.map((d) => `"${d}"`).join(", ") || "(no downstream tasks)"}${groups.length ? ` (or a group: ${groups.join(", ")})` : ""}`,
      { details: { dagId: spec.id, taskId: branch.id } },
    );
  }
  return branch.downstream.filter((d) => follows.has(d));
}

/** A direct downstream task, or the roots of a group that are direct downstream tasks (null: neither). */
function targetsOf(spec: Pick<DagSpec, "groups" | "tasks">, branch: TaskSpec, id: string): string[] | null {
  if (branch.downstream.includes(id)) return [id];
  if (!spec.groups.some((g) => g.id === id)) return null;
  const roots = groupRoots(spec.tasks, id).filter((r) => branch.downstream.includes(r));
  return roots.length ? roots : null;
}

/** The tasks of group `groupId` (nested groups included) with no upstream task inside it. */
export function groupRoots(tasks: readonly TaskSpec[], groupId: string): string[] {
  const inGroup = (t: TaskSpec) => t.group === groupId || t.group.startsWith(`${groupId}.`);
  const members = new Set(tasks.filter(inGroup).map((t) => t.id));
  return tasks.filter((t) => members.has(t.id) && !t.upstream.some((u) => members.has(u))).map((t) => t.id);
}

/**
 * The direct downstream tasks of `branch` that it keeps (does not skip) when it follows `follows`: the
 * followed ones and those downstream of a followed one (Airflow adds every followed task's flat
 * downstream relatives to the followed set).
 */
export function branchKeeps(tasks: Tasks, branch: TaskSpec, follows: readonly string[]): Set<string> {
  const keep = new Set<string>();
  const direct = new Set(branch.downstream);
  const seen = new Set<string>();
  const queue = [...follows];
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    if (seen.has(id)) continue;
    seen.add(id);
    if (direct.has(id)) keep.add(id);
    for (const d of tasks.get(id)?.downstream ?? []) if (!seen.has(d)) queue.push(d);
  }
  return keep;
}

/**
 * Whether the recorded decision of a finished upstream task `upstream` (a branch's followed ids, a
 * short-circuit's result) skips its direct downstream task `taskId`: what a clear re-evaluates.
 */
export function decisionSkips(tasks: Tasks, upstream: TaskSpec, output: unknown, taskId: string): boolean {
  if (upstream.kind === "short_circuit") return output === false;
  // no recorded decision (a branch a person marked success): nothing stands, as in Airflow without its XCom
  if (upstream.kind === "branch" && Array.isArray(output)) return !branchKeeps(tasks, upstream, output as string[]).has(taskId);
  return false;
}
