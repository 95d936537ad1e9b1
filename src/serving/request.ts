/**
 * The body of a predict request, shared by `sluice models serve`'s POST /predict and the API's
 * POST /api/v1/models/{name}/aliases/{alias}/predict: `{ "inputs": [row, …] }`, or `{ "inputs": row }`
 * for one row. Each row is then checked against the version's signature (signature.ts).
 */
import { SluiceError } from "../errors.js";

/** Rows per request at most (a bigger job is a batch pipeline, not a request). */
export const MAX_ROWS_PER_REQUEST = 10_000;

export function predictRows(body: unknown): unknown[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new SluiceError("INVALID_INPUT", `body: must be a JSON object { "inputs": [row, ...] }`, { details: { field: "inputs" } });
  }
  const inputs = (body as { inputs?: unknown }).inputs;
  const extra = Object.keys(body).find((k) => k !== "inputs");
  if (extra !== undefined) throw new SluiceError("INVALID_INPUT", `body: unknown field "${extra}" (send { "inputs": [row, ...] })`, { details: { field: extra } });
  if (inputs === undefined) throw new SluiceError("INVALID_INPUT", `inputs: is required ({ "inputs": [row, ...] } or { "inputs": row })`, { details: { field: "inputs" } });
  const rows = Array.isArray(inputs) ? inputs : [inputs];
  if (rows.length === 0) throw new SluiceError("INVALID_INPUT", "inputs: must hold at least one row", { details: { field: "inputs" } });
  if (rows.length > MAX_ROWS_PER_REQUEST) throw new SluiceError("INVALID_INPUT", `inputs: at most ${MAX_ROWS_PER_REQUEST} rows per request, got ${rows.length}`, { details: { field: "inputs" } });
  return rows;
}
