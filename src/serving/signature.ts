/**
 * Request rows checked against a model version's signature (ModelSignature.inputs: the JSON Schema of one
 * row). ajv compiles the schema once per loaded version — JSON Schema is what the registry stores, so the
 * one validator made for it is used rather than a conversion to zod that would drop keywords. A bad row is
 * a 400 that names the row's index and the field: `inputs[3].petal_width: must be number`.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ModelSignature } from "../core/models.js";
import { SluiceError } from "../errors.js";

/** Throws INVALID_INPUT (details.field: `inputs[i].field`) for the first row that does not match. */
export type RowValidator = (rows: readonly unknown[]) => void;

// one instance per draft for the process: compiled schemas are kept by the validators we return
let draft07: Ajv | null = null;
let draft2020: Ajv2020 | null = null;

/**
 * The validator of `model`'s rows. No signature, or no `inputs` schema: any JSON object passes. A schema
 * ajv refuses is the model's mistake, reported when the version loads (MODEL_LOAD), not per request.
 */
export function rowValidator(model: string, signature: ModelSignature | null): RowValidator {
  const schema = signature?.inputs;
  if (!schema || Object.keys(schema).length === 0) return (rows) => rows.forEach((r, i) => requireObject(r, i));
  let validate: ValidateFunction;
  try {
    // draft-07 schemas (what most generators emit) on ajv's default; 2020-12 and undeclared ones on Ajv2020
    const is07 = typeof schema["$schema"] === "string" && /draft-0[467]/.test(schema["$schema"]);
    const ajv = is07 ? (draft07 ??= new Ajv({ strict: false, allErrors: false })) : (draft2020 ??= new Ajv2020({ strict: false, allErrors: false }));
    const { $id: _id, ...rest } = schema;
    validate = ajv.compile(rest);
  } catch (e) {
    throw new SluiceError("MODEL_LOAD", `model "${model}": its signature's inputs schema is not valid JSON Schema: ${(e as Error).message}`, { cause: e });
  }
  return (rows) => {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (validate(row)) continue;
      const err = validate.errors?.[0];
      const { field, message } = err ? describe(err) : { field: "", message: "does not match the model's signature" };
      const path = `inputs[${i}]${field}`;
      throw new SluiceError("INVALID_INPUT", `${path}: ${message} (model "${model}")`, { details: { field: path, row: i } });
    }
  };
}

function requireObject(row: unknown, i: number): void {
  if (typeof row !== "object" || row === null || Array.isArray(row)) {
    throw new SluiceError("INVALID_INPUT", `inputs[${i}]: must be an object`, { details: { field: `inputs[${i}]`, row: i } });
  }
}

/** ajv's error as a path below the row (`.a.b`, `[2]`) and a message. */
function describe(e: ErrorObject): { field: string; message: string } {
  const segments = e.instancePath
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  let field = segments.map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join("");
  let message = e.message ?? "is not valid";
  if (e.keyword === "required") {
    field += `.${String((e.params as { missingProperty: string }).missingProperty)}`;
    message = "is required";
  } else if (e.keyword === "additionalProperties") {
    field += `.${String((e.params as { additionalProperty: string }).additionalProperty)}`;
    message = "is not a field of the model's signature";
  } else if (e.keyword === "enum") {
    message = `must be one of ${JSON.stringify((e.params as { allowedValues: unknown[] }).allowedValues)}`;
  }
  return { field, message };
}
