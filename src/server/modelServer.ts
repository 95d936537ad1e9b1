/**
 * The HTTP front of `sluice models serve <name>@<alias>` (serving/deployment.ts does the work): a small
 * Hono app of its own, on its own port, without the REST API's users and sessions — an inference endpoint
 * sits behind the deployment's own network policy, as MLflow's and BentoML's do.
 *
 *   POST /predict   { "inputs": [row, …] } or { "inputs": row }  ->  { model, version, predictions }
 *                   400 naming the row and field when a row does not match the version's signature
 *   GET  /health    { status: "ok" | "unavailable", model, alias, version }  (503 while a Python model restarts)
 *   GET  /metadata  name, alias, version, signature, framework, metrics, flavor, batching, inference log
 */
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { SluiceError, toSluiceError } from "../errors.js";
import type { ModelDeployment } from "../serving/deployment.js";
import { predictRows } from "../serving/request.js";
import { readBody } from "./http.js";
import { startServer, type RunningServer } from "./server.js";

export interface ModelServerInfo {
  batch: { windowMs: number; maxBatch: number };
  inferenceLog: { sampleRate: number; limit: number } | null;
}

function fail(c: Context, err: SluiceError): Response {
  const field = err.details["field"];
  const fields = typeof field === "string" && field ? { fields: [{ path: field, message: err.message }] } : {};
  return c.json({ code: err.code, message: err.message, ...fields }, err.httpStatus as ContentfulStatusCode);
}

/** Parse a predict request's JSON body into rows (400s name the field). */
export async function readPredictRows(c: Context): Promise<unknown[]> {
  const text = await readBody(c);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SluiceError("INVALID_PAYLOAD", `the request body is not JSON: ${(e as Error).message}`);
  }
  return predictRows(json);
}

/** Whether the deployment's predictor can answer now (a Python model's process may be restarting). */
export function deploymentHealthy(d: ModelDeployment): boolean {
  const p = d.predictor as { healthy?: boolean };
  return p.healthy !== false;
}

/** The deployment's description (GET /metadata, and the API route's metadata). */
export function deploymentMetadata(d: ModelDeployment, info: ModelServerInfo): Record<string, unknown> {
  const v = d.current;
  return {
    name: v.name,
    alias: d.alias,
    version: v.version,
    framework: v.framework,
    flavor: v.flavor.kind,
    signature: v.signature,
    metrics: v.metrics,
    params: v.params,
    description: v.description,
    createdAt: v.createdAt,
    runId: v.runId,
    batch: info.batch,
    inferenceLog: info.inferenceLog,
  };
}

export function createModelApp(d: ModelDeployment, info: ModelServerInfo, onError?: (e: SluiceError) => void): Hono {
  const app = new Hono();
  app.onError((e, c) => {
    const err = toSluiceError(e);
    if (err.httpStatus >= 500) onError?.(err);
    if (err.code === "INTERNAL") return fail(c, new SluiceError("INTERNAL", "internal error; the server log has the details"));
    return fail(c, err);
  });
  app.notFound((c) => fail(c, new SluiceError("ROUTE_NOT_FOUND", `no endpoint ${c.req.method} ${c.req.path} (POST /predict, GET /health, GET /metadata)`)));
  app.post("/predict", async (c) => c.json(await d.predict(await readPredictRows(c))));
  app.get("/health", (c) => {
    const ok = deploymentHealthy(d);
    return c.json({ status: ok ? "ok" : "unavailable", model: d.name, alias: d.alias, version: d.current.version }, ok ? 200 : 503);
  });
  app.get("/metadata", (c) => c.json(deploymentMetadata(d, info)));
  return app;
}

export function startModelServer(d: ModelDeployment, info: ModelServerInfo, opts: { port: number; host: string; onError?: (e: SluiceError) => void }): Promise<RunningServer> {
  return startServer(createModelApp(d, info, opts.onError), { port: opts.port, host: opts.host });
}
