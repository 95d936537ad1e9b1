/**
 * The weather classifier as a model server loads it: the registry's "js" flavor (src/core/models.ts) names
 * this module and its `load` export. `load` turns the artifact the training DAG writes (model.json, a
 * SoftmaxModel) into a predictor of raw observations, featurised exactly as in training.
 *
 * (This helper must not mention the orchestrator's name: the DAG loader imports every file that does.)
 */
import { z } from "zod";
import { predict, standardise, type SoftmaxModel } from "./model.js";
import { FEATURE_NAMES, featurise, LOCATIONS, type Observation } from "./weather.js";

/** One prediction request row (validated here too: a model must not answer garbage with a label). */
const OBSERVATION = z.object({
  location: z.enum(LOCATIONS),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  precipitation: z.number().min(0),
  temp_max: z.number(),
  temp_min: z.number(),
  wind: z.number().min(0),
});

/** The model's signature for registration: what a request row is and what an answer is (JSON Schema). */
export const SIGNATURE = {
  inputs: z.toJSONSchema(OBSERVATION) as Record<string, unknown>,
  outputs: { type: "string", enum: ["drizzle", "fog", "rain", "snow", "sun"] } as Record<string, unknown>,
};

/** Parse and check an artifact: a model whose inputs differ from today's featurisation is refused. */
export function parseModel(artifact: Uint8Array): SoftmaxModel {
  const model = JSON.parse(new TextDecoder().decode(artifact)) as SoftmaxModel;
  if (model.featureNames?.join() !== FEATURE_NAMES.join()) {
    throw new Error(`model.json: its features (${String(model.featureNames)}) are not this code's (${FEATURE_NAMES.join()}); retrain it`);
  }
  return model;
}

export function load(artifact: Uint8Array): { predict(rows: readonly unknown[]): string[] } {
  const model = parseModel(artifact);
  return {
    predict(rows) {
      const observations = rows.map((r, i) => {
        const parsed = OBSERVATION.safeParse(r);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new Error(`row ${i}, field ${issue.path.join(".") || "(row)"}: ${issue.message}`);
        }
        return parsed.data satisfies Observation;
      });
      const x = standardise(observations.map(featurise), model.mean, model.std);
      return predict(model.weights, x).map((k) => model.classes[k]!);
    },
  };
}
