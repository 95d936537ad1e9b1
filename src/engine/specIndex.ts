import type { DagSpec, TaskSpec } from "../core/dagSpec.js";

/** A DAG version's spec with the lookups the engine needs, built once per version and cached. */
export interface SpecIndex {
  spec: DagSpec;
  byId: Map<string, TaskSpec>;
  leaves: string[];
}

export function indexSpec(spec: DagSpec): SpecIndex {
  return {
    spec,
    byId: new Map(spec.tasks.map((t) => [t.id, t])),
    leaves: spec.tasks.filter((t) => t.downstream.length === 0).map((t) => t.id),
  };
}
