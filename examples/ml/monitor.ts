/**
 * ml_monitor — watch the weather classifier's inputs for drift and ask for retraining when they move.
 *
 *   reference ─┬→ drift → drift_detected → request_retraining (updates the asset ml_train is scheduled on)
 *   recent ────┘
 *
 * - The reference is what the model learned from: the training split of ml_train's data file (the same
 *   file, seed and split function as ml_train's `features`; pass the same `dataFile`/`seed` params).
 * - The recent sample is what the served model was asked: the newest `recentRows` rows of
 *   weather_classifier's inference log (`sluice models serve weather_classifier@champion` writes it) since
 *   the start of the run's data interval. When the log holds fewer than `minLogRows` (no server yet, little
 *   traffic), a clearly named simulated sample stands in, and the log says so (`sample`):
 *   - `simulated_shift` (default): the data set's last 90 days (October–December 2015). Real observations,
 *     but one season against a whole-year reference: temperatures drift. ml_train runs.
 *   - `unshifted`: the data set's test split, disjoint from the training split: nothing drifts.
 *
 * Every feature's PSI and test p-value is recorded with ctx.track (one trial per run:
 * `npx sluice experiments show ml_monitor`), so drift over time is a chart.
 *
 *   npx sluice --dags examples run ml_monitor                            # the inference log, or the simulated shift
 *   npx sluice --dags examples run ml_monitor --param sample=unshifted   # (without a log) no drift, no update
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dag, driftReport } from "sluice";
import { z } from "zod";
import { splitRows } from "./model.js";
import { MODEL_NAME, MONITORED_FEATURES, parseCsv, RETRAIN_ASSET, validateRows, type LabelledObservation, type Observation } from "./weather.js";

const DATA_FILE = fileURLToPath(new URL("./data/weather.csv", import.meta.url));

async function observations(file: string): Promise<LabelledObservation[]> {
  const path = file || DATA_FILE;
  return validateRows(parseCsv(await readFile(path, "utf8"), path), path, { minRows: 1, minPerClass: 0 }).rows;
}

export default dag(
  "ml_monitor",
  {
    description: "Drift of the weather classifier's inputs (PSI, KS, chi-square); past a threshold, requests retraining",
    owner: "ml-team",
    tags: ["ml", "example"],
    schedule: "@daily",
    params: z.object({
      /** The training data (ml_train's `dataFile` and `seed`): the reference is its training split. */
      dataFile: z.string().default(""),
      seed: z.number().int().default(7),
      /** The newest this many rows of the inference log are the recent sample… */
      recentRows: z.number().int().positive().max(100_000).default(500),
      /** …when it holds at least this many; otherwise the simulated `sample` stands in. */
      minLogRows: z.number().int().positive().default(100),
      /** The stand-in for the inference log when it is too small (see the file's comment). */
      sample: z.enum(["simulated_shift", "unshifted"]).default("simulated_shift"),
      /** A feature drifted when its PSI reaches this… */
      psiThreshold: z.number().positive().default(0.2),
      /** …or its test's p-value falls below this. */
      pValueThreshold: z.number().positive().max(1).default(0.01),
    }),
    defaults: { retries: 1, retryDelay: "1s", timeout: "2m" },
  },
  (d) => {
    const reference = d.task("reference", async (_, ctx) => {
      const [train] = splitRows(await observations(ctx.params.dataFile), ctx.params.seed);
      ctx.log.info(`reference: the ${train.length} rows of the training split (seed ${ctx.params.seed})`);
      return train;
    });

    const recent = d.task("recent", async (_, ctx) => {
      const since = ctx.dataInterval.start;
      const log = await ctx.models.inferenceLog(MODEL_NAME, { since, limit: ctx.params.recentRows });
      if (log.length >= ctx.params.minLogRows) {
        const versions: Record<string, number> = {};
        for (const e of log) versions[`v${e.version}`] = (versions[`v${e.version}`] ?? 0) + 1;
        ctx.log.info(`recent: the newest ${log.length} rows of ${MODEL_NAME}'s inference log since ${since.toISOString()} (answered by ${JSON.stringify(versions)})`);
        return { source: "inference_log" as const, rows: log.map((e) => e.input as Observation) };
      }
      const all = await observations(ctx.params.dataFile);
      let rows: Observation[];
      if (ctx.params.sample === "unshifted") {
        rows = splitRows(all, ctx.params.seed)[2];
      } else {
        const last = all.reduce((m, r) => (r.date > m ? r.date : m), "");
        const from = new Date(Date.parse(`${last}T00:00:00Z`) - 89 * 86_400_000).toISOString().slice(0, 10);
        rows = all.filter((r) => r.date >= from);
      }
      ctx.log.warn(
        `${MODEL_NAME}'s inference log has ${log.length} rows since ${since.toISOString()} (fewer than minLogRows=${ctx.params.minLogRows}): ` +
          `using the SIMULATED sample "${ctx.params.sample}" instead (${rows.length} rows of the data set), not real traffic`,
      );
      return { source: ctx.params.sample, rows };
    });

    const report = d.task("drift", { inputs: { reference, recent } }, async ({ reference, recent }, ctx) => {
      const r = driftReport(reference, recent.rows, {
        features: MONITORED_FEATURES,
        thresholds: { psi: ctx.params.psiThreshold, pValue: ctx.params.pValueThreshold },
      });
      ctx.track.params({ sample: recent.source, referenceRows: r.referenceRows, currentRows: r.currentRows, ...r.thresholds });
      for (const [name, f] of Object.entries(r.features)) {
        ctx.track.metric(`psi/${name}`, f.psi);
        ctx.track.metric(`p_value/${name}`, f.kind === "numeric" ? f.ks.pValue : f.chiSquare.pValue);
        if (f.kind === "numeric") ctx.track.metric(`ks/${name}`, f.ks.statistic);
        ctx.log.info(`${name}: PSI ${f.psi.toFixed(3)}${f.drifted ? ` DRIFT (${f.reasons.join("; ")})` : ""}`);
      }
      ctx.track.metric("drifted_features", r.driftedFeatures.length);
      return { ...r, source: recent.source };
    });

    // Notification: no notifier is configured in the example, so a warning in the log stands for it.
    const detected = d.shortCircuit("drift_detected", { inputs: { report } }, async ({ report }, ctx) => {
      if (report.drifted) ctx.log.warn(`input drift in ${report.driftedFeatures.join(", ")}: requesting retraining of the weather classifier`);
      else ctx.log.info("no drift");
      return report.drifted;
    });

    // Succeeds only when drift was detected (else skipped by the short-circuit): its success records one
    // update of RETRAIN_ASSET, which starts ml_train.
    d.task("request_retraining", { inputs: { report }, after: [detected], produces: [RETRAIN_ASSET] }, async ({ report }, ctx) => {
      ctx.assetMetadata(RETRAIN_ASSET, {
        reason: "input drift",
        source: report.source,
        driftedFeatures: report.driftedFeatures,
        psi: Object.fromEntries(report.driftedFeatures.map((f) => [f, Number(report.features[f]!.psi.toFixed(4))])),
        monitorRun: ctx.runId,
      });
      return { requested: report.driftedFeatures };
    });
  },
);
