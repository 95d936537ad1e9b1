/** A run's params checked against its DAG's schema, with messages that name the DAG and the param. */
import { validateWithSchema } from "../core/standardSchema.js";
import { SluiceError } from "../errors.js";
import type { LoadedDag } from "./dagLoader.js";

export async function validateParams(
  dagId: string,
  schema: LoadedDag["dag"]["paramsSchema"],
  raw: Record<string, unknown>,
  jsonSchema: unknown,
): Promise<Record<string, unknown>> {
  // Schema libraries often drop unknown keys silently (zod objects do): a typo must not vanish.
  const known = (jsonSchema as { properties?: Record<string, unknown>; additionalProperties?: unknown } | null)?.properties;
  if (known && (jsonSchema as { additionalProperties?: unknown }).additionalProperties !== true) {
    const unknown = Object.keys(raw).filter((k) => !(k in known));
    if (unknown.length) {
      throw new SluiceError(
        "INVALID_PARAM",
        `DAG "${dagId}" has no param ${unknown.map((k) => `"${k}"`).join(", ")}; its params are: ${Object.keys(known).join(", ") || "(none)"}`,
        { details: { dagId, param: unknown[0] } },
      );
    }
  }
  if (!schema) {
    const extra = Object.keys(raw);
    if (extra.length) throw new SluiceError("INVALID_PARAM", `DAG "${dagId}" takes no params, got ${extra.map((k) => `"${k}"`).join(", ")}`, { details: { dagId, param: extra[0] } });
    return {};
  }
  const checked = await validateWithSchema(schema, raw);
  if (!checked.ok) {
    const first = checked.issues[0]!;
    const all = checked.issues.map((i) => (i.path ? `param "${i.path}": ${i.message}` : i.message)).join("; ");
    throw new SluiceError("INVALID_PARAM", `DAG "${dagId}": ${all}`, { details: { dagId, param: first.path, issues: checked.issues } });
  }
  if (typeof checked.value !== "object" || checked.value === null) throw new SluiceError("INVALID_PARAM", `DAG "${dagId}": params must be an object`);
  return JSON.parse(JSON.stringify(checked.value)) as Record<string, unknown>;
}
