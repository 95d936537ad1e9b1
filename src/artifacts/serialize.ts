/**
 * Task outputs are stored in V8's structured-clone format (what postMessage uses): JSON-like data plus
 * Buffer, typed arrays, Date, Map, Set, BigInt, undefined and cycles, with no code of ours to get wrong.
 * Functions, symbols and similar fail loudly, naming the task. See docs/decisions/0003-output-format.md.
 */
import { deserialize, serialize } from "node:v8";
import { SluiceError } from "../errors.js";

export function encodeOutput(value: unknown, where: string): Buffer {
  try {
    return serialize(value);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    throw new SluiceError(
      "SERIALIZATION",
      `${where} returned a value that cannot be stored (${detail}); return plain data: objects, arrays, strings, numbers, booleans, null, Buffers, typed arrays, Dates, Maps or Sets`,
      { cause: e },
    );
  }
}

export function decodeOutput(bytes: Uint8Array): unknown {
  return deserialize(bytes);
}

/** A JSON-safe rendering of an output for previews and `--json` (binary shown by size, not content). */
export function toPreview(value: unknown, depth = 0): unknown {
  if (value === undefined) return null;
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return value.toISOString();
  if (ArrayBuffer.isView(value)) return `<${value.constructor.name} ${value.byteLength} bytes>`;
  if (value instanceof ArrayBuffer) return `<ArrayBuffer ${value.byteLength} bytes>`;
  if (depth > 20) return "…";
  if (Array.isArray(value)) return value.map((v) => toPreview(v, depth + 1));
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toPreview(v, depth + 1)]));
  if (value instanceof Set) return [...value].map((v) => toPreview(v, depth + 1));
  if (typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPreview(v, depth + 1)]));
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- what is left is a function or a symbol: String() names it
  return String(value);
}
