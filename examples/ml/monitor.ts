/**
 * ml_monitor — watch the weather classifier's inputs for drift and ask for retraining when they move.
 *
 *   reference ─┬→ drift → drift_detected → request_retraining (updates the asset ml_train is scheduled on)
 *   recent ────┘
 *
 * The reference is what the model was trained on: a seeded sample of the training data set. The "recent"
 * sample stands in for the model's inference log until the model server records one; today it is a slice
 * of the same data set, chosen by the `sample` param and named for what it is:
 *
 * - `simulated_shift` (default): the data set's last 90 days (October–December 2015). Real observations,
 *   but one season against a whole-year reference: temperatures drift, as they would if the model were fed
 *   only winter days. Drift is detected, ml_train runs.
 * - `unshifted`: another seeded sample from the whole data set, disjoint from the reference: nothing drifts,
 *   nothing is retrained.
 *
 * Every feature's PSI and test p-value is recorded with ctx.track (one trial per run:
 * `npx sluice experiments show ml_monitor`), so drift over time is a chart.
 *
 *   npx sluice --dags examples run ml_monitor                            # drift → an update of the asset
 *   npx sluice --dags examples run ml_monitor --param sample=unshifted   # no drift, no update
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dag, driftReport } from "sluice";
import { z } from "zod";
import { shuffled } from "./model.js";
import { MONITORED_FEATURES, parseCsv, RETRAIN_ASSET, validateRows, type LabelledObservation } from "./weather.js";

const DATA_FILE = fileURLToPath(new URL("./data/weather.csv", import.meta.url));
const SAMPLE_SIZE = 600;

async function observations(): Promise<LabelledObservation[]> {
  return validateRows(parseCsv(await readFile(DATA_FILE, "utf8"), DATA_FILE), DATA_FILE, { minRows: 1, minPerClass: 0 }).rows;
}

export default dag(
  "ml_monitor",
  {
    description: "Drift of the weather classifier's inputs (PSI, KS, chi-square); past a threshold, requests retraining",
    owner: "ml-team",
    tags: ["ml", "example"],
    schedule: "@daily",
    params: z.object({
      /** Which stand-in for the inference log to compare with the reference (see the file's comment). */
      sample: z.enum(["simulated_shift", "unshifted"]).default("simulated_shift"),
      /** A feature drifted when its PSI reaches this… */
      psiThreshold: z.number().positive().default(0.2),
      /** …or its test's p-value falls below this. */
      pValueThreshold: z.number().positive().max(1).default(0.01),
    }),
    defaults: { retries: 1, retryDelay: "1s", timeout: "2m" },
  },
  (d) => {
    // Seeded, so that the same data gives the same reference (and the reference and the unshifted sample
    // are disjoint halves of one shuffle).
    const reference = d.task("reference", async (_, ctx) => {
      const rows = shuffled(await observations(), 11).slice(0, SAMPLE_SIZE);
      ctx.log.info(`reference: ${rows.length} rows sampled from the training data set`);
      return rows;
    });

    const recent = d.task("recent", async (_, ctx) => {
      const all = await observations();
      let rows: LabelledObservation[];
      if (ctx.params.sample === "unshifted") {
        rows = shuffled(all, 11).slice(SAMPLE_SIZE, 2 * SAMPLE_SIZE);
      } else {
        const last = all.reduce((m, r) => (r.date > m ? r.date : m), "");
        const since = new Date(Date.parse(`${last}T00:00:00Z`) - 89 * 86_400_000).toISOString().slice(0, 10);
        rows = all.filter((r) => r.date >= since);
      }
      ctx.log.info(`recent (${ctx.params.sample}, a stand-in for the inference log): ${rows.length} rows`);
      return rows;
    });

    const report = d.task("drift", { inputs: { reference, recent } }, async ({ reference, recent }, ctx) => {
      const r = driftReport(reference, recent, {
        features: MONITORED_FEATURES,
        thresholds: { psi: ctx.params.psiThreshold, pValue: ctx.params.pValueThreshold },
      });
      ctx.track.params({ sample: ctx.params.sample, referenceRows: r.referenceRows, currentRows: r.currentRows, ...r.thresholds });
      for (const [name, f] of Object.entries(r.features)) {
        ctx.track.metric(`psi/${name}`, f.psi);
        ctx.track.metric(`p_value/${name}`, f.kind === "numeric" ? f.ks.pValue : f.chiSquare.pValue);
        if (f.kind === "numeric") ctx.track.metric(`ks/${name}`, f.ks.statistic);
        ctx.log.info(`${name}: PSI ${f.psi.toFixed(3)}${f.drifted ? ` DRIFT (${f.reasons.join("; ")})` : ""}`);
      }
      ctx.track.metric("drifted_features", r.driftedFeatures.length);
      return r;
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
        driftedFeatures: report.driftedFeatures,
        psi: Object.fromEntries(report.driftedFeatures.map((f) => [f, Number(report.features[f]!.psi.toFixed(4))])),
        monitorRun: ctx.runId,
      });
      return { requested: report.driftedFeatures };
    });
  },
);
