/**
 * Setup and teardown tasks with Airflow's semantics (2.7+, airflow/models/dagrun.py
 * `_tis_for_dagrun_state`, airflow/models/baseoperator.py `get_upstreams_only_setups_and_teardowns`,
 * airflow/models/dag.py `partial_subset`): which tasks speak for a run's final state, and what a clear
 * takes along. Pure; the trigger rule teardowns run under (`all_done_setup_success`) is in triggerRules.ts.
 */
import { SluiceError } from "../errors.js";
import type { TaskSpec } from "./dagSpec.js";

type Graph = ReadonlyMap<string, Pick<TaskSpec, "id" | "upstream" | "downstream" | "setup" | "teardown" | "onFailureFailDagRun">>;

/** A teardown whose failure does not fail the run: it neither is a leaf nor hides one. */
function ignorable(t: Pick<TaskSpec, "teardown" | "onFailureFailDagRun">): boolean {
  return t.teardown === true && t.onFailureFailDagRun !== true;
}

/**
 * The tasks whose states decide a run's (core/states.ts `deriveRunState`): Airflow's "effective leaves" —
 * tasks with no downstream task but ignorable teardowns, that are not ignorable teardowns themselves. So
 * the work before a teardown fails the run when it fails, and a teardown's own failure does not, unless
 * it has `onFailureFailDagRun`. A DAG of nothing but teardowns falls back to its plain leaves.
 */
export function effectiveLeaves(tasks: readonly Pick<TaskSpec, "id" | "downstream" | "teardown" | "onFailureFailDagRun">[]): string[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const leaves = tasks.filter((t) => !ignorable(t) && t.downstream.every((d) => ignorable(byId.get(d)!))).map((t) => t.id);
  return leaves.length ? leaves : tasks.filter((t) => t.downstream.length === 0).map((t) => t.id);
}

function reach(byId: Graph, from: string, dir: "upstream" | "downstream"): Set<string> {
  const seen = new Set<string>();
  const queue = [...byId.get(from)![dir]];
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    if (seen.has(id)) continue;
    seen.add(id);
    queue.push(...byId.get(id)![dir]);
  }
  return seen;
}

const teardownsOf = (byId: Graph, setup: string) => byId.get(setup)!.downstream.filter((d) => byId.get(d)!.teardown);

/**
 * The tasks a clear of `taskIds` (with `downstream`: and every task after them) clears. A work task takes
 * along its relevant setups — upstream setups with no teardown, or with a teardown downstream of it — and
 * their teardowns, so that a re-run has its resource again and releases it; a setup cleared without its
 * downstream takes its teardowns. A teardown cleared alone is just itself.
 */
export function clearSet(byId: Graph, taskIds: readonly string[], downstream: boolean): Set<string> {
  const named = new Set(taskIds);
  if (downstream) for (const id of taskIds) for (const d of reach(byId, id, "downstream")) named.add(d);
  const out = new Set(named);
  for (const id of named) {
    const t = byId.get(id)!;
    if (!t.setup && !t.teardown) {
      const after = new Set([...reach(byId, id, "downstream")].filter((d) => byId.get(d)!.teardown));
      for (const u of reach(byId, id, "upstream")) {
        if (!byId.get(u)!.setup) continue;
        const teardowns = teardownsOf(byId, u);
        if (teardowns.length > 0 && !teardowns.some((d) => after.has(d))) continue;
        out.add(u);
        for (const d of teardowns) out.add(d);
      }
    }
    if (t.setup && !downstream) for (const d of teardownsOf(byId, id)) out.add(d);
  }
  return out;
}

/**
 * Airflow's `DAG.validate_setup_teardown`: a task right after a setup (other than a teardown) runs under
 * `all_success`, so that clearing it, which re-runs its setups, behaves the same as the first run did.
 * INVALID_DAG naming the DAG, the task and the field otherwise.
 */
export function checkSetupTeardown(dagId: string, tasks: readonly Pick<TaskSpec, "id" | "downstream" | "setup" | "teardown" | "triggerRule">[]): void {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  for (const s of tasks) {
    if (!s.setup) continue;
    for (const d of s.downstream.map((id) => byId.get(id)!)) {
      if (d.teardown || d.triggerRule === "all_success") continue;
      throw new SluiceError(
        "INVALID_DAG",
        `DAG "${dagId}", task "${d.id}": triggerRule "${d.triggerRule}" cannot follow setup task "${s.id}"; a task right after a setup runs under "all_success" (as in Airflow)`,
        { details: { dagId, taskId: d.id, field: "triggerRule" } },
      );
    }
  }
}
