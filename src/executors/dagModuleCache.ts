/**
 * Compiled DAG files kept across processes (decision 0022, "DAG loading"): every `sluice` command, DAG
 * processor and worker that imports a DAG file compiles it once per content — the DAG file bundled with
 * the local modules it imports, its packages resolved to absolute URLs (dagBundle.ts `compileDagFile`) —
 * and later processes import the kept module directly: no TypeScript loader, no resolve hook, no
 * compilation. Importing 2,000 small DAG files through tsx's loader hooks cost ~3 ms each, mostly round
 * trips to Node's loader thread.
 *
 * Layout of the folder (`<home>/cache/dags` for commands; the system's temp folder otherwise):
 * - `<key>.json`: one entry per DAG file and toolchain (core/moduleCache.ts): the files that went into the
 *   module with their SHA-256, and the module's own hash. An entry is used only if every one of those
 *   files still has that content; else the file is compiled again and the entry replaced.
 * - `<codeHash>.mjs`: the module, named by the SHA-256 of its code and checked against it before import.
 * Both are written aside and renamed into place, so two processes writing the same entry at once each
 * leave a whole file. Modules no entry names any more, and entries of DAG files that are gone, are
 * removed by `sweepModuleCache` (at most once a day, from the folder loader).
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { readdir, readFile, rename, stat, unlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { version as esbuildVersion } from "esbuild";
import { isModuleCacheEntryFresh, moduleCacheTools, parseModuleCacheEntry, type ModuleCacheEntry } from "../core/moduleCache.js";
import { COMPILER_ID, compileDagFile } from "./dagBundle.js";

// read once, synchronously: no top-level await in a module of the `sluice` package (a CommonJS DAG file requires it)
const SLUICE_VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
const TOOLS = moduleCacheTools({ sluice: `${SLUICE_VERSION} (${COMPILER_ID})`, esbuild: esbuildVersion, node: process.version });

/** The cache of a Sluice home. */
export function dagModuleCacheDir(home: string): string {
  return join(home, "cache", "dags");
}

/** The cache of processes given no home (a task's child process, tests): per user, in the temp folder. */
export const DEFAULT_DAG_MODULE_CACHE = join(tmpdir(), `sluice-dags-${process.getuid?.() ?? 0}`);

/** A compiled DAG file, ready to import. */
export interface CompiledModule {
  url: string;
  needsTypeScript: boolean;
}

const sha256 = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
/**
 * Read synchronously: a lookup reads four small files (entry, DAG file, package.json, module), and an
 * asynchronous read costs four trips to the thread pool each; for 2,000 files that was ~40 % of a warm
 * `dags list`. A lookup happens while a command or DAG processor loads its DAGs, when nothing else waits.
 */
function hashOf(path: string): string | null {
  try {
    return sha256(readFileSync(path));
  } catch {
    return null;
  }
}

function entryPath(dir: string, file: string): string {
  return join(dir, `${sha256(`${file}\0${TOOLS}`).slice(0, 40)}.json`);
}

/**
 * The compiled module of `file` (absolute path): the cached one when it is current, else compiled now and
 * kept. Null when the file does not compile (a syntax error, an import that does not resolve): the caller
 * imports it as it is, which reports the error as before.
 */
export async function compiledDagModule(file: string, dir: string): Promise<CompiledModule | null> {
  // a file whose code holds a secret is never kept here (refuseDagModule), until it changes
  if (isRefused(file, dir)) return null;
  const cached = lookup(file, dir);
  if (cached) return cached;
  let compiled;
  try {
    compiled = await compileDagFile(file);
  } catch {
    return null;
  }
  const codeHash = sha256(compiled.code);
  // hashed after compiling: an edit made meanwhile leaves a hash that no longer matches, so a stale module is compiled again next time
  const paths = [file, ...compiled.sources.filter((p) => p !== file), ...compiled.packages];
  const hashes = paths.map(hashOf);
  const modulePath = join(dir, `${codeHash}.mjs`);
  const module = { url: pathToFileURL(modulePath).href, needsTypeScript: compiled.needsTypeScript };
  if (hashes.some((h) => h === null)) return writeModuleOnly(dir, modulePath, compiled.code, module);
  const entry: ModuleCacheEntry = { file, tools: TOOLS, inputs: paths.map((p, i) => [p, hashes[i]!]), codeHash, needsTypeScript: compiled.needsTypeScript };
  try {
    await writeAtomically(dir, modulePath, compiled.code);
    await writeAtomically(dir, entryPath(dir, file), JSON.stringify(entry));
  } catch {
    return null; // a cache that cannot be written (read-only home, full disk) costs speed, not correctness
  }
  return module;
}

/** An input vanished while compiling: keep the module for this import, but no entry that would claim it current. */
async function writeModuleOnly(dir: string, modulePath: string, code: string, module: CompiledModule): Promise<CompiledModule | null> {
  try {
    await writeAtomically(dir, modulePath, code);
    return module;
  } catch {
    return null;
  }
}

function refusalPath(dir: string, file: string): string {
  return `${entryPath(dir, file).slice(0, -".json".length)}.refused`;
}

function isRefused(file: string, dir: string): boolean {
  let text: string;
  try {
    text = readFileSync(refusalPath(dir, file), "utf8");
  } catch {
    return false;
  }
  return text === hashOf(file);
}

/**
 * The module of `file` holds a secret written in the DAG file (a sensitive env value: dagBundle.ts
 * `secretInCode`): delete it and its entry, and import this file as it is until it changes — nothing under
 * the home may hold a secret (the canary test greps it). A marker with the file's hash remembers the refusal.
 */
export async function refuseDagModule(file: string, dir: string, module: CompiledModule): Promise<void> {
  await unlink(fileURLToPath(module.url)).catch(() => undefined);
  await unlink(entryPath(dir, file)).catch(() => undefined);
  const hash = hashOf(file);
  if (hash !== null) await writeAtomically(dir, refusalPath(dir, file), hash).catch(() => undefined);
}

function lookup(file: string, dir: string): CompiledModule | null {
  let text: string;
  try {
    text = readFileSync(entryPath(dir, file), "utf8");
  } catch {
    return null;
  }
  const entry = parseModuleCacheEntry(text);
  if (!entry) return null;
  const hashes = entry.inputs.map(([p]) => hashOf(p));
  if (!isModuleCacheEntryFresh(entry, file, TOOLS, new Map(entry.inputs.map(([p], i) => [p, hashes[i]!])))) return null;
  // the module itself: one that was cut short or altered since is compiled again, never imported
  const modulePath = join(dir, `${entry.codeHash}.mjs`);
  if (hashOf(modulePath) !== entry.codeHash) return null;
  return { url: pathToFileURL(modulePath).href, needsTypeScript: entry.needsTypeScript };
}

async function writeAtomically(dir: string, path: string, text: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

const DAY_MS = 24 * 3600_000;
/** A module or temporary file younger than this is left alone: another process may be about to import or rename it. */
const GRACE_MS = 3600_000;

/**
 * Keep the cache bounded: remove entries whose DAG file is gone or that another toolchain wrote, modules
 * no entry names, and temporary files left by a killed process — at most once a day (a marker file's
 * time), so a command pays for it rarely. What remains is one entry and one module per DAG file.
 */
export async function sweepModuleCache(dir: string, now = Date.now()): Promise<void> {
  const marker = join(dir, ".swept");
  const last = await stat(marker).then((s) => s.mtimeMs, () => null);
  if (last !== null && now - last < DAY_MS) return;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  await writeFile(marker, "").then(() => utimes(marker, now / 1000, now / 1000)).catch(() => undefined);
  const named = new Set<string>();
  for (const name of names.filter((n) => n.endsWith(".json"))) {
    const path = join(dir, name);
    const entry = parseModuleCacheEntry(await readFile(path, "utf8").catch(() => ""));
    const keep = entry !== null && entry.tools === TOOLS && (await stat(entry.file).then(() => true, () => false));
    if (keep) named.add(`${entry.codeHash}.mjs`);
    else await unlink(path).catch(() => undefined);
  }
  for (const name of names.filter((n) => n.endsWith(".mjs") || n.endsWith(".tmp"))) {
    if (named.has(name)) continue;
    const path = join(dir, name);
    const mtime = await stat(path).then((s) => s.mtimeMs, () => now);
    if (now - mtime > GRACE_MS) await unlink(path).catch(() => undefined);
  }
}
