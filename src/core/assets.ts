/**
 * Assets and events: pure rules for data-aware scheduling (no I/O).
 *
 * An asset is a piece of data named by a string — a URI ("s3://lake/orders") or a dotted name
 * ("warehouse.daily_sales"). Tasks declare the assets they produce; each success of such a task records
 * an asset event. A DAG can be scheduled on assets: `anyOf` runs it when any of them has a new event,
 * `allOf` when every one of them has a new event since the DAG's last asset-triggered run (Airflow's
 * `Asset | Asset` and `[Asset, Asset]`). External events are named too ("new_orders"); a DAG subscribes
 * to them by name.
 */
import { createHash } from "node:crypto";
import { SluiceError } from "../errors.js";

/** A JSON value: what event payloads and asset metadata are. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** When an asset-scheduled DAG runs. Plain data: part of the DAG spec. */
export interface AssetSchedule {
  /** anyOf: a new event of any asset triggers a run; allOf: every asset needs a new event. */
  mode: "anyOf" | "allOf";
  /** Sorted, without duplicates. */
  assets: string[];
}

/** A URI with a scheme ("s3://bucket/key", "postgres://db/schema.table", "file:///data/x.csv"). */
// eslint-disable-next-line no-control-regex -- control characters are what it rejects
const ASSET_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s\u0000-\u001f\u007f]+$/;
/** A name: letters, digits and `_ . - /`, not starting with a separator ("warehouse.daily_sales"). */
const ASSET_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;
const MAX_ASSET_LENGTH = 500;

/** Event names end up in URLs (`POST /api/v1/events/<name>`): URL-safe characters only. */
const EVENT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,199}$/;

/** Is `name` a valid asset name or URI? Returns it; throws INVALID_DAG naming `where` otherwise. */
export function checkAssetName(name: unknown, where: string): string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_ASSET_LENGTH || !(ASSET_URI.test(name) || ASSET_NAME.test(name))) {
    throw new SluiceError(
      "INVALID_DAG",
      `${where}: asset ${JSON.stringify(name)} is invalid; use a URI like "s3://lake/orders" or a name like "warehouse.daily_sales" (letters, digits, "_", ".", "-", "/"; at most ${MAX_ASSET_LENGTH} characters)`,
    );
  }
  return name;
}

export function isEventName(name: unknown): name is string {
  return typeof name === "string" && EVENT_NAME.test(name);
}

export function checkEventName(name: unknown, where: string): string {
  if (!isEventName(name)) {
    throw new SluiceError(
      "INVALID_DAG",
      `${where}: event name ${JSON.stringify(name)} is invalid; use letters, digits, "_", ".", ":" and "-" (at most 200, not starting with a separator)`,
    );
  }
  return name;
}

/** A sorted list of distinct valid asset names from an option value. */
export function assetList(v: unknown, where: string, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SluiceError("INVALID_DAG", `${where}: ${field} must be a list of asset names or URIs, e.g. ["s3://lake/orders"]`);
  const names = v.map((n) => checkAssetName(n, `${where}: ${field}`));
  return [...new Set(names)].sort();
}

/** Parse the `{ assets: { anyOf | allOf: [...] } }` form of a DAG's `schedule`. */
export function parseAssetSchedule(v: unknown, where: string): AssetSchedule {
  const assets = (v as { assets?: unknown } | null)?.assets;
  const keys = typeof assets === "object" && assets !== null ? Object.keys(assets) : [];
  if (keys.length !== 1 || (keys[0] !== "anyOf" && keys[0] !== "allOf")) {
    throw new SluiceError("INVALID_DAG", `${where}: an asset schedule is { assets: { anyOf: [...] } } or { assets: { allOf: [...] } }`);
  }
  const mode = keys[0];
  const list = assetList((assets as Record<string, unknown>)[mode], where, `schedule.assets.${mode}`);
  if (list.length === 0) throw new SluiceError("INVALID_DAG", `${where}: schedule.assets.${mode} must name at least one asset`);
  return { mode, assets: list };
}

/**
 * Which assets a run consumes when `fresh` (assets with events the DAG has not consumed yet) is known:
 * null when the condition does not hold. anyOf consumes every fresh asset it names; allOf needs them all.
 */
export function assetsToConsume(schedule: AssetSchedule, fresh: ReadonlySet<string>): string[] | null {
  const named = schedule.assets.filter((a) => fresh.has(a));
  if (schedule.mode === "anyOf") return named.length > 0 ? named : null;
  return named.length === schedule.assets.length ? named : null;
}

/** One asset's consumed events: ids in (afterId, throughId]. */
export interface ConsumedRange {
  asset: string;
  afterId: number;
  throughId: number;
}

/**
 * The run key of an asset-triggered run, derived from the events it consumes: whoever evaluates the same
 * state gets the same key, and the store's unique (dag, run_key) turns a second attempt into a no-op.
 */
export function assetRunKey(consumed: readonly ConsumedRange[]): string {
  const text = [...consumed]
    .sort((a, b) => (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0))
    .map((c) => `${c.asset}\0${c.afterId}\0${c.throughId}`)
    .join("\n");
  return `assets:${createHash("sha256").update(text).digest("hex").slice(0, 24)}`;
}

/** A short description for listings: `anyOf(a, b)`. */
export function describeAssetSchedule(s: AssetSchedule): string {
  return `${s.mode}(${s.assets.join(", ")})`;
}

/** Is `v` JSON (and not too deep)? Used for metadata that tasks attach to their asset events. */
export function isJsonObject(v: unknown): v is Record<string, JsonValue> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  try {
    const text = JSON.stringify(v);
    return JSON.stringify(JSON.parse(text)) === text;
  } catch {
    return false;
  }
}

const MAX_METADATA_BYTES = 64 * 1024;

/**
 * The `ctx.assetMetadata` calls of one attempt: asset names are checked against the task's `produces`,
 * metadata must be a JSON object (at most 64 KB per asset), and calls for the same asset merge.
 */
export class AssetMetadataCollector {
  private readonly byAsset = new Map<string, Record<string, JsonValue>>();

  constructor(
    private readonly taskId: string,
    private readonly produces: readonly string[],
  ) {}

  record(asset: unknown, metadata: unknown): void {
    const where = `task "${this.taskId}": ctx.assetMetadata(${JSON.stringify(asset)}, …)`;
    if (typeof asset !== "string" || !this.produces.includes(asset)) {
      const declared = this.produces.length ? `it produces ${this.produces.map((a) => `"${a}"`).join(", ")}` : `it declares no assets (add produces: [${JSON.stringify(asset)}] to its options)`;
      throw new SluiceError("TASK_FAILED", `${where}: not an asset of this task; ${declared}`);
    }
    if (!isJsonObject(metadata)) throw new SluiceError("TASK_FAILED", `${where}: metadata must be a JSON object, e.g. { rows: 123 }`);
    const merged = { ...(this.byAsset.get(asset) ?? {}), ...(JSON.parse(JSON.stringify(metadata)) as Record<string, JsonValue>) };
    if (Buffer.byteLength(JSON.stringify(merged)) > MAX_METADATA_BYTES) throw new SluiceError("TASK_FAILED", `${where}: metadata is larger than 64 KB; store large data as an output`);
    this.byAsset.set(asset, merged);
  }

  /** Metadata per asset, or null when none was attached. */
  collected(): Record<string, Record<string, JsonValue>> | null {
    return this.byAsset.size ? Object.fromEntries(this.byAsset) : null;
  }
}
