/**
 * The example pipelines in examples/ are documentation: they must load, run to success through the real
 * CLI, and compute what they claim. Each run uses the repo's own examples folder and a temporary home.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { load } from "../examples/ml/weatherModel.js";
import { cliJson, cliSpawn, ROOT, sandbox, waitFor } from "./helpers.js";

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

test("dags list finds the examples and no import errors", () => {
  const r = sluice<{ dags: { dagId: string; file: string }[]; importErrors: unknown[] }>(["dags", "list"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.json.importErrors, []);
  const files = Object.fromEntries(r.json.dags.map((d) => [d.dagId, d.file]));
  assert.equal(files["etl"], join("etl", "etl.ts"));
  assert.equal(files["ml_train"], join("ml", "train.ts"));
  assert.equal(files["ml_monitor"], join("ml", "monitor.ts"));
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
  const python = (bin: string, code: string) => spawnSync(bin, ["-c", code]).status === 0;
  const hasPython = python("python3", "pass");
  // train_sklearn.py falls back to Debian's system interpreter when the python3 on PATH lacks scikit-learn
  const hasSklearn = hasPython && (python("python3", "import sklearn") || python("/usr/bin/python3", "import sklearn"));
  const DATA = join(EXAMPLES, "ml", "data", "weather.csv");
  const CACHED = ["ingest", "validate", "features", "grid", "train[0]", "train[1]", "train[2]", "train[3]", "evaluate", ...(hasSklearn ? ["sklearn"] : [])];

  interface ShownRun {
    state: string;
    tasks: { taskId: string; mapIndex: number; state: string; attempts: { cachedFrom: number | null; errorMessage: string | null }[] }[];
  }
  /** "task[i]" → whether its last attempt was a cache hit, for the tasks that succeeded. */
  function hits(runId: string): Record<string, boolean> {
    const r = sluice<ShownRun>(["runs", "show", runId]);
    assert.equal(r.code, 0, r.stderr);
    return Object.fromEntries(
      r.json.tasks.filter((t) => t.state === "success").map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, t.attempts.at(-1)!.cachedFrom !== null]),
    );
  }
  const ran = (h: Record<string, boolean>) => Object.keys(h).filter((k) => !h[k]).sort();

  let first: RunJson;

  test("trains on the weather data, tracks every trial and gets a model that predicts", () => {
    const r = sluice<RunJson>(["run", "ml_train"]);
    assert.equal(r.code, 0, r.stderr);
    first = r.json;
    assert.equal(r.json.state, "success");
    assert.deepEqual(states(r.json), {
      ingest: "success",
      grid: "success",
      has_python: "success",
      validate: "success",
      features: "success",
      "train[0]": "success",
      "train[1]": "success",
      "train[2]": "success",
      "train[3]": "success",
      sklearn: hasSklearn ? "success" : "skipped",
      evaluate: "success",
      register: "success",
      review: "success",
      promote: "success",
      promote_approved: "skipped",
      alert: "skipped",
      report: "success",
    });

    // one trial per grid point; evaluate chose the best on validation and scored it on the test split
    const trials = output<{ learningRate: number; l2: number; validationAccuracy: number }[]>(r.json.runId, "train");
    assert.deepEqual(
      trials.map((t) => [t.learningRate, t.l2]),
      [
        [0.1, 0],
        [0.1, 0.01],
        [0.5, 0],
        [0.5, 0.01],
      ],
    );
    const evaluation = output(r.json.runId, "evaluate");
    assert.equal(evaluation.validationAccuracy, Math.max(...trials.map((t) => t.validationAccuracy)));
    assert.ok(evaluation.testAccuracy > 0.8 && evaluation.testAccuracy > evaluation.majorityBaseline + 0.25, `test accuracy ${evaluation.testAccuracy}, majority ${evaluation.majorityBaseline}`);
    if (hasSklearn) assert.ok(evaluation.sklearnTestAccuracy > 0.8, `scikit-learn test accuracy ${evaluation.sklearnTestAccuracy}`);
    else assert.equal(evaluation.sklearnTestAccuracy, null);

    // every trial is tracked: its params, its learning curve (a loss per epoch) and its accuracies
    const shown = sluice<{ trials: { runId: string; taskId: string; mapIndex: number; params: Record<string, unknown>; metrics: Record<string, { last: number; points: number }> }[] }>([
      "runs",
      "compare",
      r.json.runId,
    ]);
    assert.equal(shown.code, 0, shown.stderr);
    const byTask = new Map(shown.json.trials.map((t) => [t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, t]));
    for (const [i, t] of trials.entries()) {
      const trial = byTask.get(`train[${i}]`)!;
      assert.deepEqual(trial.params, { model: "softmax", learningRate: t.learningRate, l2: t.l2, epochs: 150 });
      assert.equal(trial.metrics["train_loss"]!.points, 150, "one loss point per epoch");
      assert.equal(trial.metrics["validation_loss"]!.points, 15);
      assert.equal(trial.metrics["validation_accuracy"]!.last, t.validationAccuracy);
    }
    assert.equal(byTask.get("evaluate")!.metrics["test_accuracy"]!.last, evaluation.testAccuracy);
    if (hasSklearn) {
      const sk = byTask.get("sklearn")!;
      assert.equal(sk.params["model"], "GradientBoostingClassifier");
      assert.equal(sk.metrics["validation_accuracy_by_stage"]!.points, 60, "one point per boosting stage");
    }

    // registered as version 1 of weather_classifier, with its metrics; the gate made it champion (no holder)
    assert.deepEqual(output(r.json.runId, "register"), { name: "weather_classifier", version: 1, testAccuracy: evaluation.testAccuracy });
    const shownModel = sluice<{ versions: { version: number; metrics: Record<string, number>; flavor: unknown }[]; aliases: Record<string, number> }>(["models", "show", "weather_classifier"]);
    assert.equal(shownModel.code, 0, shownModel.stderr);
    assert.equal(shownModel.json.versions[0]!.metrics["test_accuracy"], evaluation.testAccuracy);
    assert.deepEqual(shownModel.json.aliases, { champion: 1 });
    assert.match(output<string>(r.json.runId, "report"), /^registered weather_classifier v1 \(test accuracy 0\.\d+\); champion → v1$/);

    // the registered artifact is what weatherModel.ts loads: it predicts labels for raw observations
    const model = load(Buffer.from(JSON.stringify(evaluation.model)));
    const [, ...lines] = readFileSync(DATA, "utf8").trim().split("\n");
    const rows = lines.map((l) => l.split(","));
    const predicted = model.predict(rows.map(([location, date, p, tmax, tmin, wind]) => ({ location, date, precipitation: Number(p), temp_max: Number(tmax), temp_min: Number(tmin), wind: Number(wind) })));
    const correct = predicted.filter((label, i) => label === rows[i]![6]).length / rows.length;
    assert.ok(correct > 0.8, `accuracy of the loaded model on the whole file: ${correct}`);
    assert.throws(() => model.predict([{ location: "Paris", date: "2015-01-01", precipitation: 0, temp_max: 1, temp_min: 0, wind: 1 }]), /row 0, field location/);
  });

  test("an unchanged re-run is all cache hits with the same results", () => {
    const r = sluice<RunJson>(["run", "ml_train"]);
    assert.equal(r.code, 0, r.stderr);
    const h = hits(r.json.runId);
    for (const task of CACHED) assert.equal(h[task], true, `${task} is a cache hit`);
    assert.deepEqual(ran(h), ["has_python", "promote", "register", "report", "review"], "only the uncached tasks ran");
    assert.deepEqual(output(r.json.runId, "evaluate"), output(first.runId, "evaluate"));
  });

  test("changing a param re-runs exactly the tasks that read it and their downstream", () => {
    // a grid that grows by one learning rate: the grid, the two new trials and evaluate
    const grown = sluice<RunJson>(["run", "ml_train", "--param", "learningRates=[0.1,0.5,1]"]);
    assert.equal(grown.code, 0, grown.stderr);
    assert.deepEqual(ran(hits(grown.json.runId)), ["evaluate", "grid", "has_python", "promote", "register", "report", "review", "train[4]", "train[5]"]);

    // the seed of the split: features and everything after it; the data set is not read again
    const reseeded = sluice<RunJson>(["run", "ml_train", "--param", "seed=8"]);
    assert.equal(reseeded.code, 0, reseeded.stderr);
    const h = hits(reseeded.json.runId);
    assert.deepEqual(
      ran(h),
      ["evaluate", "features", "has_python", "promote", "register", "report", "review", "train[0]", "train[1]", "train[2]", "train[3]", ...(hasSklearn ? ["sklearn"] : [])].sort(),
    );
    assert.equal(h["ingest"] && h["validate"] && h["grid"], true);

    // the bar: register skips itself (nothing registered), alert warns
    const strict = sluice<RunJson>(["run", "ml_train", "--param", "minAccuracy=0.99"]);
    assert.equal(strict.code, 0, strict.stderr);
    assert.deepEqual(ran(hits(strict.json.runId)), ["alert", "has_python", "report", "review"]);
    assert.match(output<{ message: string }>(strict.json.runId, "alert").message, /not registered: test accuracy 0\.\d+ < required 0\.99/);
    assert.equal(states(strict.json)["register"], "skipped", "nothing registered");
  });

  test("a broken data file fails validate, naming the rows and columns, and trains nothing; other columns fail ingest", () => {
    const lines = readFileSync(DATA, "utf8").trim().split("\n");
    lines[17] = lines[17]!.replace(/^(Seattle,[^,]+,[^,]+,)[^,]+/, "$1hot"); // row 17: temp_max is not a number
    lines[40] = lines[39]!; // row 40 repeats row 39
    lines[100] = lines[100]!.replace(/,[a-z]+$/, ",hail"); // row 100: an unknown label
    const broken = join(sb.dir, "weather-broken.csv");
    writeFileSync(broken, `${lines.join("\n")}\n`);
    const r = sluice<RunJson>(["run", "ml_train", "--param", `dataFile=${broken}`]);
    assert.equal(r.code, 1);
    assert.equal(r.json.state, "failed");
    const s = states(r.json);
    assert.equal(s["ingest"], "success");
    assert.equal(s["validate"], "failed");
    assert.equal(r.json.tasks.find((t) => t.taskId === "validate")!.attempts, 1, "a data error is not retried");
    assert.equal(s["features"], "upstream_failed");
    assert.equal(s["register"], "upstream_failed");
    const shown = sluice<ShownRun>(["runs", "show", r.json.runId]);
    const message = shown.json.tasks.find((t) => t.taskId === "validate")!.attempts[0]!.errorMessage ?? "";
    assert.match(message, /3 validation problems/);
    assert.match(message, /weather-broken\.csv row 17, column temp_max: "hot" is not a number/);
    assert.match(message, /weather-broken\.csv row 40: duplicate of row 39/);
    assert.match(message, /weather-broken\.csv row 100, column weather: .*"hail"/);

    // a file with other columns fails at ingest, at once
    const renamed = join(sb.dir, "weather-renamed.csv");
    writeFileSync(renamed, readFileSync(DATA, "utf8").replace("temp_max", "tmax"));
    const r2 = sluice<RunJson>(["run", "ml_train", "--param", `dataFile=${renamed}`]);
    assert.equal(r2.code, 1);
    assert.equal(states(r2.json)["ingest"], "failed");
    assert.equal(r2.json.tasks.find((t) => t.taskId === "ingest")!.attempts, 1);
    const ingest = sluice<ShownRun>(["runs", "show", r2.json.runId]).json.tasks.find((t) => t.taskId === "ingest")!;
    assert.match(ingest.attempts[0]!.errorMessage ?? "", /weather-renamed\.csv: header is "location,date,precipitation,tmax,.*"; expected "location,date,precipitation,temp_max,/);
  });

  test("without Python the scikit-learn trial is skipped and the run still succeeds", () => {
    const r = sluice<RunJson>(["run", "ml_train"], { SLUICE_PYTHON: join(sb.dir, "no-such-python") });
    assert.equal(r.code, 0, r.stderr);
    const s = states(r.json);
    assert.equal(s["has_python"], "success");
    assert.equal(s["sklearn"], "skipped");
    assert.equal(s["register"], "success");
    assert.equal(output(r.json.runId, "has_python"), false);
    assert.equal(output(r.json.runId, "evaluate").sklearnTestAccuracy, null);
  });

  test("with Python but without scikit-learn the script skips itself (exit code 99)", { skip: !hasPython && "no python3" }, () => {
    // a python3 that cannot import sklearn, whichever interpreter the script tries (PYTHONPATH is inherited)
    const hide = join(sb.dir, "hide");
    mkdirSync(join(hide, "sklearn"), { recursive: true });
    writeFileSync(join(hide, "sklearn", "__init__.py"), 'raise ImportError("hidden by the test")\n');
    const wrapper = join(sb.dir, "python-without-sklearn");
    writeFileSync(wrapper, `#!/bin/sh\nPYTHONPATH="${hide}:$PYTHONPATH" exec python3 "$@"\n`, { mode: 0o755 });
    // another seed: the scikit-learn trial's cached result for the default split would be reused
    const r = sluice<RunJson>(["run", "ml_train", "--param", "seed=9"], { SLUICE_PYTHON: wrapper });
    assert.equal(r.code, 0, `${r.stderr}${JSON.stringify(states(r.json))}`);
    const s = states(r.json);
    assert.equal(output(r.json.runId, "has_python"), true);
    assert.equal(s["sklearn"], "skipped");
    assert.equal(s["evaluate"], "success");
    assert.equal(s["register"], "success");
    const shown = sluice<ShownRun>(["runs", "show", r.json.runId]).json.tasks.find((t) => t.taskId === "sklearn")!;
    assert.match(shown.attempts[0]!.errorMessage ?? "", /exited with code 99: skipped/);
  });
});

describe("ml_monitor", () => {
  const ASSET = "models/weather_classifier/retrain_request";
  const events = () => sluice<{ events: { runId: string; metadata: { driftedFeatures: string[] } }[] }>(["assets", "show", ASSET]);

  test("the simulated shift drifts: metrics tracked, one retraining request; the unshifted sample requests none", () => {
    const shifted = sluice<RunJson>(["run", "ml_monitor"]);
    assert.equal(shifted.code, 0, shifted.stderr);
    assert.deepEqual(states(shifted.json), { reference: "success", recent: "success", drift: "success", drift_detected: "success", request_retraining: "success" });
    const report = output(shifted.json.runId, "drift");
    assert.equal(report.drifted, true);
    assert.ok(report.driftedFeatures.includes("temp_max"), `drifted: ${report.driftedFeatures}`);
    assert.equal(report.features.location.drifted, false, "both cities are in both samples");

    const tracked = sluice<{ trials: { taskId: string; params: Record<string, unknown>; metrics: Record<string, { last: number }> }[] }>(["runs", "compare", shifted.json.runId]);
    const trial = tracked.json.trials.find((t) => t.taskId === "drift")!;
    assert.equal(trial.params["sample"], "simulated_shift");
    assert.equal(trial.metrics["psi/temp_max"]!.last, report.features.temp_max.psi);
    assert.equal(trial.metrics["p_value/temp_max"]!.last, report.features.temp_max.ks.pValue);
    assert.equal(trial.metrics["drifted_features"]!.last, report.driftedFeatures.length);

    let e = events();
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.json.events.length, 1);
    assert.deepEqual(e.json.events[0]!.metadata.driftedFeatures, report.driftedFeatures);

    const unshifted = sluice<RunJson>(["run", "ml_monitor", "--param", "sample=unshifted"]);
    assert.equal(unshifted.code, 0, unshifted.stderr);
    assert.equal(states(unshifted.json)["request_retraining"], "skipped");
    assert.deepEqual(output(unshifted.json.runId, "drift").driftedFeatures, []);
    e = events();
    assert.equal(e.json.events.length, 1, "no new retraining request");
  });
});

describe("the loop under sluice dev", () => {
  test("the daily monitor sees drift and its asset update starts exactly one retraining run of ml_train", async () => {
    const home = sandbox("sluice-examples-dev-");
    const dev = cliSpawn(home, ["--dags", EXAMPLES, "dev", "--port", "0"]);
    let out = "";
    dev.stdout.on("data", (c: Buffer) => (out += c.toString()));
    dev.stderr.on("data", (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((resolve) => dev.on("close", () => resolve()));
    const runs = (dagId: string) =>
      cliJson<{ runs: { runId: string; state: string; runType: string }[] }>(home, ["--dags", EXAMPLES, "runs", "list", "--dag", dagId]).json.runs;
    try {
      await waitFor(() => runs("ml_train").some((r) => r.state === "success"), 180_000, `a successful ml_train run; output:\n${out}`);
      const monitor = runs("ml_monitor");
      assert.equal(monitor.length, 1);
      assert.equal(monitor[0]!.state, "success");
      const train = runs("ml_train");
      assert.equal(train.length, 1, "one retraining run");
      assert.equal(train[0]!.runType, "asset");
      const report = cliJson<{ output: string }>(home, ["output", train[0]!.runId, "report"]).json.output;
      assert.match(report, /^registered weather_classifier v1 \(test accuracy 0\.\d+\); champion → v1 \(retraining requested: .*"source":"simulated_shift".*"driftedFeatures":\[.*"temp_max"/);
    } finally {
      dev.kill("SIGINT");
      const hard = setTimeout(() => dev.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(hard);
      home.cleanup();
    }
  });
});
