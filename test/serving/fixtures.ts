/** Tiny model code for the serving tests: a JS module and a Python script, both scaling `x` by the artifact's factor. */
import { spawnSync } from "node:child_process";
import type { ModelFlavor, ModelVersionRecord } from "../../src/core/models.js";

/** `load(artifact, version)`: predictions name the version that made them, so a test can check the answer's. */
export const JS_MODEL = `
export function load(artifact, version) {
  const { factor } = JSON.parse(new TextDecoder().decode(artifact));
  let closed = false;
  return {
    predict(rows) {
      // a version closed before its last request was answered would fail that request
      if (closed) throw new Error("predict on a closed model");
      return rows.map((r) => {
        if (r.x === -13) throw new Error("unlucky row");
        return { y: r.x * factor, by: version.version };
      });
    },
    close() { closed = true; globalThis.__closedModels = (globalThis.__closedModels ?? 0) + 1; },
  };
}
`;

export const PY_MODEL = `
import json, os

def load(path):
    with open(path) as f:
        factor = json.load(f)["factor"]
    version = int(os.path.basename(path).split("-v")[1].split("-")[0])
    class Model:
        def predict(self, rows):
            print("predicting", len(rows))
            return [{"y": r["x"] * factor, "by": version} for r in rows]
    return Model()
`;

export const SIGNATURE = {
  inputs: { type: "object", properties: { x: { type: "number" }, label: { type: "string", enum: ["a", "b"] } }, required: ["x"], additionalProperties: false },
  outputs: null,
};

export const hasPython: boolean = spawnSync("python3", ["-c", "import json"]).status === 0;

/** A version record as the registry would give it. */
export function record(name: string, version: number, artifactRef: string, flavor: ModelFlavor): ModelVersionRecord {
  return {
    name,
    version,
    artifactRef,
    flavor,
    framework: flavor.kind === "js" ? "handmade" : "python",
    signature: SIGNATURE,
    metrics: { accuracy: 0.9 + version / 100 },
    params: {},
    description: null,
    dagId: "train",
    dagVersion: "v1",
    runId: `run-${version}`,
    taskId: "register",
    mapIndex: -1,
    attemptId: version,
    createdAt: 1_700_000_000_000 + version,
  };
}
