/**
 * Which task instances a clear touches, as Airflow's clear dialog chooses them: the named tasks (one map
 * index of them, or all), with their downstream and/or upstream tasks (transitively, whole), and with
 * "only failed" only those that failed or whose upstream failed. The API's dry run and the clear itself
 * both use this, so a preview lists exactly what the clear then changes.
 */

export interface ClearScope {
  taskIds: readonly string[];
  /**
   * Only this map index of the named tasks (their upstream and downstream tasks are taken whole, but for
   * the tasks of the named tasks' mapped group: only this index of them, core/mapGroups.ts).
   */
  mapIndex?: number;
  downstream: boolean;
  upstream?: boolean;
  /** Only instances in failed or upstream_failed. */
  onlyFailed?: boolean;
}

interface TaskLinks {
  id: string;
  upstream: readonly string[];
  downstream: readonly string[];
  /** The mapped task group the task is in, if any. */
  mapGroup?: string;
}

interface Instance {
  taskId: string;
  mapIndex: number;
  state: string;
}

const FAILED = new Set(["failed", "upstream_failed"]);

/** The task ids the scope reaches, in the order of `tasks` (the DAG's topological order). */
export function tasksToClear(tasks: readonly TaskLinks[], scope: ClearScope): string[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const picked = new Set(scope.taskIds);
  const walk = (dir: "upstream" | "downstream") => {
    const queue = [...scope.taskIds];
    for (let i = 0; i < queue.length; i++) {
      for (const next of byId.get(queue[i]!)?.[dir] ?? []) {
        if (!picked.has(next)) {
          picked.add(next);
          queue.push(next);
        }
      }
    }
  };
  if (scope.downstream) walk("downstream");
  if (scope.upstream) walk("upstream");
  return tasks.filter((t) => picked.has(t.id)).map((t) => t.id);
}

/** The instances the scope clears, in the order of `tasks`, then by map index. */
export function instancesToClear<I extends Instance>(tasks: readonly TaskLinks[], instances: readonly I[], scope: ClearScope): I[] {
  const order = new Map(tasksToClear(tasks, scope).map((id, i) => [id, i]));
  const named = new Set(scope.taskIds);
  const groupOf = new Map(tasks.map((t) => [t.id, t.mapGroup]));
  const groups = new Set(scope.taskIds.flatMap((id) => groupOf.get(id) ?? []));
  const oneIndex = (taskId: string) => named.has(taskId) || groups.has(groupOf.get(taskId) ?? "");
  return instances
    .filter((ti) => order.has(ti.taskId))
    .filter((ti) => scope.mapIndex === undefined || !oneIndex(ti.taskId) || ti.mapIndex === scope.mapIndex)
    .filter((ti) => !scope.onlyFailed || FAILED.has(ti.state))
    .sort((a, b) => order.get(a.taskId)! - order.get(b.taskId)! || a.mapIndex - b.mapIndex);
}
