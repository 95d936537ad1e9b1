/**
 * `sluice models serve <name>@<alias>`: an HTTP inference endpoint for a registered model (serving/ does
 * the work, server/modelServer.ts the HTTP), until SIGINT or SIGTERM. It follows the alias: a promotion or
 * rollback swaps the version it serves without a restart (docs/decisions/0031-model-serving.md).
 */
import type { Command } from "commander";
import type { SluiceError } from "../../errors.js";
import { SluiceError as Err } from "../../errors.js";
import { configureProcessLog, processLog } from "../../logs/processLog.js";
import { DEFAULT_BATCH } from "../../serving/batcher.js";
import { deployModel, parseModelRef, type Deployed } from "../../serving/deploy.js";
import { DEFAULT_POLL_MS } from "../../serving/deployment.js";
import { DEFAULT_INFERENCE_LOG } from "../../serving/inferenceLogWriter.js";
import { Sluice } from "../../sluice.js";
import { configFrom, type GlobalOptions } from "../context.js";
import { untilSignal } from "./serve.js";

/** server/modelServer.ts's startModelServer, plugged in by src/main.ts (cli/ and server/ do not import each other). */
export type StartModelServer = (
  d: Deployed["deployment"],
  info: { batch: { windowMs: number; maxBatch: number }; inferenceLog: { sampleRate: number; limit: number } | null },
  opts: { port: number; host: string; onError?: (e: SluiceError) => void },
) => Promise<{ url: string; close(): Promise<void> }>;

interface ModelServeOptions extends GlobalOptions {
  port: string;
  host?: string;
  sampleRate: string;
  logLimit: string;
  batchWindow: string;
  maxBatch: string;
  poll: string;
  logFormat?: string;
  logLevel?: string;
}

export const DEFAULT_MODEL_PORT = 8090;

function num(text: string, flag: string, ok: (n: number) => boolean, what: string): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || !ok(n)) throw new Err("USAGE", `${flag} must be ${what}, got "${text}"`);
  return n;
}

export function registerModelServe(models: Command, globals: () => GlobalOptions, deps: { startModelServer: StartModelServer }): void {
  models
    .command("serve <model>")
    .description("serve <name>@<alias> (default alias: champion) over HTTP: POST /predict, GET /health, GET /metadata; follows the alias as it moves")
    .option("--port <n>", "port to listen on; 0: any free port", String(DEFAULT_MODEL_PORT))
    .option("--host <host>", "interface to listen on (env SLUICE_HOST; default 127.0.0.1)")
    .option("--sample-rate <r>", "fraction of request rows written to the inference log, 0 to 1 (0: none)", String(DEFAULT_INFERENCE_LOG.sampleRate))
    .option("--log-limit <n>", "inference log rows kept for this model (older ones are pruned)", String(DEFAULT_INFERENCE_LOG.limit))
    .option("--batch-window <ms>", "how long a request waits for others to share its predict call", String(DEFAULT_BATCH.windowMs))
    .option("--max-batch <n>", "rows per predict call at most", String(DEFAULT_BATCH.maxBatch))
    .option("--poll <ms>", "how often the alias is checked when no notification comes (PostgreSQL notifies; SQLite polls)", String(DEFAULT_POLL_MS))
    .option("--log-format <format>", "text (default) or json (env SLUICE_LOG_FORMAT)")
    .option("--log-level <level>", "debug, info (default), warn or error (env SLUICE_LOG_LEVEL)")
    .action((ref: string, o: ModelServeOptions) => serveModel(ref, { ...globals(), ...o }, deps.startModelServer));
}

async function serveModel(ref: string, o: ModelServeOptions, startModelServer: StartModelServer): Promise<void> {
  const { name, alias } = parseModelRef(ref);
  const port = num(o.port, "--port", (n) => Number.isInteger(n) && n >= 0 && n <= 65535, "a port number (0: any free port)");
  const sampleRate = num(o.sampleRate, "--sample-rate", (n) => n >= 0 && n <= 1, "a number from 0 to 1");
  const limit = num(o.logLimit, "--log-limit", (n) => Number.isInteger(n) && n >= 1, "a whole number ≥ 1");
  const windowMs = num(o.batchWindow, "--batch-window", (n) => n >= 0 && n <= 1000, "a number of milliseconds from 0 to 1000");
  const maxBatch = num(o.maxBatch, "--max-batch", (n) => Number.isInteger(n) && n >= 1, "a whole number ≥ 1");
  const pollMs = num(o.poll, "--poll", (n) => Number.isInteger(n) && n >= 100, "a whole number of milliseconds ≥ 100");
  const { port: _port, ...rest } = o;
  const config = configFrom(rest, "server");
  configureProcessLog({ format: config.logFormat, level: config.logLevel, role: "model-server" });
  const log = processLog();
  const err = processLog("stderr");
  const s = await Sluice.open(config, { loadDags: false });
  let deployed: Deployed;
  let http: { url: string; close(): Promise<void> };
  try {
    deployed = await deployModel(s, s.store.models, {
      name,
      alias,
      batch: { windowMs, maxBatch },
      inferenceLog: sampleRate > 0 ? { sampleRate, limit } : null,
      pollMs,
      onEvent: (message, level) => (level === "info" ? log.info(message, { event: "model" }) : err[level](message, { event: "model" })),
    });
    http = await startModelServer(deployed.deployment, { batch: deployed.batch, inferenceLog: deployed.log ? { sampleRate, limit } : null }, {
      port,
      host: config.host,
      onError: (e) => err.error(`  predict error [${e.code}]: ${e.message}`, { event: "predict error", code: e.code, error: e.message }),
    }).catch(async (e: unknown) => {
      await deployed.close();
      throw e;
    });
  } catch (e) {
    await s.close();
    throw e;
  }
  const v = deployed.deployment.current;
  log.info(`Serving model "${name}" version ${v.version} (alias ${alias}) at ${http.url}`, { event: "serving", model: name, alias, version: v.version, url: http.url });
  log.banner(`  POST ${http.url}/predict  {"inputs": [row, ...]}   GET ${http.url}/health   GET ${http.url}/metadata`);
  await untilSignal(
    () => err.info("\nstopping…", { event: "stopping" }),
    () => process.exit(130),
  );
  await http.close();
  await deployed.close();
  await s.close();
}
