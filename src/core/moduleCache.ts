/**
 * When a compiled DAG module kept across processes (executors/dagModuleCache.ts) may be used: only when
 * every file that went into it still has the content it was compiled from, and it was compiled by the same
 * Sluice, esbuild and Node. Anything else — an edited DAG file or helper, an upgraded package, another
 * version of Sluice, an entry that does not parse — means "compile again", never "trust it".
 */

/** What the cache keeps beside a compiled module (one JSON file per DAG file and toolchain). */
export interface ModuleCacheEntry {
  /** The DAG file (absolute path). */
  file: string;
  /** The toolchain that compiled it (`moduleCacheTools`). */
  tools: string;
  /**
   * Every file whose content the module depends on, with its SHA-256 (hex): the DAG file first, the local
   * modules bundled into it, and the package.json of each package it imports.
   */
  inputs: [path: string, sha256: string][];
  /** SHA-256 (hex) of the module's code: its name in the cache, checked again before it is imported. */
  codeHash: string;
  /** A package it imports is TypeScript: import it with tsx enabled. */
  needsTypeScript: boolean;
}

/** Bumped when what a compiled module holds changes in a way the versions below do not show. */
const FORMAT = 1;

export function moduleCacheTools(versions: { sluice: string; esbuild: string; node: string }): string {
  return `format ${FORMAT}; sluice ${versions.sluice}; esbuild ${versions.esbuild}; node ${versions.node}`;
}

const HASH = /^[0-9a-f]{64}$/;

/** The entry in `text`, or null when it is not one (a torn or foreign file): the caller compiles again. */
export function parseModuleCacheEntry(text: string): ModuleCacheEntry | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const e = v as Record<string, unknown>;
  if (typeof e.file !== "string" || typeof e.tools !== "string" || typeof e.codeHash !== "string" || !HASH.test(e.codeHash)) return null;
  if (typeof e.needsTypeScript !== "boolean" || !Array.isArray(e.inputs) || e.inputs.length === 0) return null;
  for (const i of e.inputs as unknown[]) {
    if (!Array.isArray(i) || i.length !== 2 || typeof i[0] !== "string" || typeof i[1] !== "string" || !HASH.test(i[1])) return null;
  }
  return { file: e.file, tools: e.tools, inputs: e.inputs as [string, string][], codeHash: e.codeHash, needsTypeScript: e.needsTypeScript };
}

/**
 * Whether `entry` is the current compilation of `file` by `tools`, given the current SHA-256 of each of
 * its inputs (`current`; null: the file is gone or unreadable).
 */
export function isModuleCacheEntryFresh(entry: ModuleCacheEntry, file: string, tools: string, current: ReadonlyMap<string, string | null>): boolean {
  if (entry.file !== file || entry.tools !== tools || entry.inputs[0]?.[0] !== file) return false;
  return entry.inputs.every(([path, hash]) => current.get(path) === hash);
}
