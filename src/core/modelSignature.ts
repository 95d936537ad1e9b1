/**
 * A registered model's signature as JSON Schemas (pure): what `ctx.models.register` accepts — a zod schema,
 * which describes itself (`toJSONSchema`), a JSON Schema of an object, or `{ inputs, outputs }` — made into
 * the JSON the registry stores and a model server validates requests against. Used in the worker and in
 * a process-isolated task's child (a zod schema does not cross IPC).
 */
import type { ModelSignature } from "./models.js";
import { SluiceError } from "../errors.js";

/**
 * A signature as JSON Schemas: a zod schema describes itself (`toJSONSchema`), a JSON Schema of an object is
 * taken as the inputs, `{ inputs, outputs }` as is. One request row must be an object.
 */
export function signatureOf(where: string, sig: unknown): ModelSignature | null {
  if (sig === undefined || sig === null) return null;
  if (typeof sig !== "object") throw new SluiceError("INVALID_INPUT", `${where}: signature must be a zod object schema or a JSON Schema`, { details: { field: "signature" } });
  let inputs: unknown;
  let outputs: unknown = null;
  if ("~standard" in sig) {
    const toJson = (sig as { toJSONSchema?: (o: object) => unknown }).toJSONSchema;
    if (typeof toJson !== "function") throw new SluiceError("INVALID_INPUT", `${where}: signature: this schema library cannot describe itself as JSON Schema; pass a zod 4 schema or a JSON Schema`, { details: { field: "signature" } });
    try {
      inputs = toJson.call(sig, { io: "input", unrepresentable: "any" });
    } catch (e) {
      throw new SluiceError("INVALID_INPUT", `${where}: signature cannot be turned into JSON Schema: ${(e as Error).message}`, { details: { field: "signature" } });
    }
  } else if ("inputs" in sig) {
    inputs = (sig).inputs;
    outputs = (sig as { outputs?: unknown }).outputs ?? null;
  } else inputs = sig;
  const isObjectSchema = (s: unknown) => typeof s === "object" && s !== null && !Array.isArray(s) && ((s as { type?: unknown }).type === "object" || "properties" in s);
  if (!isObjectSchema(inputs)) throw new SluiceError("INVALID_INPUT", `${where}: signature must describe an object (one request row): a zod object or a JSON Schema with type "object"`, { details: { field: "signature" } });
  if (outputs !== null && (typeof outputs !== "object" || Array.isArray(outputs))) throw new SluiceError("INVALID_INPUT", `${where}: signature.outputs must be a JSON Schema`, { details: { field: "signature" } });
  // JSON only: what the registry stores and a model server validates against
  return JSON.parse(JSON.stringify({ inputs, outputs })) as ModelSignature;
}
