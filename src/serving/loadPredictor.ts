/**
 * A registered model version, loaded: its artifact read from the artifact store and handed to its flavor's
 * code (jsPredictor.ts in process, pythonPredictor.ts in a managed Python process).
 */
import { mkdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { ModelVersionRecord, Predictor } from "../core/models.js";
import { SluiceError } from "../errors.js";
import { loadJsPredictor, modelCodePath } from "./jsPredictor.js";
import { PythonPredictor } from "./pythonPredictor.js";

export interface LoadContext {
  /** The DAGs folder: model code paths are relative to it. */
  dagsDir: string;
  artifacts: ArtifactStore;
  /** The Python interpreter (SLUICE_PYTHON). */
  python: string;
  /** The environment of Python model processes (config.taskEnv: never Sluice's own variables). */
  env: NodeJS.ProcessEnv;
  /** Where Python models' artifacts are written as files. */
  workDir: string;
  log: (line: string) => void;
  /** Python: the first restart's delay after the process died (default 500 ms). */
  restartDelayMs?: number;
}

export async function loadPredictor(v: ModelVersionRecord, ctx: LoadContext): Promise<Predictor> {
  const what = `model "${v.name}" version ${v.version}`;
  let artifact: Buffer;
  try {
    artifact = await ctx.artifacts.get(v.artifactRef);
  } catch (e) {
    throw new SluiceError("MODEL_LOAD", `${what}: its artifact ${v.artifactRef.slice(0, 12)}… cannot be read from ${ctx.artifacts.location}: ${(e as Error).message}`, { cause: e });
  }
  if (v.flavor.kind === "js") return loadJsPredictor(v, artifact, ctx.dagsDir);
  const script = modelCodePath(ctx.dagsDir, v.flavor.script, what);
  if (!(await stat(script).then((s) => s.isFile(), () => false))) throw new SluiceError("MODEL_LOAD", `${what}: its script ${script} does not exist`);
  await mkdir(ctx.workDir, { recursive: true });
  // by content: two servers of one version share the file, a new version never overwrites an old one's
  const artifactPath = join(ctx.workDir, `${v.name.replace(/[^A-Za-z0-9_.-]/g, "_")}-v${v.version}-${v.artifactRef.slice(0, 16)}`);
  await writeFile(artifactPath, artifact);
  return PythonPredictor.start(v, { python: ctx.python, script, artifactPath, env: ctx.env, log: ctx.log, ...(ctx.restartDelayMs !== undefined ? { restartDelayMs: ctx.restartDelayMs } : {}) });
}
