/**
 * The example pipelines in examples/ are documentation: they must load, run to success through the real
 * CLI, and compute what they claim. Each run uses the repo's own examples folder and a temporary home.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { cliJson, ROOT, sandbox } from "./helpers.js";

const EXAMPLES = join(ROOT, "examples");
const sb = sandbox("sluice-examples-");
after(() => sb.cleanup());

/** `sluice --dags examples --home <tmp> <args> --json`. Task code finds the home through $SLUICE_HOME (set by sandbox()). */
function sluice<T = any>(args: string[], env: NodeJS.ProcessEnv = {}) {
  return cliJson<T>(sb, ["--dags", EXAMPLES, "--home", sb.home, ...args], env);
}

interface RunJson {
  runId: string;
  state: string;
  tasks: { taskId: string; mapIndex: number; state: string; attempts: number }[];
}

function states(run: RunJson): Record<string, string> {
  return Object.fromEntries(run.tasks.map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, t.state]));
}

function output<T = any>(runId: string, taskId: string): T {
  const r = sluice<{ output: T }>(["output", runId, taskId]);
  assert.equal(r.code, 0, r.stderr);
  return r.json.output;
}

test("dags list finds both examples and no import errors", () => {
  const r = sluice<{ dags: { dagId: string; file: string }[]; importErrors: unknown[] }>(["dags", "list"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json.importErrors, []);
  const files = Object.fromEntries(r.json.dags.map((d) => [d.dagId, d.file]));
  assert.equal(files["etl"], join("etl", "etl.ts"));
  assert.equal(files["ml_train"], join("ml", "train.ts"));
});

describe("etl", () => {
  /** The expected report, computed here independently of the DAG from the raw CSV. */
  function expected(minAmount: number) {
    const [, ...lines] = readFileSync(join(EXAMPLES, "etl", "data", "orders.csv"), "utf8").trim().split("\n");
    const seen = new Set<string>();
    let rejected = 0;
    const byRegion = new Map<string, { orders: number; cents: number }>();
    const byMonth = new Map<string, { orders: number; cents: number }>();
    for (const line of lines) {
      const [id, date, region, product, qty, price] = line.split(","); // the file has no quoted fields
      const d = new Date(`${date}T00:00:00Z`);
      const ok =
        !!id &&
        !seen.has(id) &&
        /^\d{4}-\d{2}-\d{2}$/.test(date!) &&
        !Number.isNaN(d.getTime()) &&
        d.toISOString().startsWith(date!) &&
        !!region &&
        !!product &&
        /^[1-9]\d*$/.test(qty!) &&
        Number(price) > 0;
      if (!ok) {
        rejected++;
        continue;
      }
      seen.add(id);
      const cents = Number(qty) * Math.round(Number(price) * 100);
      if (cents < minAmount * 100) continue;
      for (const [map, key] of [
        [byRegion, region],
        [byMonth, date!.slice(0, 7)],
      ] as const) {
        const b = map.get(key!) ?? { orders: 0, cents: 0 };
        b.orders++;
        b.cents += cents;
        map.set(key!, b);
      }
    }
    const rows = (m: Map<string, { orders: number; cents: number }>) =>
      [...m].sort(([a], [b]) => a.localeCompare(b)).map(([key, b]) => ({ key, orders: b.orders, revenue: b.cents / 100 }));
    const totalCents = [...byRegion.values()].reduce((s, b) => s + b.cents, 0);
    return { validOrders: lines.length - rejected, rejectedOrders: rejected, totalRevenue: totalCents / 100, byRegion: rows(byRegion), byMonth: rows(byMonth) };
  }

  test("runs to success and its aggregates match the CSV", () => {
    const r = sluice<RunJson>(["run", "etl"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.state, "success");
    assert.deepEqual(states(r.json), {
      count_lines: "success",
      extract: "success",
      validate: "success",
      "transform.by_region": "success",
      "transform.by_month": "success",
      load: "success",
    });

    const want = expected(0);
    assert.equal(want.rejectedOrders, 9, "the shipped CSV has 9 deliberately bad rows");
    const got = output(r.json.runId, "load");
    assert.equal(got.validOrders, want.validOrders);
    assert.equal(got.rejectedOrders, want.rejectedOrders);
    assert.equal(got.ordersCounted, want.validOrders);
    assert.equal(got.totalRevenue, want.totalRevenue);
    assert.deepEqual(got.byRegion, want.byRegion);
    assert.deepEqual(got.byMonth, want.byMonth);

    // load wrote its report into this run's own output folder
    const dir = join(sb.home, "outputs", "etl", r.json.runId);
    assert.equal(got.outputDir, dir);
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
    assert.equal(summary.totalRevenue, want.totalRevenue);
    assert.equal(summary.rejected.length, 9);
    const csv = readFileSync(join(dir, "revenue_by_region.csv"), "utf8").trim().split("\n");
    assert.deepEqual(csv, ["region,orders,revenue", ...want.byRegion.map((b) => `${b.key},${b.orders},${b.revenue.toFixed(2)}`)]);
  });

  test("the minAmount param filters small orders out of the aggregates", () => {
    const r = sluice<RunJson>(["run", "etl", "--param", "minAmount=50"]);
    assert.equal(r.code, 0, r.stderr);
    const got = output(r.json.runId, "load");
    const want = expected(50);
    assert.ok(want.byRegion.reduce((s, b) => s + b.orders, 0) < want.validOrders, "some orders are below 50");
    assert.equal(got.minAmount, 50);
    assert.equal(got.ordersCounted, want.byRegion.reduce((s, b) => s + b.orders, 0));
    assert.equal(got.totalRevenue, want.totalRevenue);
    assert.deepEqual(got.byRegion, want.byRegion);
    assert.deepEqual(got.byMonth, want.byMonth);
  });

  test("too many bad rows fail validate (without retrying) and nothing is loaded", () => {
    const r = sluice<RunJson>(["run", "etl", "--param", "maxRejectRate=0.01"]);
    assert.equal(r.code, 1);
    assert.equal(r.json.state, "failed");
    const s = states(r.json);
    assert.equal(s["validate"], "failed");
    assert.equal(r.json.tasks.find((t) => t.taskId === "validate")!.attempts, 1);
    assert.equal(s["load"], "upstream_failed");
    assert.equal(existsSync(join(sb.home, "outputs", "etl", r.json.runId)), false);
  });
});

describe("ml_train", () => {
  const hasPython = spawnSync("python3", ["--version"]).status === 0;
  const GRID = [
    [0.05, 0],
    [0.05, 0.01],
    [0.5, 0],
    [0.5, 0.01],
  ];

  test("grid-searches a real model on iris and registers it", () => {
    const r = sluice<RunJson>(["run", "ml_train"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.state, "success");
    assert.deepEqual(states(r.json), {
      ingest: "success",
      has_python: "success",
      validate: "success",
      features: "success",
      "train[0]": "success",
      "train[1]": "success",
      "train[2]": "success",
      "train[3]": "success",
      baseline: hasPython ? "success" : "skipped",
      evaluate: "success",
      gate: "success",
      register: "success",
      alert: "skipped",
      report: "success",
    });

    // one trained model per grid point, each scored on the validation split
    const models = output<{ learningRate: number; l2: number; validationAccuracy: number; weights: number[][] }[]>(r.json.runId, "train");
    assert.deepEqual(
      models.map((m) => [m.learningRate, m.l2]),
      GRID,
    );
    for (const m of models) assert.equal(m.weights.length, 3, "one weight row per iris class");

    // evaluate picked a model with the best validation accuracy, and it is accurate on the test split
    const evaluation = output(r.json.runId, "evaluate");
    assert.equal(evaluation.validationAccuracy, Math.max(...models.map((m) => m.validationAccuracy)));
    assert.ok(evaluation.testAccuracy > 0.9, `test accuracy ${evaluation.testAccuracy}`);
    if (hasPython) assert.ok(evaluation.baselineAccuracy > 0.8, `baseline accuracy ${evaluation.baselineAccuracy}`);

    // register wrote the model file; it is the evaluated model
    const registered = output(r.json.runId, "register");
    assert.equal(registered.path, join(sb.home, "outputs", "ml_train", r.json.runId, "model.json"));
    const model = JSON.parse(readFileSync(registered.path, "utf8"));
    assert.ok(model.testAccuracy > 0.9);
    assert.deepEqual(model.classes, ["setosa", "versicolor", "virginica"]);
    assert.deepEqual(model.weights, evaluation.model.weights);
    assert.equal(output(r.json.runId, "report"), `registered ${registered.path}`);
  });

  test("below minAccuracy the alert path runs instead of register", () => {
    const r = sluice<RunJson>(["run", "ml_train", "--param", "minAccuracy=0.999"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.state, "success");
    const s = states(r.json);
    assert.equal(s["gate"], "success");
    assert.equal(s["alert"], "success");
    assert.equal(s["register"], "skipped");
    assert.equal(s["report"], "success");
    assert.match(output<{ message: string }>(r.json.runId, "alert").message, /not registered: test accuracy 0\.\d+ < required 0\.999/);
    assert.equal(existsSync(join(sb.home, "outputs", "ml_train", r.json.runId, "model.json")), false);
  });

  test("without Python the baseline is skipped and the run still succeeds", () => {
    const r = sluice<RunJson>(["run", "ml_train"], { SLUICE_PYTHON: join(sb.dir, "no-such-python") });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.state, "success");
    const s = states(r.json);
    assert.equal(s["has_python"], "success");
    assert.equal(s["baseline"], "skipped");
    assert.equal(s["evaluate"], "success");
    assert.equal(s["register"], "success");
    assert.equal(output(r.json.runId, "has_python"), false);
    assert.equal(output(r.json.runId, "evaluate").baselineAccuracy, null);
  });
});
