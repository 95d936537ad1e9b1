/**
 * The DSL's past-dependency options (Airflow's depends_on_past, wait_for_downstream,
 * ignore_first_depends_on_past), checked at load time. Semantics: core/pastDeps.ts.
 */
import type { DagSpec } from "../core/dagSpec.js";
import type { PastDeps } from "../core/pastDeps.js";
import { SluiceError } from "../errors.js";

const OPTIONS = ["dependsOnPast", "waitForDownstream", "ignoreFirstDependsOnPast"] as const;

/** A task's options (after its DAG's and group's defaults) as spec fields: absent when off, so other specs and versions stay as they were. */
export function pastDepsOption(where: string, d: Partial<Record<(typeof OPTIONS)[number], unknown>>): PastDeps {
  for (const o of OPTIONS) {
    if (d[o] !== undefined && typeof d[o] !== "boolean") throw new SluiceError("INVALID_DAG", `${where}: ${o} must be true or false`, { details: { field: o } });
  }
  const out: PastDeps = {};
  // Airflow: wait_for_downstream forces depends_on_past
  if (d.dependsOnPast === true || d.waitForDownstream === true) out.dependsOnPast = true;
  if (d.waitForDownstream === true) out.waitForDownstream = true;
  if (d.ignoreFirstDependsOnPast === true && out.dependsOnPast) out.ignoreFirstDependsOnPast = true;
  return out;
}

/**
 * "The previous run" is the previous one by logical date on the DAG's timetable: a DAG without a time
 * schedule has none to speak of, so a task that depends on the past is a mistake there, said at load time.
 */
export function checkPastDeps(spec: DagSpec): void {
  if (spec.schedule) return;
  const t = spec.tasks.find((t) => t.dependsOnPast);
  if (!t) return;
  const field = t.waitForDownstream ? "waitForDownstream" : "dependsOnPast";
  throw new SluiceError(
    "INVALID_DAG",
    `DAG "${spec.id}", task "${t.id}": ${field} needs a DAG with a time schedule (its previous run is the previous one on the timetable); give the DAG a schedule such as "@daily", or drop ${field}`,
    { details: { dagId: spec.id, taskId: t.id, field } },
  );
}
