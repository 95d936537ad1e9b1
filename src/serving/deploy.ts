/**
 * A served model, assembled from an open Sluice: the registry as the source of versions, the engine's
 * artifact store for their bytes, the DAGs folder for their code, the store's notifications for alias
 * moves and the inference log writer. `sluice models serve` and the API's predict route both start one
 * this way.
 */
import { join } from "node:path";
import type { Sluice } from "../sluice.js";
import { DEFAULT_BATCH, type BatchOptions } from "./batcher.js";
import { ModelDeployment, type ModelSource } from "./deployment.js";
import { InferenceLogWriter, type InferenceLogOptions } from "./inferenceLogWriter.js";
import { loadPredictor } from "./loadPredictor.js";

export interface DeployOptions {
  name: string;
  alias: string;
  batch?: Partial<BatchOptions>;
  /** Inference log settings; null: log nothing. */
  inferenceLog?: Partial<InferenceLogOptions> | null;
  pollMs?: number;
  onEvent?: (message: string, level: "info" | "warn" | "error") => void;
}

export interface Deployed {
  deployment: ModelDeployment;
  log: InferenceLogWriter | null;
  batch: BatchOptions;
  /** Stop watching, drain, close the predictor, flush the inference log. */
  close(): Promise<void>;
}

/** `name@alias` as typed on the command line: the alias defaults to "champion". */
export function parseModelRef(ref: string): { name: string; alias: string } {
  const at = ref.lastIndexOf("@");
  if (at <= 0) return { name: ref, alias: "champion" };
  return { name: ref.slice(0, at), alias: ref.slice(at + 1) || "champion" };
}

export async function deployModel(s: Sluice, source: ModelSource, o: DeployOptions): Promise<Deployed> {
  const batch = { ...DEFAULT_BATCH, ...o.batch };
  const report = o.onEvent ?? (() => undefined);
  const log = o.inferenceLog === null ? null : new InferenceLogWriter(s.store, o.inferenceLog ?? {}, (m) => report(m, "error"));
  const deployment = await ModelDeployment.start({
    name: o.name,
    alias: o.alias,
    source,
    batch,
    log,
    ...(o.pollMs !== undefined ? { pollMs: o.pollMs } : {}),
    subscribe: s.store.notifier?.canListen ? (cb) => s.store.notifier!.subscribe(cb) : null,
    now: () => s.store.now(),
    onEvent: report,
    load: (v) =>
      loadPredictor(v, {
        dagsDir: s.config.dagsDir,
        artifacts: s.engine.artifacts,
        python: s.config.python,
        env: s.config.taskEnv,
        workDir: join(s.config.home, "models"),
        log: (line) => report(line, "info"),
      }),
  }).catch(async (e: unknown) => {
    await log?.close();
    throw e;
  });
  return {
    deployment,
    log,
    batch,
    close: async () => {
      await deployment.close();
      await log?.close();
    },
  };
}
