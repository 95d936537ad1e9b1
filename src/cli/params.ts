/** `--param key=value` parsing: a value is read as JSON when it is JSON (0.1, true, [1,2]) and the schema accepts it, else as text. */
import { validateWithSchema, type StandardSchemaV1 } from "../core/standardSchema.js";
import { SluiceError } from "../errors.js";

export function parseParamPairs(pairs: string[]): { raw: Record<string, string>; parsed: Record<string, unknown> } {
  const raw: Record<string, string> = {};
  const parsed: Record<string, unknown> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new SluiceError("USAGE", `--param ${JSON.stringify(p)}: expected key=value`);
    const key = p.slice(0, eq);
    const value = p.slice(eq + 1);
    raw[key] = value;
    try {
      parsed[key] = JSON.parse(value);
    } catch {
      parsed[key] = value;
    }
  }
  return { raw, parsed };
}

/** Choose, per key, JSON or text, whichever the schema accepts (so `--param name=123` can still be a string). */
export async function coerceParams(schema: StandardSchemaV1 | null, pairs: string[]): Promise<Record<string, unknown>> {
  const { raw, parsed } = parseParamPairs(pairs);
  if (!schema) return parsed;
  const first = await validateWithSchema(schema, parsed);
  if (first.ok) return parsed;
  const out = { ...parsed };
  const switched = new Set<string>();
  for (const issue of first.issues) {
    const key = issue.path.split(".")[0]!;
    if (key in raw && typeof parsed[key] !== "string") {
      out[key] = raw[key];
      switched.add(key);
    }
  }
  if (switched.size === 0) return out;
  const second = await validateWithSchema(schema, out);
  if (second.ok) return out;
  // a key whose text the schema rejects too keeps its JSON value: its error then says what the schema says
  // ("too big: expected number to be <=10"), not "expected number, received string"
  for (const issue of second.issues) {
    const key = issue.path.split(".")[0]!;
    if (switched.has(key)) out[key] = parsed[key];
  }
  return out;
}
