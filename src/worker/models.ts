/**
 * `ctx.models` of one attempt: `register` checks what the task gives (names, metrics, the artifact, the
 * flavor's file, the signature) before anything is written, stores the artifact's bytes in the artifact
 * store, then records the version with its lineage in one transaction (store/models.ts). A mistake fails
 * the task with a message naming the task, the model and the field; nothing half-written stays behind
 * but an unreferenced blob, which the artifact store's retention collects.
 */
import { access, readFile } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { ModelFlavor, ModelInputEvent } from "../core/models.js";
import { signatureOf } from "../core/modelSignature.js";
import { checkModelName } from "../core/promotion.js";
import { checkMetric, checkTrackName, paramJson } from "../core/tracking.js";
import type { AssetEvent, InferenceLogEntry, InferenceLogOptions, ModelRegistry, RegisterModelOptions, RegisteredModel } from "../dsl/types.js";
import { SluiceError } from "../errors.js";
import type { Masker } from "../secrets/mask.js";
import type { Store } from "../store/store.js";

export interface ModelAttempt {
  runId: string;
  dagId: string;
  dagVersion: string;
  taskId: string;
  mapIndex: number;
  attemptId: number;
}

export interface ModelDeps {
  store: Store;
  artifacts: ArtifactStore;
  masker: Masker;
  /** The DAG file (flavors are relative to its folder); empty for a DAG defined in code. */
  dagFile: string;
  /** The DAGs folder (flavors are stored relative to it); absent: the DAG file's folder. */
  dagsDir?: string | undefined;
  /** The asset events the run consumed: the version's input lineage. */
  inputEvents: readonly AssetEvent[];
  /** Called with each registered version (the attempt's log). */
  onRegistered?: (m: RegisteredModel) => void;
}

export class AttemptModels implements ModelRegistry {
  private readonly where: string;

  private readonly a: ModelAttempt;

  constructor(
    private readonly deps: ModelDeps,
    a: ModelAttempt,
  ) {
    // only these fields: a claimed attempt carries more (the run's params…) that must not leak into the record
    this.a = { runId: a.runId, dagId: a.dagId, dagVersion: a.dagVersion, taskId: a.taskId, mapIndex: a.mapIndex, attemptId: a.attemptId };
    this.where = `task "${a.taskId}"${a.mapIndex >= 0 ? `[${a.mapIndex}]` : ""}`;
  }

  async register(name: string, options: RegisterModelOptions): Promise<RegisteredModel> {
    checkModelName(this.where, name);
    const where = `${this.where}: model "${name}"`;
    if (typeof options !== "object" || options === null) throw new SluiceError("INVALID_INPUT", `${where}: register needs options ({ artifact, flavor, … })`);
    const metrics = checkMetrics(where, options.metrics);
    const params = checkParams(where, options.params, this.deps.masker);
    const flavor = await this.flavor(where, options.flavor);
    const signature = signatureOf(where, options.signature);
    const framework = optionalText(where, "framework", options.framework);
    const description = optionalText(where, "description", options.description);
    const bytes = await artifactBytes(where, options.artifact);
    const artifactRef = await this.deps.artifacts.put(bytes);
    const inputEvents: ModelInputEvent[] = this.deps.inputEvents.map((e) => ({ id: e.id, asset: e.asset, dagId: e.dagId, runId: e.runId, createdAt: e.createdAt.getTime() }));
    const rec = await this.deps.store.models.register({
      name,
      artifactRef,
      artifactSize: bytes.length,
      flavor,
      framework,
      signature,
      metrics,
      params,
      description,
      ...this.a,
      inputEvents,
    });
    const out = { name: rec.name, version: rec.version };
    this.deps.onRegistered?.(out);
    return out;
  }

  /** The model's inference log (store/inferenceLog.ts; serving writes it): read-only, any model. */
  async inferenceLog(name: string, options: InferenceLogOptions = {}): Promise<InferenceLogEntry[]> {
    const where = `${this.where}: inference log of model "${name}"`;
    if (typeof name !== "string" || name === "") throw new SluiceError("INVALID_INPUT", `${this.where}: ctx.models.inferenceLog needs a model name`, { details: { field: "name" } });
    const since = options.since instanceof Date ? options.since.getTime() : options.since;
    for (const [field, v] of [["since", since], ["afterId", options.afterId], ["version", options.version], ["limit", options.limit]] as const) {
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) throw new SluiceError("INVALID_INPUT", `${where}: ${field} must be a number ≥ 0`, { details: { field } });
    }
    const rows = await this.deps.store.inferenceLog.recent(name, {
      ...(since !== undefined ? { since } : {}),
      ...(options.afterId !== undefined ? { afterId: options.afterId } : {}),
      ...(options.version !== undefined ? { version: options.version } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    });
    return rows.map((r) => ({ id: r.id, at: new Date(r.at), version: r.version, alias: r.alias, input: r.input, prediction: r.prediction }));
  }

  /** The flavor's file, found from the DAG file's folder and stored relative to the DAGs folder. */
  private async flavor(where: string, f: RegisterModelOptions["flavor"] | undefined): Promise<ModelFlavor> {
    if (typeof f !== "object" || f === null) throw new SluiceError("INVALID_INPUT", `${where}: flavor is required: { module: "./model.ts", export?: "load" } or { python: "./model.py" }`, { details: { field: "flavor" } });
    const isJs = "module" in f && typeof f.module === "string";
    const isPy = "python" in f && typeof f.python === "string";
    if (isJs === isPy) throw new SluiceError("INVALID_INPUT", `${where}: flavor needs exactly one of "module" (TypeScript) or "python"`, { details: { field: "flavor" } });
    const path = isJs ? (f as { module: string }).module : (f as { python: string }).python;
    const base = this.deps.dagFile ? dirname(this.deps.dagFile) : process.cwd();
    const abs = isAbsolute(path) ? path : resolve(base, path);
    try {
      await access(abs);
    } catch {
      throw new SluiceError("INVALID_INPUT", `${where}: flavor file ${path} not found (looked for ${abs}; paths are relative to the DAG file)`, { details: { field: "flavor" } });
    }
    const root = this.deps.dagsDir ?? base;
    const rel = relative(root, abs);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new SluiceError("INVALID_INPUT", `${where}: flavor file ${abs} is outside the DAGs folder ${root}; a model server loads it from there`, { details: { field: "flavor" } });
    const stored = rel.split(sep).join("/");
    if (isJs) {
      const exp = (f as { export?: unknown }).export ?? "load";
      if (typeof exp !== "string" || !/^[A-Za-z_$][\w$]*$/.test(exp)) throw new SluiceError("INVALID_INPUT", `${where}: flavor.export must be the name of an exported function`, { details: { field: "flavor" } });
      return { kind: "js", module: stored, export: exp };
    }
    return { kind: "python", script: stored };
  }
}

function checkMetrics(where: string, metrics: unknown): Record<string, number> {
  if (metrics === undefined) return {};
  if (typeof metrics !== "object" || metrics === null || Array.isArray(metrics)) throw new SluiceError("INVALID_INPUT", `${where}: metrics must be an object of name → number`, { details: { field: "metrics" } });
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) {
    checkTrackName(where, "metric", k);
    checkMetric(where, k, v, undefined);
    out[k] = v as number;
  }
  return out;
}

function checkParams(where: string, params: unknown, masker: Masker): Record<string, unknown> {
  if (params === undefined) return {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) throw new SluiceError("INVALID_INPUT", `${where}: params must be an object`, { details: { field: "params" } });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) {
    checkTrackName(where, "param", k);
    // a param holding a secret the attempt can reach is stored as ***
    out[k] = JSON.parse(paramJson(where, k, masker.maskJson(v as never))) as unknown;
  }
  return out;
}

function optionalText(where: string, field: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") throw new SluiceError("INVALID_INPUT", `${where}: ${field} must be a string`, { details: { field } });
  return v;
}

async function artifactBytes(where: string, artifact: unknown): Promise<Buffer> {
  if (artifact instanceof Uint8Array) return Buffer.from(artifact.buffer, artifact.byteOffset, artifact.byteLength);
  if (typeof artifact === "string") {
    try {
      return await readFile(artifact);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new SluiceError("INVALID_INPUT", `${where}: artifact file ${artifact} ${code === "ENOENT" ? "does not exist" : `cannot be read (${(e as Error).message})`}; write it before registering, or pass its bytes`, {
        details: { field: "artifact" },
      });
    }
  }
  throw new SluiceError("INVALID_INPUT", `${where}: artifact is required: the model's bytes (a Buffer or Uint8Array) or the path of a file`, { details: { field: "artifact" } });
}
