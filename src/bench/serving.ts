/**
 * `predict-http`: a model served over HTTP as `sluice models serve` serves it (server/modelServer.ts over a
 * ModelDeployment), a small in-process JS model (a linear score of four features), with the inference log
 * on (SQLite, sample rate 1). `clients` concurrent clients send `n` one-row requests in all, over keep-alive
 * connections. p50/p99: one request's round trip. Also `predictCalls`: how many model calls the batcher
 * made for the `n` requests (fewer means requests shared calls), and `logged`: rows in the inference log
 * at the end (its limit, once pruned).
 */
import { Agent, request } from "node:http";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LocalArtifactStore } from "../artifacts/artifactStore.js";
import type { ModelVersionRecord } from "../core/models.js";
import { startModelServer } from "../server/modelServer.js";
import { ModelDeployment } from "../serving/deployment.js";
import { InferenceLogWriter } from "../serving/inferenceLogWriter.js";
import { loadPredictor } from "../serving/loadPredictor.js";
import { Store } from "../store/store.js";
import { percentile, round, type BenchResult } from "./result.js";

const MODEL = `export function load(bytes) {
  const w = JSON.parse(new TextDecoder().decode(bytes));
  return { predict: (rows) => rows.map((r) => ({ score: w[0] * r.a + w[1] * r.b + w[2] * r.c + w[3] * r.d })) };
}
`;

export async function predictBench(n = 20_000, clients = 32): Promise<BenchResult & { predictCalls: number; logged: number }> {
  const home = mkdtempSync(join(tmpdir(), "sluice-bench-predict-"));
  const dags = join(home, "dags");
  mkdirSync(dags);
  writeFileSync(join(dags, "linear.mjs"), MODEL);
  const store = await Store.open({ url: `sqlite:${join(home, "sluice.db")}` });
  const artifacts = new LocalArtifactStore(join(home, "artifacts"));
  const ref = await artifacts.put(Buffer.from(JSON.stringify([0.1, 0.2, 0.3, 0.4])));
  const v: ModelVersionRecord = {
    name: "linear",
    version: 1,
    artifactRef: ref,
    flavor: { kind: "js", module: "linear.mjs", export: "load" },
    framework: "bench",
    signature: { inputs: { type: "object", properties: { a: { type: "number" }, b: { type: "number" }, c: { type: "number" }, d: { type: "number" } }, required: ["a", "b", "c", "d"] }, outputs: null },
    metrics: {},
    params: {},
    description: null,
    dagId: "bench",
    dagVersion: "v",
    runId: "r",
    taskId: "t",
    mapIndex: -1,
    attemptId: 1,
    createdAt: Date.now(),
  };
  const log = new InferenceLogWriter(store, { limit: 10_000 }, (m) => process.stderr.write(`${m}\n`));
  const d = await ModelDeployment.start({
    name: "linear",
    alias: "champion",
    source: { resolve: () => Promise.resolve(v) },
    load: (rec) => loadPredictor(rec, { dagsDir: dags, artifacts, python: "python3", env: {}, workDir: join(home, "models"), log: () => undefined }),
    log,
    pollMs: 0,
  });
  const http = await startModelServer(d, { batch: { windowMs: 2, maxBatch: 64 }, inferenceLog: { sampleRate: 1, limit: 10_000 } }, { port: 0, host: "127.0.0.1" });
  try {
    // node:http with keep-alive, not fetch: undici's per-request cost in this same process would dominate
    const agent = new Agent({ keepAlive: true, maxSockets: clients });
    const times: number[] = [];
    let sent = 0;
    const client = async () => {
      while (sent < n) {
        const i = sent++;
        const r0 = performance.now();
        const { status, body } = await post(agent, `${http.url}/predict`, JSON.stringify({ inputs: [{ a: i, b: 1, c: 2, d: 3 }] }));
        times.push(performance.now() - r0);
        if (status !== 200 || (JSON.parse(body) as { version?: number }).version !== 1) throw new Error(`predict-http: ${status} ${body}`);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: clients }, client));
    const seconds = (performance.now() - t0) / 1000;
    await log.flush();
    agent.destroy();
    times.sort((a, b) => a - b);
    return {
      scenario: "predict-http",
      n,
      seconds: round(seconds),
      tasksPerSecond: Math.round(n / seconds),
      p50Ms: round(percentile(times, 50)),
      p99Ms: round(percentile(times, 99)),
      predictCalls: d.batchCalls,
      logged: await store.inferenceLog.count("linear"),
    };
  } finally {
    await http.close();
    await d.close();
    await log.close();
    await store.close();
    rmSync(home, { recursive: true, force: true });
  }
}

function post(agent: Agent, url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", agent, headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
