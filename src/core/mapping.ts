/**
 * Dynamic task mapping with Airflow's semantics (airflow/models/expandinput.py, airflow/models/xcom_arg.py):
 *
 * - `product` (Airflow's `expand(a=…, b=…)`): one instance per element of the cross product of the lists,
 *   row-major in the declared order of the keys, so downstream tasks receive the results in a stable order;
 * - `zip` (`expand(x=a.zip(b))`): one instance per position, as long as the shortest list;
 * - `kwargs` (`expand_kwargs(list_of_dicts)`): one instance per object of one list, its keys the arguments.
 *
 * A value is mappable when it is a list, or an object, mapped over as its `[key, value]` entries (Airflow
 * maps over a dict's items). Anything else (a string, a number, null) is not: the task that produced it
 * fails (core/mapping `unmappableReason`; Airflow's UnmappableXComTypePushed / XComForMappingNotPushed).
 */

/** How the lists a task maps over combine; absent from a spec: "product". */
export type MapMode = "product" | "zip" | "kwargs";

/** How many instances lists of these lengths give. */
export function mapLength(lengths: readonly number[], mode: MapMode = "product"): number {
  if (lengths.length === 0) return 0;
  if (mode === "zip") return Math.min(...lengths);
  return lengths.reduce((a, b) => a * b, 1);
}

/** The position in each list that map index `index` stands for (cross product). */
export function mapCoordinates(lengths: readonly number[], index: number): number[] {
  const coords = new Array<number>(lengths.length);
  let rest = index;
  for (let k = lengths.length - 1; k >= 0; k--) {
    const len = lengths[k]!;
    coords[k] = rest % len;
    rest = Math.floor(rest / len);
  }
  return coords;
}

/**
 * The item of map index `index`: one element of each named list (`product`, `zip`), or the keys of the
 * one list's object at `index` (`kwargs`).
 */
export function mapItem(lists: ReadonlyArray<readonly [string, readonly unknown[]]>, index: number, mode: MapMode = "product"): Record<string, unknown> {
  if (mode === "kwargs") return { ...(lists[0]![1][index] as Record<string, unknown>) };
  const coords = mode === "zip" ? lists.map(() => index) : mapCoordinates(lists.map(([, l]) => l.length), index);
  const item: Record<string, unknown> = {};
  lists.forEach(([name, list], k) => {
    item[name] = list[coords[k]!];
  });
  return item;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The list a value maps over: a list itself, an object's `[key, value]` entries; null when not mappable. */
export function mappableList(value: unknown): unknown[] | null {
  if (Array.isArray(value)) return value as unknown[];
  if (isPlainObject(value)) return Object.entries(value);
  return null;
}

/** How a value is described in a message: its kind, not its (possibly large or secret) content. */
function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing (undefined)";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return `an object of class ${v.constructor?.name ?? "unknown"}`;
  return `a ${typeof v}`;
}

/**
 * Why `value`, returned by a task that another task maps over in `mode`, cannot be mapped over (null when
 * it can). `perInstance`: the producer is mapped itself, so `value` is one element of the list mapped over.
 */
export function unmappableReason(value: unknown, mode: MapMode, perInstance: boolean): string | null {
  if (perInstance) return mode === "kwargs" && !isPlainObject(value) ? `${kindOf(value)}, not an object of arguments` : null;
  if (mode === "kwargs") {
    if (!Array.isArray(value)) return `${kindOf(value)}, not a list of objects of arguments`;
    const i = value.findIndex((e) => !isPlainObject(e));
    return i === -1 ? null : `a list whose element ${i} is ${kindOf(value[i])}, not an object of arguments`;
  }
  return mappableList(value) === null ? `${kindOf(value)}, not a list or an object` : null;
}
