/**
 * ml_train — train a weather classifier on real data (NOAA daily observations, 2,922 rows), with every
 * expensive step cached and every trial tracked, and register it in the model registry behind a gate.
 *
 *   ingest → validate → features ─┬→ grid → train[learningRate × l2]  ─┬→ evaluate ─┬→ register ─┬→ promote ──────────┬→ report
 *                                 └→ has_python → sklearn (skipped without scikit-learn) ┘            ├→ review ───┴→ promote_approved ─┤
 *                                                                                                     └→ alert ─────────────────────────┘
 *
 * - ingest's cache key is the data file's content hash: an unchanged file is not read twice; a changed one
 *   re-runs everything downstream of it.
 * - Every task that computes something is cached (`cache: true`) and names the params it reads
 *   (`cacheParams`), so changing one param re-runs exactly the tasks that read it and their downstream:
 *   `seed` → features and all after it; `epochs` or the grid lists → grid, the new or changed trials and
 *   evaluate (a grid that grows by one point trains one model); `minAccuracy` → only the gate and its branch.
 * - Each trial records its params, a learning curve (loss per epoch) and its accuracies with ctx.track:
 *   `npx sluice experiments show ml_train --sort validation_accuracy`.
 * - The best model (on validation; scored once on test) below `minAccuracy` takes the alert path and is not
 *   registered. Otherwise `register` stores it as the next version of `weather_classifier`
 *   (ctx.models.register: the artifact model.json, weatherModel.ts to load it, its signature, metrics,
 *   params and the run's lineage), and a promotion gate moves the alias `champion` to it when its test
 *   accuracy is not worse than the current champion's by more than 1 point (no champion yet: it is
 *   promoted). A candidate that is worse fails the gate, naming the metric; the alias stays.
 * - `--param approval=true` takes the gate that also waits for a person (holding no worker slot):
 *   `npx sluice models approvals` lists it, `npx sluice models approve <id>` (or reject, or the Models page)
 *   decides it.
 * - The run is scheduled on an asset: ml_monitor (monitor.ts) updates it when the model's inputs drift,
 *   which retrains (and registers and gates the next version). Run it by hand too:
 *
 *   npx sluice --dags examples run ml_train
 *   npx sluice --dags examples run ml_train                                  # again: every trial is a cache hit
 *   npx sluice --dags examples run ml_train --param 'l2s=[0,0.001,0.01]'    # trains only the 2 new grid points
 *   npx sluice --dags examples run ml_train --param minAccuracy=0.99        # takes the alert path
 *   npx sluice --dags examples run ml_train --param approval=true           # the gate waits for `sluice models approve`
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dag, FailTask, SkipTask } from "sluice";
import { z } from "zod";
import { accuracy, columnStats, logLoss, splitRows, standardise, trainSoftmax, type SoftmaxModel, type Split } from "./model.js";
import { CLASSES, FEATURE_NAMES, featurise, MODEL_NAME, parseCsv, RETRAIN_ASSET, validateRows } from "./weather.js";
import { SIGNATURE } from "./weatherModel.js";

/** The shipped data set (see data/README.md); `--param dataFile=...` reads another file of the same columns. */
const DATA_FILE = fileURLToPath(new URL("./data/weather.csv", import.meta.url));

export default dag(
  "ml_train",
  {
    description: "Weather classifier on NOAA observations: cached, tracked hyper-parameter sweep, gated registration",
    owner: "ml-team",
    tags: ["ml", "example"],
    // retrained when the monitoring DAG sees drift (monitor.ts); `sluice run` / `trigger` start it by hand
    schedule: { assets: { anyOf: [RETRAIN_ASSET] } },
    params: z.object({
      /** The CSV to train on (default: the shipped data set). */
      dataFile: z.string().default(""),
      /** Seed of the train/validation/test shuffle: the same seed gives the same split and the same models. */
      seed: z.number().int().default(7),
      /** The sweep: one trial per (learning rate, L2) pair. */
      learningRates: z.array(z.number().positive()).min(1).default([0.1, 0.5]),
      l2s: z.array(z.number().min(0)).min(1).default([0, 0.01]),
      epochs: z.number().int().positive().default(150),
      /** Test accuracy the best model needs to be registered; below it, the alert path runs. */
      minAccuracy: z.number().min(0).max(1).default(0.8),
      /** Promote to champion only after a person approves (`sluice models approve <id>`, the Models page). */
      approval: z.boolean().default(false),
    }),
    defaults: { retries: 1, retryDelay: "1s", timeout: "5m" },
  },
  (d) => {
    // In a real pipeline this reads a warehouse table or a bucket. Keyed on the file's bytes, not its path
    // or the code alone: a file edited in place must not be served from the cache.
    const raw = d.task(
      "ingest",
      {
        cache: true,
        cacheKey: (_, ctx) => {
          const file = (ctx.params["dataFile"] as string) || DATA_FILE;
          return createHash("sha256").update(readFileSync(file)).digest("hex");
        },
      },
      async (_, ctx) => {
        const file = ctx.params.dataFile || DATA_FILE;
        const text = await readFile(file, "utf8"); // an I/O error may pass: retried
        let records: Record<string, string>[];
        try {
          records = parseCsv(text, file);
        } catch (e) {
          throw new FailTask((e as Error).message); // a wrong header will not fix itself
        }
        ctx.log.info(`ingested ${records.length} rows from ${file}`);
        return { file, records };
      },
    );

    // Fail loudly, naming file, row and column, instead of training on a broken extract. FailTask: another
    // try cannot fix the data, so no retry.
    const clean = d.task("validate", { inputs: { raw }, cache: true, cacheParams: [] }, async ({ raw }, ctx) => {
      try {
        const { rows, classCounts } = validateRows(raw.records, raw.file, { minRows: 500, minPerClass: 10 });
        ctx.log.info(`${rows.length} valid rows; classes: ${JSON.stringify(classCounts)}`);
        return rows;
      } catch (e) {
        throw new FailTask((e as Error).message);
      }
    });

    // 60/20/20 train/validation/test after a seeded shuffle; features standardised with the training
    // split's statistics only, so nothing of validation or test leaks into training.
    const data = d.task("features", { inputs: { clean }, cache: true, cacheParams: ["seed"] }, async ({ clean }, ctx) => {
      const parts = splitRows(clean, ctx.params.seed);
      const { mean, std } = columnStats(parts[0]!.map(featurise));
      const [train, validation, test] = parts.map(
        (p): Split => ({ x: standardise(p.map(featurise), mean, std), y: p.map((r) => CLASSES.indexOf(r.weather)) }),
      ) as [Split, Split, Split];
      ctx.log.info(`train ${train.y.length}, validation ${validation.y.length}, test ${test.y.length}`);
      return { classes: [...CLASSES], featureNames: FEATURE_NAMES, mean, std, train, validation, test };
    });

    // The grid as data, so that it can come from params and each trial's cache key is its own point.
    const grid = d.task("grid", { cache: true, cacheParams: ["learningRates", "l2s", "epochs"] }, async (_, ctx) =>
      ctx.params.learningRates.flatMap((learningRate) => ctx.params.l2s.map((l2) => ({ learningRate, l2, epochs: ctx.params.epochs }))),
    );

    // One trial per grid point, each in its own Node process (CPU-bound: it must not block the worker's
    // event loop), each cached on its own: its key is its code, the data and its grid point.
    const trials = d.map(
      "train",
      { overKwargs: grid, inputs: { data }, isolation: "process", cache: true, cacheParams: [] },
      async ({ learningRate, l2, epochs, data }, ctx) => {
        ctx.track.params({ model: "softmax", learningRate, l2, epochs });
        ctx.track.tag("framework", "typescript");
        const { weights, loss } = trainSoftmax(data.train, data.classes.length, {
          learningRate,
          l2,
          epochs,
          onEpoch: (epoch, epochLoss, w) => {
            ctx.track.metric("train_loss", epochLoss, { step: epoch }); // the learning curve
            if (epoch % 10 === 9) ctx.track.metric("validation_loss", logLoss(w, data.validation), { step: epoch });
          },
        });
        const result = {
          learningRate,
          l2,
          epochs,
          weights,
          trainLoss: loss,
          trainAccuracy: accuracy(weights, data.train),
          validationAccuracy: accuracy(weights, data.validation),
          validationLoss: logLoss(weights, data.validation),
        };
        ctx.track.metrics({ train_accuracy: result.trainAccuracy, validation_accuracy: result.validationAccuracy });
        ctx.log.info(`lr=${learningRate} l2=${l2}: validation accuracy ${result.validationAccuracy.toFixed(3)}`);
        return result;
      },
    );

    // The scikit-learn trial needs python3 with scikit-learn. Without python3 this skips the trial
    // (respectTriggerRules: only the direct downstream, then evaluate's none_failed lets the run go on);
    // without scikit-learn the script itself exits 99, which skips it.
    const hasPython = d.shortCircuit("has_python", { respectTriggerRules: true }, async (_, ctx) => {
      const python = process.env["SLUICE_PYTHON"] ?? "python3";
      const found = spawnSync(python, ["--version"], { encoding: "utf8" });
      ctx.log.info(found.status === 0 ? `using ${found.stdout.trim() || found.stderr.trim()}` : `${python} not found: skipping the scikit-learn trial`);
      return found.status === 0;
    });
    const sklearn = d.python("sklearn", {
      script: "train_sklearn.py",
      inputs: { data },
      after: [hasPython],
      cache: true,
      cacheParams: [],
      output: z.object({ model: z.string(), sklearnVersion: z.string(), validationAccuracy: z.number(), testAccuracy: z.number() }),
    });

    // Model selection on the validation split; the test split is looked at once, for the chosen model.
    const evaluation = d.task(
      "evaluate",
      { inputs: { trials, data, sklearn }, triggerRule: "none_failed", cache: true, cacheParams: [] },
      async ({ trials, data, sklearn }, ctx) => {
        if (!trials || !data) throw new Error("training produced no models"); // inputs may be undefined under none_failed
        const best = [...trials].sort((a, b) => b.validationAccuracy - a.validationAccuracy || a.validationLoss - b.validationLoss)[0]!;
        const testAccuracy = accuracy(best.weights, data.test);
        // the share of the most common class: what a model that learned nothing would score
        const majority = Math.max(...data.classes.map((_, k) => data.test.y.filter((y) => y === k).length)) / data.test.y.length;
        ctx.track.params({ learningRate: best.learningRate, l2: best.l2, epochs: best.epochs });
        ctx.track.metrics({ test_accuracy: testAccuracy, majority_baseline: majority, ...(sklearn ? { sklearn_test_accuracy: sklearn.testAccuracy } : {}) });
        ctx.log.info(`best: lr=${best.learningRate} l2=${best.l2}, test accuracy ${testAccuracy.toFixed(3)} (majority class: ${majority.toFixed(3)})`);
        if (sklearn) ctx.log.info(`${sklearn.model} (scikit-learn ${sklearn.sklearnVersion}): test accuracy ${sklearn.testAccuracy.toFixed(3)}`);
        const model: SoftmaxModel = { classes: data.classes, featureNames: data.featureNames, mean: data.mean, std: data.std, weights: best.weights };
        return {
          learningRate: best.learningRate,
          l2: best.l2,
          epochs: best.epochs,
          validationAccuracy: best.validationAccuracy,
          testAccuracy,
          majorityBaseline: majority,
          sklearnTestAccuracy: sklearn?.testAccuracy ?? null,
          model,
        };
      },
    );

    // The next version of the model, with what a server needs to load it (weatherModel.ts's `load`), what
    // a request row is (its signature), the metrics the gate compares and the params that made it; the
    // registry adds the lineage (run, task, attempt, DAG version, the retraining request it consumed).
    // Below the absolute bar (`minAccuracy`) nothing is registered: the task skips itself (SkipTask) and
    // `alert` (beside it) warns instead. Not cached: registering is the side effect. A retraining on unchanged
    // data reuses the cached model, registered as a new version.
    const registered = d.task("register", { inputs: { evaluation } }, async ({ evaluation }, ctx) => {
      const { model, ...summary } = evaluation;
      if (summary.testAccuracy < ctx.params.minAccuracy) {
        throw new SkipTask(`test accuracy ${summary.testAccuracy.toFixed(3)} < required ${ctx.params.minAccuracy}: not registered`);
      }
      const artifact = Buffer.from(`${JSON.stringify(model)}\n`);
      await ctx.track.artifact("model.json", artifact, { mediaType: "application/json" });
      const version = await ctx.models.register(MODEL_NAME, {
        artifact,
        flavor: { module: "./weatherModel.ts" },
        signature: SIGNATURE,
        framework: "typescript-softmax",
        metrics: {
          test_accuracy: summary.testAccuracy,
          validation_accuracy: summary.validationAccuracy,
          majority_baseline: summary.majorityBaseline,
          ...(summary.sklearnTestAccuracy === null ? {} : { sklearn_test_accuracy: summary.sklearnTestAccuracy }),
        },
        params: { learningRate: summary.learningRate, l2: summary.l2, epochs: summary.epochs, seed: ctx.params.seed, dataFile: ctx.params.dataFile || "data/weather.csv" },
        description: `softmax regression, lr=${summary.learningRate} l2=${summary.l2}, ${summary.epochs} epochs`,
      });
      ctx.log.info(`registered ${version.name} v${version.version} (test accuracy ${summary.testAccuracy.toFixed(3)})`);
      return { ...version, testAccuracy: summary.testAccuracy };
    });

    // `approval` is a run's choice, a gate's approval is its definition: two gates, one taken. Decided
    // beside `register` (not after it), so that the release path stays short in the graph.
    const review = d.branch("review", { after: [evaluation] }, (_, ctx) => (ctx.params.approval ? "promote_approved" : "promote"));
    // The candidate against the current champion: not worse by more than 1 point of test accuracy (no
    // champion yet: promoted). Worse fails the gate, listing candidate, champion and threshold. A skipped
    // register (below the bar) skips the gates. No retry: the same comparison gives the same answer.
    const gate = { model: MODEL_NAME, candidate: registered, alias: "champion", compare: { test_accuracy: { notWorseBy: 0.01 } }, retries: 0, after: [review] };
    const promoted = d.promote("promote", gate);
    const approved = d.promote("promote_approved", { ...gate, approval: { timeout: "2d" } });

    // Where a real pipeline would page someone or post to a channel: beside register, the same bar the
    // other way round (a model that clears it has nothing to alert about: the task skips itself).
    const alerted = d.task("alert", { inputs: { evaluation } }, async ({ evaluation }, ctx) => {
      if (evaluation.testAccuracy >= ctx.params.minAccuracy) throw new SkipTask("the model cleared the bar: nothing to alert");
      const message = `model not registered: test accuracy ${evaluation.testAccuracy.toFixed(3)} < required ${ctx.params.minAccuracy}`;
      ctx.log.warn(message);
      return { message };
    });

    // A join after branches: the untaken sides are skipped, so the default all_success would skip this too.
    // A rejected approval skips its gate: the version stays registered, the champion where it was.
    d.task(
      "report",
      { inputs: { registered, promoted, approved, alerted }, triggerRule: "none_failed_min_one_success" },
      async ({ registered, promoted, approved, alerted }, ctx) => {
        const why = ctx.triggeringAssetEvents.length > 0 ? ` (retraining requested: ${JSON.stringify(ctx.triggeringAssetEvents.at(-1)!.metadata)})` : "";
        if (!registered) return (alerted?.message ?? "nothing to report") + why;
        const gate = promoted ?? approved;
        const champion = !gate ? "champion unchanged (approval rejected)" : gate.moved ? `champion ${gate.previous === null ? "" : `v${gate.previous} `}→ v${gate.version}` : `champion already v${gate.version}`;
        return `registered ${registered.name} v${registered.version} (test accuracy ${registered.testAccuracy.toFixed(3)}); ${champion}${why}`;
      },
    );
  },
);
