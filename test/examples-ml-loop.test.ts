/**
 * The ML example's loop end to end (examples/ml), with real processes and real HTTP: ml_train registers
 * weather_classifier and its promotion gate decides the champion on test accuracy (or waits for an approval);
 * `sluice models serve weather_classifier@champion` answers predictions naming the version; the traffic
 * simulator's requests fill the inference log; ml_monitor compares it with the training split — unshifted traffic requests no
 * retraining, shifted (winter) traffic requests exactly one, which `sluice dev` runs as ml_train; the new
 * version becomes champion and the running server swaps to it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfig } from "../src/config.js";
import { Sluice } from "../src/sluice.js";
import type { TrafficSummary } from "../examples/ml/traffic.js";
import { cliJson, cliSpawn, ROOT, sandbox, waitFor } from "./helpers.js";

const EXAMPLES = join(ROOT, "examples");
const MODEL = "weather_classifier";
const sb = sandbox("sluice-ml-loop-");
const stops: (() => Promise<void>)[] = [];
after(async () => {
  for (const stop of stops.reverse()) await stop();
  sb.cleanup();
});

function sluice<T = any>(args: string[]) {
  return cliJson<T>(sb, ["--dags", EXAMPLES, "--home", sb.home, ...args]);
}

interface RunJson {
  runId: string;
  state: string;
  tasks: { taskId: string; mapIndex: number; state: string }[];
}
const stateOf = (run: RunJson, taskId: string) => run.tasks.find((t) => t.taskId === taskId && t.mapIndex < 0)?.state;
const output = <T = any>(runId: string, taskId: string): T => sluice<{ output: T }>(["output", runId, taskId]).json.output;
const aliases = () => sluice<{ aliases: Record<string, number> }>(["models", "show", MODEL]).json.aliases;
const trainRuns = () => sluice<{ runs: { runId: string; state: string; runType: string }[] }>(["runs", "list", "--dag", "ml_train"]).json.runs;
const retrainRequests = () => sluice<{ events: unknown[] }>(["assets", "show", "models/weather_classifier/retrain_request"]).json.events.length;

/** A long-running CLI process (dev, models serve) whose output is kept, stopped at the end. */
function background(args: string[], signal: NodeJS.Signals) {
  const proc = cliSpawn(sb, ["--dags", EXAMPLES, "--home", sb.home, ...args]);
  let out = "";
  proc.stdout.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => proc.on("close", () => resolve()));
  stops.push(async () => {
    if (proc.exitCode === null) proc.kill(signal);
    const hard = setTimeout(() => proc.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(hard);
  });
  return { out: () => out, proc };
}

/** examples/ml/traffic.ts as a user runs it, in its own process. */
function traffic(url: string, args: string[]): Promise<TrafficSummary> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ["--import", "tsx", join(EXAMPLES, "ml", "traffic.ts"), "--url", url, "--json", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (c: Buffer) => (out += c.toString()));
    p.stderr.on("data", (c: Buffer) => (err += c.toString()));
    p.on("close", (code) => {
      try {
        assert.equal(code, 0, `traffic.ts exited ${code}:\n${out}\n${err}`);
        resolve(JSON.parse(out) as TrafficSummary);
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}

test("ml_train registers v1 and its gate makes it champion; a worse v2 is registered but refused by the metric rule", () => {
  const first = sluice<RunJson>(["run", "ml_train"]);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(output(first.json.runId, "promote"), { name: MODEL, alias: "champion", version: 1, previous: null, moved: true, approvalId: null });
  assert.equal(stateOf(first.json, "promote_approved"), "skipped", "approval is off by default");
  assert.deepEqual(aliases(), { champion: 1 });

  // 5 epochs instead of 150: a worse model, more than the 1 point the gate allows
  const worse = sluice<RunJson>(["run", "ml_train", "--param", "epochs=5"]);
  assert.equal(worse.code, 1);
  assert.equal(stateOf(worse.json, "register"), "success");
  assert.equal(output(worse.json.runId, "register").version, 2);
  assert.equal(stateOf(worse.json, "promote"), "failed");
  const shown = sluice<{ tasks: { taskId: string; attempts: { errorMessage: string | null }[] }[] }>(["runs", "show", worse.json.runId]);
  const message = shown.json.tasks.find((t) => t.taskId === "promote")!.attempts.at(-1)!.errorMessage ?? "";
  assert.match(message, /version 2 fails the gate for alias "champion" \(champion: version 1\)/);
  assert.match(message, /FAIL test_accuracy: candidate 0\.\d+, champion 0\.\d+, threshold ≥ champion − 0\.01/);
  assert.equal(shown.json.tasks.find((t) => t.taskId === "promote")!.attempts.length, 1, "a gate's comparison is not retried");
  assert.deepEqual(aliases(), { champion: 1 }, "the alias stays");
});

test("with approval=true the gate waits for a person; `sluice models approve` moves champion to v3", async () => {
  const proc = cliSpawn(sb, ["--dags", EXAMPLES, "--home", sb.home, "run", "ml_train", "--param", "approval=true", "--json"]);
  let out = "";
  proc.stdout.on("data", (c: Buffer) => (out += c.toString()));
  proc.stderr.on("data", () => undefined);
  const exited = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
  type Pending = { items: { id: number; version: number; fromVersion: number | null; state: string }[] };
  await waitFor(() => sluice<Pending>(["models", "approvals"]).json.items.length === 1, 120_000, "a pending approval");
  const [pending] = sluice<Pending>(["models", "approvals"]).json.items;
  assert.deepEqual([pending!.version, pending!.fromVersion, pending!.state], [3, 1, "pending"]);
  assert.deepEqual(aliases(), { champion: 1 }, "nothing moves before the decision");
  assert.equal(sluice(["models", "approve", String(pending!.id), "--comment", "reviewed"]).code, 0);
  assert.equal(await exited, 0, out);
  const run = JSON.parse(out) as RunJson;
  assert.equal(stateOf(run, "promote"), "skipped");
  assert.equal(stateOf(run, "promote_approved"), "success");
  assert.equal(output(run.runId, "promote_approved").approvalId, pending!.id);
  assert.deepEqual(aliases(), { champion: 3 });
});

test("served champion, traffic into the inference log: unshifted retrains nothing; shifted retrains once and the server swaps to v4", async () => {
  // the daily monitor is run by hand below: paused, `sluice dev` does not start its own catch-up run
  assert.equal(sluice(["dags", "pause", "ml_monitor"]).code, 0);
  const dev = background(["dev", "--port", "0"], "SIGINT");
  const server = background(["models", "serve", `${MODEL}@champion`, "--port", "0", "--poll", "100"], "SIGTERM");
  await waitFor(() => /web UI:/.test(dev.out()), 60_000, `sluice dev to start:\n${dev.out()}`);
  await waitFor(() => /Serving model .* at http/.test(server.out()) || server.proc.exitCode !== null, 60_000, "the model server to start");
  const url = /at (http:\/\/\S+)/.exec(server.out())?.[1];
  assert.ok(url, server.out());

  const s = await Sluice.open(loadConfig({ home: sb.home, dags: EXAMPLES }), { loadDags: false });
  stops.push(() => s.close());
  const logged = (n: number) => waitFor(async () => (await s.store.inferenceLog.count(MODEL)) >= n, 30_000, `${n} rows in the inference log`);

  // the same distribution as training: no drift, no retraining request
  const calm = await traffic(url, ["--n", "300"]);
  assert.deepEqual([calm.sent, calm.failed, calm.versions], [300, 0, { v3: 300 }]);
  await logged(300);
  const quiet = sluice<RunJson>(["run", "ml_monitor", "--param", "recentRows=300"]);
  assert.equal(quiet.code, 0, quiet.stderr);
  const quietReport = output(quiet.json.runId, "drift");
  assert.equal(quietReport.source, "inference_log");
  assert.equal(quietReport.currentRows, 300);
  assert.deepEqual(quietReport.driftedFeatures, []);
  assert.equal(stateOf(quiet.json, "request_retraining"), "skipped");
  assert.equal(retrainRequests(), 0);

  // winter days only: temperatures drift, one retraining request
  const shifted = await traffic(url, ["--n", "300", "--shift"]);
  assert.deepEqual([shifted.failed, shifted.versions], [0, { v3: 300 }]);
  await logged(600);
  const alarmed = sluice<RunJson>(["run", "ml_monitor", "--param", "recentRows=300"]);
  assert.equal(alarmed.code, 0, alarmed.stderr);
  const report = output(alarmed.json.runId, "drift");
  assert.equal(report.source, "inference_log");
  assert.ok(report.driftedFeatures.includes("temp_max") && report.driftedFeatures.includes("temp_min"), `drifted: ${report.driftedFeatures}`);
  assert.equal(stateOf(alarmed.json, "request_retraining"), "success");
  assert.equal(retrainRequests(), 1);

  // sluice dev starts ml_train on the asset update: v4, champion by the gate (the same data: not worse)
  await waitFor(() => trainRuns().some((r) => r.runType === "asset" && r.state === "success"), 180_000, `the retraining run; dev:\n${dev.out()}`);
  const retrains = trainRuns().filter((r) => r.runType === "asset");
  assert.equal(retrains.length, 1, "exactly one retraining run");
  assert.match(output<string>(retrains[0]!.runId, "report"), /^registered weather_classifier v4 .*; champion v3 → v4 \(retraining requested: .*"source":"inference_log"/);
  assert.deepEqual(aliases(), { champion: 4 });

  // the running server follows the alias: answers name v3 without a restart
  await waitFor(async () => ((await (await fetch(`${url}/health`)).json()) as { version: number }).version === 4, 30_000, "the server to swap to v4");
  const swapped = await traffic(url, ["--n", "20"]);
  assert.deepEqual([swapped.failed, swapped.versions], [0, { v4: 20 }]);
  assert.match(server.out(), /now serving version 4 \(was 3\)/);
  assert.equal(trainRuns().filter((r) => r.runType === "asset").length, 1, "still one retraining run");
});
