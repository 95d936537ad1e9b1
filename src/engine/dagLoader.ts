/**
 * Finds DAG files under the DAGs folder and imports them (TypeScript through tsx). A file that throws or
 * does not compile becomes an import error with its file and line; the other files still load.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { register as registerCjs } from "tsx/cjs/api";
import { register as registerEsm } from "tsx/esm/api";
import { isDag, type Dag } from "../dsl/dag.js";

export interface LoadedDag {
  dag: Dag;
  /** Absolute path of the file that defines it. */
  file: string;
}

export interface ImportError {
  /** Path relative to the DAGs folder. */
  file: string;
  line: number | null;
  message: string;
}

export interface DagBag {
  dir: string;
  dags: Map<string, LoadedDag>;
  errors: ImportError[];
}

const DAG_FILE = /\.(ts|mts|js|mjs)$/;

let typeScriptEnabled = false;

/**
 * Let `import()` load TypeScript (tsx), for ES module and CommonJS packages alike: a DAG file outside a
 * `"type": "module"` package is compiled to CommonJS and needs the require hook too. Idempotent.
 */
export function enableTypeScriptImports(): void {
  if (typeScriptEnabled) return;
  registerEsm();
  registerCjs();
  typeScriptEnabled = true;
}

/** Source files under `dir` that could hold DAGs (by extension; dot-folders and node_modules skipped). */
export async function listSourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      if (d === dir) throw e;
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith(".") || e.name === "node_modules") continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && DAG_FILE.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
    }
  };
  await walk(resolve(dir));
  return out.sort();
}

/** Whether a source file is a DAG file: it mentions "sluice" (as Airflow's safe mode looks for "dag"). */
export async function isDagFile(file: string): Promise<boolean> {
  return (await readFile(file, "utf8").catch(() => "")).includes("sluice");
}

/** DAG files under `dir`. */
export async function findDagFiles(dir: string): Promise<string[]> {
  const files = await listSourceFiles(dir);
  const flags = await Promise.all(files.map(isDagFile));
  return files.filter((_, i) => flags[i]);
}

export async function loadDagFolder(dir: string): Promise<DagBag> {
  const root = resolve(dir);
  const bag: DagBag = { dir: root, dags: new Map(), errors: [] };
  let files: string[];
  try {
    files = await findDagFiles(root);
  } catch (e) {
    bag.errors.push({ file: ".", line: null, message: `cannot read the DAGs folder ${root}: ${(e as Error).message}` });
    return bag;
  }
  for (const file of files) {
    const result = await loadDagFile(file);
    const rel = relative(root, file);
    if ("error" in result) {
      bag.errors.push({ file: rel, line: result.line, message: result.error });
      continue;
    }
    for (const dag of result.dags) {
      const prior = bag.dags.get(dag.id);
      if (prior) {
        bag.errors.push({ file: rel, line: null, message: `DAG id "${dag.id}" is already defined in ${relative(root, prior.file)}` });
        continue;
      }
      bag.dags.set(dag.id, { dag, file });
    }
  }
  return bag;
}

/**
 * Import a DAG file. `fresh` (a number never used before for this file) re-imports it even if this
 * process imported it before: ES modules by a query on the URL, CommonJS ones by dropping the cached module.
 * Modules it imports are not re-imported.
 */
export async function loadDagFile(file: string, opts: { fresh?: number } = {}): Promise<{ dags: Dag[] } | { error: string; line: number | null }> {
  let mod: Record<string, unknown>;
  try {
    enableTypeScriptImports();
    let url = pathToFileURL(file).href;
    if (opts.fresh !== undefined) {
      delete createRequire(import.meta.url).cache[file];
      url += `?v=${opts.fresh}`;
    }
    mod = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    return { error: errorText(e, file), line: lineIn(e, file) };
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
