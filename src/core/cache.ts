/**
 * Caching across runs (issue 15, item 1): the key an attempt of a cached task is looked up by, and whether
 * a stored entry may be reused. Pure: the worker gathers the parts (code, encoded inputs, params) and the
 * store only reads and writes entries (docs/decisions/0029-caching.md).
 */
import { createHash } from "node:crypto";
import type { CacheSpec } from "./dagSpec.js";

/** What the key of one attempt is made of. */
export interface CacheKeyParts {
  dagId: string;
  taskId: string;
  spec: CacheSpec;
  /** The task's code: a function's source, a shell command and its args, a Python script's content. */
  code: string;
  /** The attempt's resolved inputs (map item included), canonically encoded (core/canonical.ts). */
  inputs: Uint8Array;
  /** The run's params. */
  params: Record<string, unknown>;
  /** The user's key (`cacheKey`): replaces code, inputs and params; null: the default key. */
  custom: string | null;
}

/**
 * The entry's key: SHA-256 over length-prefixed parts, so that no two different part lists give the same
 * bytes ("ab"+"c" and "a"+"bc" differ). Always scoped by DAG, task and `cacheVersion`: a user's key can
 * never reuse another task's output.
 */
export function cacheKey(p: CacheKeyParts): string {
  const h = createHash("sha256");
  const part = (s: string | Uint8Array): void => {
    const b = typeof s === "string" ? Buffer.from(s, "utf8") : s;
    h.update(`${b.length}:`);
    h.update(b);
  };
  part(p.dagId);
  part(p.taskId);
  part(p.spec.version ?? "");
  if (p.custom !== null) {
    part("custom");
    part(p.custom);
  } else {
    part("default");
    part(p.code);
    part(createHash("sha256").update(p.inputs).digest("hex"));
    part(stableJson(keyParams(p.params, p.spec.params)));
  }
  return h.digest("hex");
}

/** The params that are part of the key: all, or only those named by `cacheParams` (absent ones as null). */
export function keyParams(params: Record<string, unknown>, names: readonly string[] | null): Record<string, unknown> {
  if (names === null) return params;
  const out: Record<string, unknown> = {};
  for (const n of names) out[n] = params[n] ?? null;
  return out;
}

/** When a new entry stops being reused; null: never. */
export function cacheExpiresAt(spec: CacheSpec, now: number): number | null {
  return spec.expiresMs === null ? null : now + spec.expiresMs;
}

/**
 * Whether a stored entry may be reused: its source attempt succeeded (a cleared or failed one never is),
 * and it has not expired by the clock's time.
 */
export function cacheEntryUsable(entry: { sourceState: string; expiresAt: number | null }, now: number): boolean {
  return entry.sourceState === "success" && (entry.expiresAt === null || entry.expiresAt > now);
}

/** JSON with object keys sorted, so that {a,b} and {b,a} give the same key. */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}
