/**
 * Imports a stored DAG bundle (dagBundle.ts). A bundle is written once, under its hash, to a cache folder
 * of this user, and imported with its DAG file's URL as `origin`: a module hook makes the packages it
 * imports resolve by Node's own rules as if from the DAG file (its node_modules, its package's "imports"),
 * without writing into the DAGs folder, which may be read-only.
 */
import { mkdirSync } from "node:fs";
import { rename, writeFile, access } from "node:fs/promises";
import { register } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { loadDagModule, type LoadedModule } from "./dagFile.js";

const CACHE_DIR = join(tmpdir(), `sluice-code-${process.getuid?.() ?? 0}`);
const CACHE_URL = `${pathToFileURL(CACHE_DIR).href}/`;

// Plain JavaScript in a data: URL: the hooks run on Node's loader thread, where this module's TypeScript
// source (tests run from source) could not be loaded.
const HOOKS = `
let dir;
export function initialize(data) { dir = data.dir; }
export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (parent !== undefined && parent.startsWith(dir) && !specifier.startsWith("node:")) {
    const origin = new URL(parent).searchParams.get("origin");
    if (origin) return next(specifier, { ...context, parentURL: origin });
  }
  return next(specifier, context);
}`;

let hooked = false;

function hook(): void {
  if (hooked) return;
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { dir: CACHE_URL } });
  hooked = true;
}

/** The URL a bundle is imported from (also by a task's child process: childMain.ts). */
export function bundleUrl(hash: string, file: string): string {
  return `${CACHE_URL}${hash}.mjs?origin=${encodeURIComponent(pathToFileURL(file).href)}`;
}

/** Write the bundle to the cache folder unless it is there (by hash: a file there has this content). */
export async function cacheBundle(hash: string, code: string): Promise<void> {
  const path = join(CACHE_DIR, `${hash}.mjs`);
  if (await access(path).then(() => true, () => false)) return;
  mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
  // written aside then renamed: a process importing it at the same time never reads half a file
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, code, { mode: 0o600 });
  await rename(tmp, path);
}

/** Import a bundle written by `cacheBundle` (this process or its parent), as made from DAG file `file`. */
export function importBundle(hash: string, file: string): Promise<LoadedModule> {
  return importBundleUrl(bundleUrl(hash, file), file);
}

/** `importBundle` for a URL made by `bundleUrl` (a child process gets the URL: see loadDagModule's `typeScript`). */
export function importBundleUrl(url: string, file: string, opts: { typeScript?: "always" | "onDemand" } = {}): Promise<LoadedModule> {
  hook();
  // stack traces through the bundle's inline source map name the original files
  process.setSourceMapsEnabled(true);
  return loadDagModule(url, file, opts);
}
