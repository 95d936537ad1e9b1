/**
 * The model server's core without HTTP or the registry: a ModelDeployment over a source whose alias the
 * test moves, with real model code (a JS module under the DAGs folder, a Python script in a real Python
 * process). Proves the hot swap (no failed request, each answer from a version that held the alias while
 * the request was in flight, the version named in the answer is the one whose code predicted), batching,
 * validation naming the row and field, and the Python process's restart.
 */
import { strict as assert } from "node:assert";
import { after, before, describe, it } from "node:test";
import { LocalArtifactStore } from "../../src/artifacts/artifactStore.js";
import type { ModelVersionRecord } from "../../src/core/models.js";
import { SluiceError } from "../../src/errors.js";
import { ModelDeployment } from "../../src/serving/deployment.js";
import { createModelApp } from "../../src/server/modelServer.js";
import { loadPredictor } from "../../src/serving/loadPredictor.js";
import type { PythonPredictor } from "../../src/serving/pythonPredictor.js";
import { sandbox, waitFor, type Sandbox } from "../helpers.js";
import { hasPython, JS_MODEL, PY_MODEL, record } from "./fixtures.js";

class Alias {
  holders: number[] = [];
  constructor(private readonly versions: Map<number, ModelVersionRecord>) {}
  set(v: number): void {
    this.holders.push(v);
  }
  get epoch(): number {
    return this.holders.length - 1;
  }
  source() {
    return { resolve: async (_n: string, _a: string) => this.versions.get(this.holders[this.holders.length - 1]!) ?? null };
  }
}

let sb: Sandbox;
let artifacts: LocalArtifactStore;
const logs: string[] = [];
const load = (v: ModelVersionRecord) => loadPredictor(v, { dagsDir: sb.dags, artifacts, python: "python3", env: { PATH: process.env["PATH"] ?? "" }, workDir: `${sb.home}/models`, log: (l) => logs.push(l), restartDelayMs: 3000 });

before(() => {
  sb = sandbox("sluice-serving-");
  sb.write("models/scale.ts", JS_MODEL);
  sb.write("models/scale.py", PY_MODEL);
  artifacts = new LocalArtifactStore(`${sb.home}/artifacts`);
});
after(() => sb.cleanup());

async function versionsOf(kind: "js" | "python"): Promise<Map<number, ModelVersionRecord>> {
  const m = new Map<number, ModelVersionRecord>();
  for (const [v, factor] of [
    [1, 10],
    [2, 100],
  ] as const) {
    const ref = await artifacts.put(Buffer.from(JSON.stringify({ factor })));
    m.set(v, record("scaler", v, ref, kind === "js" ? { kind: "js", module: "models/scale.ts", export: "load" } : { kind: "python", script: "models/scale.py" }));
  }
  return m;
}

/** Requests in a steady stream while the alias moves back and forth; returns what was answered. */
async function swapUnderLoad(d: ModelDeployment, alias: Alias, versions: Map<number, ModelVersionRecord>, moves: number) {
  const factor = (v: number) => (v === 1 ? 10 : 100);
  let failures = 0;
  const answers: { version: number; from: number; to: number }[] = [];
  let stop = false;
  const client = async (k: number) => {
    for (let i = 0; !stop; i++) {
      // what the server switched to so far (history), before and after: the version that answered must
      // have been the server's current one at some moment of the request
      const from = d.history.length;
      try {
        const x = k * 1000 + i;
        const a = await d.predict([{ x }, { x: x + 0.5 }]);
        const to = d.history.length;
        assert.equal(a.model, "scaler");
        // the answer names the version whose code and artifact predicted
        assert.deepEqual(a.predictions, [
          { y: x * factor(a.version), by: a.version },
          { y: (x + 0.5) * factor(a.version), by: a.version },
        ]);
        answers.push({ version: a.version, from, to });
      } catch (e) {
        failures++;
        throw e;
      }
    }
  };
  const clients = Array.from({ length: 8 }, (_, k) => client(k));
  for (let m = 0; m < moves; m++) {
    const next = alias.holders[alias.epoch] === 1 ? 2 : 1;
    alias.set(next);
    await d.check();
    assert.equal(d.current.version, next);
    await new Promise((r) => setTimeout(r, 40));
  }
  stop = true;
  await Promise.all(clients);
  assert.equal(failures, 0);
  for (const a of answers) {
    const held = d.history.slice(a.from - 1, a.to);
    assert.ok(held.includes(a.version), `version ${a.version} answered a request made while the server served ${held.join(", ")}`);
  }
  // and the server only ever served what the alias held, in the order it held them
  assert.deepEqual(d.history, alias.holders);
  assert.ok(versions.size === 2);
  return answers;
}

describe("model deployment (hot swap, batching, validation)", () => {
  it("js: swaps back and forth under a steady stream of requests with none failed; old versions are closed once drained", async () => {
    const versions = await versionsOf("js");
    const alias = new Alias(versions);
    alias.set(1);
    const d = await ModelDeployment.start({ name: "scaler", alias: "champion", source: alias.source(), load, pollMs: 0, batch: { windowMs: 2, maxBatch: 64 } });
    try {
      const answers = await swapUnderLoad(d, alias, versions, 6);
      assert.ok(answers.length > 50, `only ${answers.length} answers`);
      assert.deepEqual(new Set(answers.map((a) => a.version)), new Set([1, 2]));
      assert.deepEqual(d.history, [1, 2, 1, 2, 1, 2, 1]);
      // six swaps: six predictors retired and closed (each drained first)
      await waitFor(() => (globalThis as { __closedModels?: number }).__closedModels === 6, 5000, "the six retired predictors to close");
    } finally {
      await d.close();
    }
  });

  it("batches concurrent requests into fewer predict calls", async () => {
    const versions = await versionsOf("js");
    const alias = new Alias(versions);
    alias.set(2);
    const d = await ModelDeployment.start({ name: "scaler", alias: "champion", source: alias.source(), load, pollMs: 0, batch: { windowMs: 20, maxBatch: 1000 } });
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => d.predict([{ x: i }])));
      answers.forEach((a, i) => assert.deepEqual(a.predictions, [{ y: i * 100, by: 2 }]));
      assert.ok(d.batchCalls < 50, `${d.batchCalls} predict calls for 50 requests`);
      // a request whose row makes the model throw fails alone; its batch neighbours are answered
      const mixed = await Promise.allSettled([d.predict([{ x: 1 }]), d.predict([{ x: -13 }]), d.predict([{ x: 2 }])]);
      assert.equal(mixed[0].status, "fulfilled");
      assert.equal(mixed[2].status, "fulfilled");
      assert.equal(mixed[1].status, "rejected");
      const err = (mixed[1] as PromiseRejectedResult).reason as SluiceError;
      assert.equal(err.code, "PREDICT_FAILED");
      assert.match(err.message, /model "scaler" version 2: predict failed: unlucky row/);
    } finally {
      await d.close();
    }
  });

  it("rejects a row that does not match the signature, naming the row and the field", async () => {
    const versions = await versionsOf("js");
    const alias = new Alias(versions);
    alias.set(1);
    const d = await ModelDeployment.start({ name: "scaler", alias: "champion", source: alias.source(), load, pollMs: 0 });
    try {
      const cases: [unknown[], string, RegExp][] = [
        [[{ x: 1 }, { x: "two" }], "inputs[1].x", /inputs\[1\]\.x: must be number/],
        [[{ x: 1 }, { x: 2 }, {}], "inputs[2].x", /inputs\[2\]\.x: is required/],
        [[{ x: 1, colour: "red" }], "inputs[0].colour", /not a field of the model's signature/],
        [[{ x: 1, label: "c" }], "inputs[0].label", /must be one of \["a","b"\]/],
      ];
      for (const [rows, field, message] of cases) {
        await assert.rejects(d.predict(rows), (e: SluiceError) => e.code === "INVALID_INPUT" && e.details["field"] === field && message.test(e.message));
      }
    } finally {
      await d.close();
    }
  });

  it("an alias that moves to a version whose code fails to load keeps the old version serving", async () => {
    const versions = await versionsOf("js");
    const broken = { ...versions.get(2)!, version: 3, flavor: { kind: "js" as const, module: "models/missing.ts", export: "load" } };
    versions.set(3, broken);
    const alias = new Alias(versions);
    alias.set(1);
    const events: string[] = [];
    const d = await ModelDeployment.start({ name: "scaler", alias: "champion", source: alias.source(), load, pollMs: 0, onEvent: (m) => events.push(m) });
    try {
      alias.set(3);
      await d.check();
      assert.equal(d.current.version, 1);
      assert.equal((await d.predict([{ x: 1 }])).version, 1);
      assert.ok(events.some((e) => /moved to version 3, which failed to load \(version 1 goes on serving\).*missing\.ts does not exist/.test(e)), events.join("\n"));
    } finally {
      await d.close();
    }
  });

  it("python: swaps under load, and a killed Python process fails requests clearly, then comes back", { skip: !hasPython && "python3 is not installed" }, async () => {
    const versions = await versionsOf("python");
    const alias = new Alias(versions);
    alias.set(1);
    const d = await ModelDeployment.start({ name: "scaler", alias: "champion", source: alias.source(), load, pollMs: 0 });
    try {
      await swapUnderLoad(d, alias, versions, 4);
      assert.equal(d.current.version, 1);
      const py = d.predictor as unknown as PythonPredictor;
      assert.equal(py.starts, 1);
      process.kill(py.pid!, "SIGKILL");
      await waitFor(() => !py.healthy, 5000, "the process's death to be noticed");
      await assert.rejects(d.predict([{ x: 1 }]), (e: SluiceError) => e.code === "MODEL_UNAVAILABLE" && /Python process of model "scaler" version 1 exited \(SIGKILL\)/.test(e.message));
      // over HTTP meanwhile (the restart waits 3 s here): 503 from /health and /predict, saying why
      const app = createModelApp(d, { batch: { windowMs: 2, maxBatch: 64 }, inferenceLog: null });
      const health = await app.request("/health");
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), { status: "unavailable", model: "scaler", alias: "champion", version: 1 });
      const res = await app.request("/predict", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ inputs: [{ x: 1 }] }) });
      assert.equal(res.status, 503);
      assert.match(((await res.json()) as { message: string }).message, /exited \(SIGKILL\); it is being restarted/);
      await waitFor(() => py.healthy, 15_000, "the Python process to be restarted");
      assert.equal(py.starts, 2);
      assert.deepEqual((await d.predict([{ x: 3 }])).predictions, [{ y: 30, by: 1 }]);
      // the model's prints went to the log, not into the protocol
      assert.ok(logs.some((l) => l.includes("predicting")));
    } finally {
      await d.close();
    }
  });
});
