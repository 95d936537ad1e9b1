/**
 * Finds DAG files under the DAGs folder and imports them (executors/dagFile.ts). A file that throws or
 * does not compile becomes an import error with its file and line; the other files still load.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import type { Dag } from "../dsl/dag.js";
import { loadDagFile } from "../executors/dagFile.js";
import { compiledDagModule, DEFAULT_DAG_MODULE_CACHE, sweepModuleCache } from "../executors/dagModuleCache.js";
import { ImportWatchdog } from "../executors/importWatchdog.js";

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

/**
 * Import the DAG files of `dir` in this process. With `importTimeoutMs`, a file whose import takes longer
 * (an endless loop at import time) ends the process with an import error naming it (importWatchdog.ts):
 * a CLI command must never hang on a DAG file.
 */
export async function loadDagFolder(dir: string, opts: { importTimeoutMs?: number; cacheDir?: string } = {}): Promise<DagBag> {
  const root = resolve(dir);
  const bag: DagBag = { dir: root, dags: new Map(), errors: [] };
  let files: string[];
  try {
    files = await findDagFiles(root);
  } catch (e) {
    bag.errors.push({ file: ".", line: null, message: `cannot read the DAGs folder ${root}: ${(e as Error).message}` });
    return bag;
  }
  const cacheDir = opts.cacheDir ?? DEFAULT_DAG_MODULE_CACHE;
  // compiled (or found in the cache) several at a time: esbuild compiles on threads of its own, and the
  // cache lookups are file reads. The imports stay one by one, each watched, in the order of the files.
  const compiled = mapLimit(files, COMPILE_CONCURRENCY, (file) => compiledDagModule(file, cacheDir).catch(() => null));
  const watchdog = files.length > 0 && opts.importTimeoutMs !== undefined ? await ImportWatchdog.start(opts.importTimeoutMs, files.map((f) => relative(process.cwd(), f) || f)) : null;
  try {
    for (const [i, file] of files.entries()) {
      const rel = relative(root, file);
      const module = await compiled[i]!;
      watchdog?.watch(i);
      const result = await loadDagFile(file, { compiled: module });
      watchdog?.clear();
      addToBag(bag, root, file, rel, result);
    }
  } finally {
    await watchdog?.stop();
  }
  await sweepModuleCache(cacheDir);
  return bag;
}

/** Compilations under way at once: enough to keep esbuild's threads and the disk busy on a small machine. */
const COMPILE_CONCURRENCY = 16;

/** `fn` of each item, at most `limit` at a time; the promises in the order of `items`. */
function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R>[] {
  const gates: Promise<unknown>[] = [];
  return items.map((item, i) => {
    const p = (i < limit ? Promise.resolve() : gates[i - limit]!.then(() => undefined, () => undefined)).then(() => fn(item));
    gates.push(p);
    return p;
  });
}

function addToBag(bag: DagBag, root: string, file: string, rel: string, result: Awaited<ReturnType<typeof loadDagFile>>): void {
  if ("error" in result) {
    bag.errors.push({ file: rel, line: result.line, message: result.error });
    return;
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
