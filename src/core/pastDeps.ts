/**
 * Depending on the past (Airflow's depends_on_past, wait_for_downstream, ignore_first_depends_on_past,
 * ti_deps/deps/prev_dagrun_dep.py): whether a task instance may run, given what the previous run of its
 * DAG did with the same task. Pure: the engine (engine/pastDeps.ts) reads the previous run and its task
 * instances through indexes and hands them in.
 */
import type { TaskState } from "./states.js";

/** A task's past-dependency options (absent from its spec when off). */
export interface PastDeps {
  dependsOnPast?: true;
  /** Also wait for the previous run's instances of this task's direct downstream tasks (implies dependsOnPast). */
  waitForDownstream?: true;
  /** When the previous run has no instance of the task (it is new to the DAG), run anyway. */
  ignoreFirstDependsOnPast?: true;
}

/** What the engine found about the previous run. */
export interface PastFacts {
  /** The run is the first of its backfill (Airflow: "first run in a backfill" passes). */
  firstInBackfill: boolean;
  /** The previous run (by logical date; with catchup, only scheduled and backfill runs), or null. */
  previous: { runId: string; logicalDate: number } | null;
  /** States of the previous run's instances of the task (every map index); empty: it has none. */
  task: readonly TaskState[];
  /** States of the previous run's instances of the task's direct downstream tasks (waitForDownstream only). */
  downstream: readonly TaskState[];
}

export type PastDecision = { met: true; why: string } | { met: false; why: string };

const DONE: ReadonlySet<TaskState> = new Set<TaskState>(["success", "skipped"]);

/**
 * Airflow's PrevDagrunDep, rule by rule. "Successful" means success or skipped; anything else (failed,
 * still running, not yet started) keeps the task waiting — until that instance is retried, cleared or
 * marked, which the engine hears of (no polling).
 *
 * @example
 * pastDepsMet({ dependsOnPast: true }, { firstInBackfill: false, previous: { runId: "r1", logicalDate: 0 }, task: ["failed"], downstream: [] })
 * // { met: false, why: "waiting for the past: task ... in run r1 ... is failed" }
 */
export function pastDepsMet(deps: PastDeps, taskId: string, f: PastFacts): PastDecision {
  if (!deps.dependsOnPast && !deps.waitForDownstream) return { met: true, why: "the task does not depend on the past" };
  if (f.firstInBackfill) return { met: true, why: "the first run of a backfill" };
  if (f.previous === null) return { met: true, why: "the first run of the DAG" };
  const prev = `run ${f.previous.runId} (${new Date(f.previous.logicalDate).toISOString()})`;
  if (f.task.length === 0) {
    if (deps.ignoreFirstDependsOnPast) return { met: true, why: `the previous ${prev} has no task "${taskId}" and ignoreFirstDependsOnPast is set` };
    return { met: false, why: `waiting for the past: the previous ${prev} has no task "${taskId}" (set ignoreFirstDependsOnPast to run a new task anyway)` };
  }
  const notDone = f.task.filter((s) => !DONE.has(s));
  if (notDone.length > 0) {
    return { met: false, why: `waiting for the past: task "${taskId}" in the previous ${prev} is ${describe(notDone)}, not success or skipped (dependsOnPast)` };
  }
  if (deps.waitForDownstream) {
    const down = f.downstream.filter((s) => !DONE.has(s));
    if (down.length > 0) return { met: false, why: `waiting for the past: tasks downstream of "${taskId}" in the previous ${prev} are ${describe(down)} (waitForDownstream)` };
  }
  return { met: true, why: `task "${taskId}" succeeded or was skipped in the previous ${prev}` };
}

function describe(states: readonly TaskState[]): string {
  const counts = new Map<string, number>();
  for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => (n === 1 ? s : `${n}× ${s}`)).join(", ");
}
