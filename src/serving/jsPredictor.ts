/**
 * The `js` flavor: a model whose code is a TypeScript/JavaScript module under the DAGs folder, loaded in
 * this process as DAG files are (tsx, executors/dagFile.ts). Its `load` export turns the version's artifact
 * bytes into a Predictor. Each version is imported under its own URL (`?model=<name>@<version>`), so a
 * version registered after the module changed runs the module as it is now, and the version it replaces
 * keeps the code it was loaded with until it is drained.
 */
import { isAbsolute, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { stat } from "node:fs/promises";
import type { ModelVersionRecord, Predictor } from "../core/models.js";
import { SluiceError } from "../errors.js";
import { enableTypeScriptImports } from "../executors/dagFile.js";

/** Where a model's code lives: `module` relative to the DAGs folder, never outside it. */
export function modelCodePath(dagsDir: string, module: string, what: string): string {
  const path = resolve(dagsDir, module);
  const rel = relative(resolve(dagsDir), path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) {
    throw new SluiceError("MODEL_LOAD", `${what}: its code "${module}" is not a file under the DAGs folder ${dagsDir}`);
  }
  return path;
}

export async function loadJsPredictor(v: ModelVersionRecord, artifact: Uint8Array, dagsDir: string): Promise<Predictor> {
  if (v.flavor.kind !== "js") throw new SluiceError("INTERNAL", `model "${v.name}" version ${v.version} is not a js model`);
  const what = `model "${v.name}" version ${v.version}`;
  const file = modelCodePath(dagsDir, v.flavor.module, what);
  if (!(await stat(file).then((s) => s.isFile(), () => false))) throw new SluiceError("MODEL_LOAD", `${what}: its module ${file} does not exist`);
  await enableTypeScriptImports();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`${pathToFileURL(file).href}?model=${encodeURIComponent(v.name)}@${v.version}`)) as Record<string, unknown>;
  } catch (e) {
    throw new SluiceError("MODEL_LOAD", `${what}: cannot import ${file}: ${(e as Error).message ?? String(e)}`, { cause: e });
  }
  const name = v.flavor.export || "load";
  // a module compiled as CommonJS puts its exports under `default`
  const fn = mod[name] ?? (mod["default"] as Record<string, unknown> | undefined)?.[name];
  if (typeof fn !== "function") throw new SluiceError("MODEL_LOAD", `${what}: ${file} has no function export "${name}" (load(artifact, version) => { predict(rows) })`);
  let predictor: unknown;
  try {
    predictor = await (fn as (a: Uint8Array, v: ModelVersionRecord) => unknown)(artifact, v);
  } catch (e) {
    throw new SluiceError("MODEL_LOAD", `${what}: ${name}() threw: ${(e as Error).message ?? String(e)}`, { cause: e });
  }
  if (typeof predictor !== "object" || predictor === null || typeof (predictor as Predictor).predict !== "function") {
    throw new SluiceError("MODEL_LOAD", `${what}: ${name}() must return an object with predict(rows)`);
  }
  const p = predictor as Predictor;
  // bound: the user's object may rely on `this`
  return { predict: (rows) => p.predict(rows), close: () => p.close?.() };
}
