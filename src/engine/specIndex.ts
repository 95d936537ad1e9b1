import type { DagSpec, TaskSpec } from "../core/dagSpec.js";
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
}

export function indexSpec(spec: DagSpec): SpecIndex {
  const byId = new Map(spec.tasks.map((t) => [t.id, t]));
  return {
    spec,
    byId,
    // Airflow's effective leaves: teardowns (unless onFailureFailDagRun) do not speak for the run
    leaves: effectiveLeaves(spec.tasks),
    deadlineTasks: spec.tasks.filter((t) => t.deadline),
    fanIn: new Set(spec.tasks.filter((t) => t.upstream.length > 1 || t.upstream.some((u) => byId.get(u)?.map)).map((t) => t.id)),
  };
}
