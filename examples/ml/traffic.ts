/**
 * A traffic simulator for the served weather classifier: sends days of the data set, one request each, to
 * a model server's POST /predict and prints which versions answered.
 *
 *   npx tsx examples/ml/traffic.ts --url http://127.0.0.1:8300 [--shift] [--n 500] [--seed 1] [--json]
 *
 * - default: `n` days drawn (seeded) from the whole data set: the distribution the model was trained on.
 * - `--shift`: only winter days (December to February), the coldest season: temperatures move far from
 *   the training data's, which is what ml_monitor's drift report is for.
 *
 * Every answer names the version that made it; the summary counts them (a hot swap mid-traffic shows two).
 * Exit code 1 when a request failed.
 *
 * (This file must not mention the orchestrator's name: the DAG loader imports every file that does.)
 */
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { shuffled } from "./model.js";
import { parseCsv, validateRows, type Observation } from "./weather.js";

const DATA_FILE = fileURLToPath(new URL("./data/weather.csv", import.meta.url));

/** Winter in both cities: the shifted traffic. */
const WINTER_MONTHS = new Set(["12", "01", "02"]);

export interface TrafficSummary {
  url: string;
  shifted: boolean;
  sent: number;
  failed: number;
  /** "v1" → how many rows that version answered. */
  versions: Record<string, number>;
  /** label → how many times it was predicted. */
  predictions: Record<string, number>;
}

/** The `n` request rows: seeded, drawn from all days or (shifted) from winter days only, cycling if needed. */
export function trafficRows(n: number, shift: boolean, seed: number): Observation[] {
  const all = validateRows(parseCsv(readFileSync(DATA_FILE, "utf8"), DATA_FILE), DATA_FILE, { minRows: 1, minPerClass: 0 }).rows;
  const pool = shuffled(shift ? all.filter((r) => WINTER_MONTHS.has(r.date.slice(5, 7))) : all, seed);
  // the label is what the model predicts: it is not sent
  return Array.from({ length: n }, (_, i) => {
    const { weather: _label, ...observation } = pool[i % pool.length]!;
    return observation;
  });
}

export async function sendTraffic(url: string, rows: readonly Observation[], shifted: boolean, concurrency = 8): Promise<TrafficSummary> {
  const summary: TrafficSummary = { url, shifted, sent: 0, failed: 0, versions: {}, predictions: {} };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const row = rows[next++]!;
      summary.sent++;
      try {
        const res = await fetch(`${url.replace(/\/$/, "")}/predict`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ inputs: [row] }) });
        const body = (await res.json()) as { version?: number; predictions?: string[]; error?: unknown };
        if (!res.ok || body.version === undefined) throw new Error(`HTTP ${res.status}: ${JSON.stringify(body)}`);
        summary.versions[`v${body.version}`] = (summary.versions[`v${body.version}`] ?? 0) + 1;
        for (const p of body.predictions ?? []) summary.predictions[p] = (summary.predictions[p] ?? 0) + 1;
      } catch (e) {
        if (summary.failed++ === 0) console.error(`request failed: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return summary;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: "http://127.0.0.1:8300" },
      shift: { type: "boolean", default: false },
      n: { type: "string", default: "500" },
      seed: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
    },
  });
  const n = Number(values.n);
  const seed = Number(values.seed);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--n must be a positive integer, not "${values.n}"`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, not "${values.seed}"`);
  const summary = await sendTraffic(values.url, trafficRows(n, values.shift, seed), values.shift);
  if (values.json) console.log(JSON.stringify(summary));
  else {
    const versions = Object.entries(summary.versions).map(([v, count]) => `${v} × ${count}`).join(", ") || "none";
    console.log(`sent ${summary.sent} ${values.shift ? "winter (shifted) " : ""}days to ${summary.url}/predict: ${summary.sent - summary.failed} answered, ${summary.failed} failed`);
    console.log(`answered by: ${versions}`);
    console.log(`predictions: ${JSON.stringify(summary.predictions)}`);
  }
  if (summary.failed > 0) process.exitCode = 1;
}

// run as a script only (the file is importable, e.g. by tests)
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(`traffic: ${(e as Error).message}`);
    process.exitCode = 2;
  });
}
