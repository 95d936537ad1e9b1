/**
 * Mapped task groups (`d.mapGroup`, Airflow's `@task_group` + `.expand()`): the handles of the group's
 * element that its tasks take as inputs, and the checks on what may be declared inside such a group.
 * Semantics: core/mapGroups.ts; engine: engine/mapGroups.ts; decision 0032.
 */
import { SluiceError } from "../errors.js";
import type { AnyRef } from "./types.js";

const ELEMENT_OF = Symbol.for("sluice.groupElement");

interface ElementTag {
  /** The mapped group's full id. */
  group: string;
  /** The name under `over` (or `partial`) whose element this handle stands for. */
  name: string;
}

/** The handle of one element of a mapped group: `{ id, dagId }` like a task's, tagged with its group and name. */
export function elementRef(group: string, name: string, dagId: string): AnyRef {
  const ref = { id: `${group}[${name}]`, dagId };
  Object.defineProperty(ref, ELEMENT_OF, { value: { group, name } satisfies ElementTag });
  Object.defineProperty(ref, "map", {
    value: () => {
      throw new SluiceError("INVALID_DAG", `DAG "${dagId}": "${name}" is the element of mapped task group "${group}"; .map(fn) is for task outputs mapped over`);
    },
  });
  return Object.freeze(ref) as unknown as AnyRef;
}

/** The group and name of an element handle; null for anything else. */
export function elementOf(ref: unknown): ElementTag | null {
  return typeof ref === "object" && ref !== null ? ((ref as { [ELEMENT_OF]?: ElementTag })[ELEMENT_OF] ?? null) : null;
}
