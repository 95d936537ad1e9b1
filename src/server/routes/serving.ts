/**
 * Model serving inside `sluice dev` / `sluice server` (serving/deploymentPool.ts), for deployments too
 * small for a separate `sluice models serve`: the same validation and answers as its POST /predict, and
 * the inference log for monitoring.
 *
 * Predicting needs the operator role, not viewer: a prediction is written to the inference log, which the
 * drift monitor reads to decide whether to retrain — a viewer, who may only look, must not be able to
 * feed it; and it runs the model's code on the server's CPU. Reading the log is viewer.
 */
import { z } from "zod";
import { INFERENCE_LOG_MAX_READ } from "../../store/inferenceLog.js";
import type { DeploymentPool } from "../../serving/deploymentPool.js";
import { predictRows } from "../../serving/request.js";
import { query, route, type Route } from "../route.js";
import { inferenceLogSchema, predictSchema } from "../schemas.js";

export function servingRoutes(pool: () => DeploymentPool): Route[] {
  return [
    route({
      method: "post",
      path: "/models/:name/aliases/:alias/predict",
      response: predictSchema,
      access: "operator",
      tag: "models",
      summary: "Predict with the version an alias points at: { inputs: [row, …] } (or one row) → { model, version, predictions }; rows are checked against the version's signature",
      body: z.strictObject({ inputs: z.unknown() }),
      async handler({ params, body }) {
        const rows = predictRows(body);
        const d = await pool().get(params.name!, params.alias!);
        return d.deployment.predict(rows);
      },
    }),
    route({
      method: "get",
      path: "/models/:name/inference-log",
      response: inferenceLogSchema,
      access: "viewer",
      tag: "models",
      summary: "A model's logged requests (sampled, newest N kept), oldest first: each row's input, prediction and the version that made it",
      query: query({
        since: z.coerce.number().int().min(0).optional(),
        afterId: z.coerce.number().int().min(0).optional(),
        version: z.coerce.number().int().min(1).optional(),
        limit: z.coerce.number().int().min(1).max(INFERENCE_LOG_MAX_READ).default(1000),
      }),
      async handler({ env, params, query: q }) {
        const rows = await env.sluice.store.inferenceLog.recent(params.name!, {
          limit: q.limit,
          ...(q.since !== undefined ? { since: q.since } : {}),
          ...(q.afterId !== undefined ? { afterId: q.afterId } : {}),
          ...(q.version !== undefined ? { version: q.version } : {}),
        });
        return { model: params.name!, rows };
      },
    }),
  ];
}
