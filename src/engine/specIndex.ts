import type { DagSpec, GroupSpec, TaskSpec } from "../core/dagSpec.js";
import { effectiveLeaves } from "../core/setupTeardown.js";

/** A DAG version's spec with the lookups the engine needs, built once per version and cached. */
export interface SpecIndex {
  spec: DagSpec;
  byId: Map<string, TaskSpec>;
  /** The tasks whose states decide the run's (core/setupTeardown.ts `effectiveLeaves`). */
  leaves: string[];
  /**
   * Tasks whose instances more than one upstream task instance reports to: several upstream tasks, or a
   * mapped one. Concurrent transactions of one run may count ends into them at the same time, so their
   * counters are only ever added to in place (Effects.bump), never read, changed and written back.
   */
  fanIn: Set<string>;
  /** Tasks with a deadline (decision 0019); empty for most DAGs, so that a run's end asks nothing more. */
  deadlineTasks: TaskSpec[];
  /** Mapped task groups (`d.mapGroup`) by id, with their tasks in topological order; empty for most DAGs. */
  mapGroups: Map<string, { group: GroupSpec; tasks: TaskSpec[] }>;
}

export function indexSpec(spec: DagSpec): SpecIndex {
  const byId = new Map(spec.tasks.map((t) => [t.id, t]));
  return {
    spec,
    byId,
    // Airflow's effective leaves: teardowns (unless onFailureFailDagRun) do not speak for the run
    leaves: effectiveLeaves(spec.tasks),
    deadlineTasks: spec.tasks.filter((t) => t.deadline),
    mapGroups: mapGroupsOf(spec),
    fanIn: new Set(spec.tasks.filter((t) => t.upstream.length > 1 || t.upstream.some((u) => byId.get(u)?.map)).map((t) => t.id)),
  };
}

function mapGroupsOf(spec: DagSpec): SpecIndex["mapGroups"] {
  const out: SpecIndex["mapGroups"] = new Map();
  for (const g of spec.groups) if (g.map) out.set(g.id, { group: g, tasks: [] });
  if (out.size === 0) return out;
  for (const t of spec.tasks) if (t.mapGroup) out.get(t.mapGroup)?.tasks.push(t);
  return out;
}
