/**
 * Imports one DAG file (TypeScript through tsx) and collects the DAGs it exports. The engine's loader
 * (engine/dagLoader.ts) parses DAG folders with it; a task run in a child process (childMain.ts) imports
 * its DAG file with it too.
 */
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isDag, type Dag } from "../dsl/dag.js";
import { readFile } from "node:fs/promises";
import { secretInCode, type DagBundle } from "./dagBundle.js";
import { compiledDagModule, DEFAULT_DAG_MODULE_CACHE, refuseDagModule, type CompiledModule } from "./dagModuleCache.js";

let typeScriptEnabled: Promise<void> | null = null;

/**
 * Let `import()` load TypeScript (tsx), for ES module and CommonJS packages alike: a DAG file outside a
 * `"type": "module"` package is compiled to CommonJS and needs the require hook too. Idempotent. tsx is
 * imported here, not at the top: a task's child process importing a bundle (plain JavaScript) and a
 * warm load of compiled modules never pay for it (~70 ms of CPU per process).
 */
export function enableTypeScriptImports(): Promise<void> {
  typeScriptEnabled ??= Promise.all([import("tsx/esm/api"), import("tsx/cjs/api")]).then(([esm, cjs]) => {
    esm.register();
    cjs.register();
  });
  return typeScriptEnabled;
}

/**
 * Import a DAG file: its compiled module (dagModuleCache.ts, kept in `cacheDir`) when it compiles, else
 * the file itself through tsx — which then reports its syntax or import error as it always did.
 * `compiled` is the module when the caller looked it up already (the folder loader does, for many files at
 * once). `fresh` (a number never used before for this file) re-imports it even if this process imported it
 * before: a compiled module by its content (a changed file or helper is a new module), the file itself by
 * a query on the URL (ES modules) or by dropping the cached module (CommonJS).
 */
export async function loadDagFile(file: string, opts: { fresh?: number; cacheDir?: string; compiled?: CompiledModule | null } = {}): Promise<LoadedModule> {
  const compiled = opts.compiled !== undefined ? opts.compiled : await compiledDagModule(file, opts.cacheDir ?? DEFAULT_DAG_MODULE_CACHE);
  if (compiled) {
    // TypeScript only when a package it imports is TypeScript: registering tsx puts every later import of the process through its hooks
    if (compiled.needsTypeScript) await enableTypeScriptImports();
    // stack traces through the module's inline source map name the original files and lines
    process.setSourceMapsEnabled(true);
    const loaded = await importDagModule(compiled.url, file);
    if (!("error" in loaded)) {
      // a secret written in the DAG file must not stay in a copy of its code under the home
      const code = await readFile(fileURLToPath(compiled.url), "utf8").catch(() => "");
      if (secretInCode({ code } as DagBundle, loaded.dags)) await refuseDagModule(file, opts.cacheDir ?? DEFAULT_DAG_MODULE_CACHE, compiled);
      return loaded;
    }
    // the module was swept by another process between the lookup and the import: import the file itself
    if (!loaded.missing) return loaded;
  }
  await enableTypeScriptImports();
  let url = pathToFileURL(file).href;
  if (opts.fresh !== undefined) {
    delete createRequire(import.meta.url).cache[file];
    url += `?v=${opts.fresh}`;
  }
  return loadDagModule(url, file);
}

export type LoadedModule = { dags: Dag[] } | { error: string; line: number | null };

/**
 * Import the module at `url` and collect its DAGs; errors name `file` (the DAG file it was made from).
 * `typeScript: "onDemand"` (a bundle, which is plain JavaScript, in a task's child process): without the
 * TypeScript loader, whose start costs a loader thread and esbuild, unless a package the module imports
 * is TypeScript itself — then it is enabled and the import tried again.
 */
export async function loadDagModule(url: string, file: string, opts: { typeScript?: "always" | "onDemand" } = {}): Promise<LoadedModule> {
  if (opts.typeScript !== "onDemand" || typeScriptEnabled) await enableTypeScriptImports();
  const loaded = await importDagModule(url, file);
  if (opts.typeScript !== "onDemand" || typeScriptEnabled || !("error" in loaded) || !loaded.unknownExtension) return loaded;
  await enableTypeScriptImports();
  // another URL of the same module: the failed import stays cached under the first one
  return importDagModule(`${url}${url.includes("?") ? "&" : "?"}ts=1`, file);
}

/**
 * `loadDagModule` of a module that needs no TypeScript loader; `missing`: the module at `url` itself is not
 * there; `unknownExtension`: it imports TypeScript, which needs the loader.
 */
async function importDagModule(url: string, file: string): Promise<LoadedModule & { missing?: boolean; unknownExtension?: boolean }> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const missing = code === "ERR_MODULE_NOT_FOUND" && (e as Error).message.includes(fileURLToPath(url.replace(/\?.*$/, "")));
    return { error: errorText(e, file), line: lineIn(e, file), ...(missing ? { missing } : {}), ...(code === "ERR_UNKNOWN_FILE_EXTENSION" ? { unknownExtension: true } : {}) };
  }
  const dags: Dag[] = [];
  const seen = new Set<unknown>();
  const collect = (v: unknown): void => {
    if (seen.has(v)) return;
    seen.add(v);
    if (isDag(v)) dags.push(v);
    else if (Array.isArray(v)) v.forEach(collect);
  };
  Object.values(mod).forEach(collect);
  const cjs = mod["default"];
  if (!isDag(cjs) && typeof cjs === "object" && cjs !== null && Object.getPrototypeOf(cjs) === Object.prototype) {
    Object.values(cjs).forEach(collect); // module.exports of a file compiled as CommonJS
  }
  return { dags };
}

function errorText(e: unknown, file: string): string {
  const message = e instanceof Error ? e.message : String(e);
  // esbuild prefixes syntax errors with "Transform failed with 1 error:\n<file>:<line>:<col>: ERROR: ..."
  const m = /ERROR: (.*)/.exec(message);
  if (m) return `syntax error: ${m[1]}`;
  return message.split(file).join("").replace(/\s+$/, "") || "import failed";
}

function lineIn(e: unknown, file: string): number | null {
  const text = e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e);
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`${escaped}:(\\d+)`).exec(text) ?? new RegExp(`${escaped.replace(/^\//, "file:///")}:(\\d+)`).exec(text);
  return m ? Number(m[1]) : null;
}
