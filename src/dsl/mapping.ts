/**
 * The shapes `d.map` maps over (core/mapping.ts has their semantics): `over: { … }` (cross product),
 * `over: zip({ … })` (position by position), `overKwargs` (a list of argument objects), `partial` (fixed
 * arguments), and `ref.map(fn)` (each element of an upstream output transformed before a mapped task
 * gets it). Here: the handles and markers authors write, and their translation into the spec.
 */
import type { MapSource, TaskSpec } from "../core/dagSpec.js";
import { SluiceError } from "../errors.js";
import type { AnyRef, MappedRef, TaskRef, Zipped } from "./types.js";

const TRANSFORM = Symbol.for("sluice.transform");
const ZIP = Symbol.for("sluice.zip");

type Transform = (element: unknown) => unknown;

/** A task's handle: its id, its DAG, and `.map(fn)` to transform its elements for a mapped task. */
export function taskRef(id: string, dagId: string): AnyRef {
  const ref = { id, dagId };
  // not enumerable: a handle still spreads and serialises as { id, dagId }
  Object.defineProperty(ref, "map", {
    value: (fn: unknown) => {
      if (typeof fn !== "function") throw new SluiceError("INVALID_DAG", `DAG "${dagId}": ${id}.map(fn) needs a function`);
      return Object.freeze({ id, dagId, [TRANSFORM]: fn as Transform });
    },
  });
  return Object.freeze(ref) as unknown as AnyRef;
}

/**
 * Map over several lists position by position (Airflow's `XComArg.zip`): instance i gets element i of each;
 * as many instances as the shortest list has elements.
 *
 * @example
 * d.map("pair", { over: zip({ file: files, size: sizes }) }, async ({ file, size }) => `${file}:${size}`);
 */
export function zip<const Z extends Record<string, TaskRef<readonly unknown[]> | TaskRef<Readonly<Record<string, unknown>>> | MappedRef<unknown> | readonly unknown[]>>(lists: Z): Zipped<Z> {
  if (typeof lists !== "object" || lists === null || Object.keys(lists).length < 1) throw new SluiceError("INVALID_DAG", `zip() needs an object of lists, e.g. zip({ a: refA, b: [1, 2] })`);
  return Object.freeze({ [ZIP]: lists }) as unknown as Zipped<Z>;
}

/** What the mapping options of one task give its spec and its code. */
export interface MapParts {
  map: { name: string; source: MapSource }[];
  mode: "product" | "zip" | "kwargs";
  partial: Record<string, unknown> | null;
  transforms: Record<string, Transform>;
}

/** The name of the one mapped argument of `overKwargs` in the spec. */
export const KWARGS = "overKwargs";

/**
 * Read a mapped task's `over` / `overKwargs` / `partial` options. `refId` checks that a handle is a task of
 * this DAG and gives its id.
 */
export function mapParts(where: string, options: { over?: unknown; overKwargs?: unknown; partial?: unknown; inputs?: object }, refId: (ref: unknown, field: string) => string): MapParts {
  const { over, overKwargs } = options;
  if ((over === undefined) === (overKwargs === undefined)) {
    throw new SluiceError("INVALID_DAG", `${where}: a mapped task needs exactly one of "over" (lists to map over, by name) or "overKwargs" (a list of argument objects)`);
  }
  const transforms: Record<string, Transform> = {};
  const source = (name: string, src: unknown, field: string): MapSource => {
    if (Array.isArray(src)) {
      try {
        return { values: JSON.parse(JSON.stringify(src)) as unknown[] };
      } catch {
        throw new SluiceError("INVALID_DAG", `${where}: the literal list "${name}" must be JSON (map over an upstream output instead)`);
      }
    }
    const fn = typeof src === "object" && src !== null ? (src as { [TRANSFORM]?: Transform })[TRANSFORM] : undefined;
    const task = refId(src, field);
    if (!fn) return { task };
    transforms[name] = fn;
    return { task, transform: true };
  };
  const parts: MapParts = { map: [], mode: "product", partial: partialArgs(where, options.partial), transforms };
  if (overKwargs !== undefined) {
    parts.mode = "kwargs";
    if (Array.isArray(overKwargs) && overKwargs.some((e) => typeof e !== "object" || e === null || Array.isArray(e))) {
      throw new SluiceError("INVALID_DAG", `${where}: overKwargs must be a list of argument objects, e.g. [{ x: 1, y: 2 }]`);
    }
    parts.map.push({ name: KWARGS, source: source(KWARGS, overKwargs, "overKwargs") });
    return parts;
  }
  const zipped = typeof over === "object" && over !== null ? (over as { [ZIP]?: Record<string, unknown> })[ZIP] : undefined;
  const lists = zipped ?? over;
  if (zipped) parts.mode = "zip";
  if (typeof lists !== "object" || lists === null || Array.isArray(lists) || Object.keys(lists).length === 0) {
    throw new SluiceError("INVALID_DAG", `${where}: "over" must name at least one list to map over`);
  }
  for (const [name, src] of Object.entries(lists)) {
    if (options.inputs && name in options.inputs) throw new SluiceError("INVALID_DAG", `${where}: "${name}" is both mapped over and an input`);
    if (parts.partial && name in parts.partial) throw new SluiceError("INVALID_DAG", `${where}: "${name}" is both mapped over and in partial`);
    parts.map.push({ name, source: source(name, src, `over.${name}`) });
  }
  return parts;
}

function partialArgs(where: string, v: unknown): Record<string, unknown> | null {
  if (v === undefined) return null;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new SluiceError("INVALID_DAG", `${where}: partial must be an object of fixed arguments, e.g. partial: { lr: 0.1 }`);
  try {
    return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
  } catch {
    throw new SluiceError("INVALID_DAG", `${where}: partial must be JSON (pass an upstream output as an input instead)`);
  }
}

/** A handle transformed with `.map(fn)` is only for `over` / `overKwargs`: anywhere else it is an error. */
export function isTransformed(ref: unknown): boolean {
  return typeof ref === "object" && ref !== null && TRANSFORM in ref;
}

/** The spec fields of a mapped task that are absent for plain cross products (so their versions stay as they were). */
export function mapSpecFields(parts: MapParts | null): Pick<TaskSpec, "mapMode" | "partial"> {
  if (!parts) return {};
  return { ...(parts.mode !== "product" ? { mapMode: parts.mode } : {}), ...(parts.partial ? { partial: parts.partial } : {}) };
}

