/**
 * One code version per run (decision 0017, item 7): a DAG file and the local modules it imports, bundled
 * into one ES module whose SHA-256 names it. The store keeps every bundle a run was created with, so each
 * task of a run imports the same code on every host, however the files change during the run.
 *
 * What is in a bundle: the DAG file and every module it reaches by a relative or tsconfig path. What is
 * not: packages (bare specifiers: `sluice`, `zod`, ...), which a worker resolves at import time as if from
 * the DAG file's own location (bundleImport.ts), and Sluice's own source, which must stay one copy per
 * process. Files a task reads at run time (data, SQL, Python scripts) are read as they are then.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isBuiltin } from "node:module";
import { dirname, extname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build, type BuildOptions, type Loader, type Plugin } from "esbuild";
import type { Dag } from "../dsl/dag.js";
import { isSensitiveName, MIN_SECRET_LENGTH } from "../secrets/mask.js";

export interface DagBundle {
  /** SHA-256 (hex) of `code`. */
  hash: string;
  code: string;
  /** The local modules bundled besides the DAG file (absolute paths): an edit of one changes the code. */
  imports: string[];
}

const LOADERS: Record<string, Loader> = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx", ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "jsx" };

/** Sluice's own source and build: imported by path (test DAGs do), they must not be copied into a bundle. */
const SLUICE_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const OWN_CODE = [join(SLUICE_ROOT, "src") + sep, join(SLUICE_ROOT, "dist") + sep];

/**
 * Every bundled module keeps its own location: `import.meta.url`, `import.meta.dirname`/`filename` and
 * `__dirname`/`__filename` name its original file, so `new URL("./data.csv", import.meta.url)` reads what
 * it read before bundling. Done through `define` on per-module constants, not by editing the text, so a
 * string that happens to contain `__dirname` is left alone.
 */
const ownLocation: Plugin = {
  name: "sluice-own-location",
  setup(b) {
    b.onResolve({ filter: /^[./]/ }, async (args) => {
      if (args.pluginData === "resolving") return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: "resolving" });
      if (r.errors.length === 0 && OWN_CODE.some((p) => r.path.startsWith(p))) return { path: r.path, external: true };
      return undefined;
    });
    b.onLoad({ filter: /\.[cm]?[jt]sx?$/ }, async (args) => {
      const loader = LOADERS[extname(args.path)];
      if (!loader || args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = await readFile(args.path, "utf8");
      const consts =
        `const __sluice_url = ${JSON.stringify(pathToFileURL(args.path).href)}, __sluice_file = ${JSON.stringify(args.path)}, ` +
        `__sluice_dir = ${JSON.stringify(dirname(args.path))};`;
      // on the first line, after a hashbang if any: the module's other lines keep their numbers
      const hashbang = text.startsWith("#!") ? text.slice(0, text.indexOf("\n") + 1) : "";
      return { contents: `${hashbang}${consts} ${text.slice(hashbang.length)}`, loader };
    });
  },
};

/** Bundle `file` (absolute path). Throws esbuild's error when the file or a module it imports does not build. */
export async function bundleDagFile(file: string): Promise<DagBundle> {
  const result = await build({ ...buildOptions(file), packages: "external", plugins: [ownLocation] });
  const code = result.outputFiles[0]!.text;
  const imports = Object.keys(result.metafile.inputs)
    .map((p) => resolve(dirname(file), p))
    .filter((p) => p !== file);
  return { hash: createHash("sha256").update(code).digest("hex"), code, imports };
}

/** The options a DAG file is bundled with, for runs (`bundleDagFile`) and for parsing (`compileDagFile`). */
function buildOptions(file: string) {
  const origin = pathToFileURL(file).href;
  return {
    entryPoints: [file],
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "silent",
    // the comments naming each module's file are relative to this: the same file bundles the same from any cwd
    absWorkingDir: dirname(file),
    // Node ignores the "module" condition and field: resolve local files as Node would
    conditions: [],
    mainFields: ["main"],
    define: {
      "import.meta.url": "__sluice_url",
      "import.meta.filename": "__sluice_file",
      "import.meta.dirname": "__sluice_dir",
      __filename: "__sluice_file",
      __dirname: "__sluice_dir",
    },
    // a CommonJS module in the bundle that requires a package gets Node's require, from the file's place
    banner: { js: `import { createRequire as __sluiceCreateRequire } from "node:module"; const require = __sluiceCreateRequire(${JSON.stringify(origin)});` },
    // stack traces name the original files (the map's sources are relative to the DAG file's folder)
    sourcemap: "inline",
    sourcesContent: false,
    outfile: join(dirname(file), "__sluice_bundle.mjs"),
    sourceRoot: pathToFileURL(dirname(file)).href + "/",
    metafile: true,
  } satisfies BuildOptions;
}

/**
 * Names the compiler: a hash of this module's own code, so that a module compiled by another build of
 * `compileDagFile` (a development build of the same version) is never taken for a current one.
 */
export const COMPILER_ID = createHash("sha256").update(readFileSync(new URL(import.meta.url))).digest("hex").slice(0, 16);

/** A DAG file compiled for parsing (`compileDagFile`): one module that imports packages by absolute URL. */
export interface CompiledDagFile {
  code: string;
  /** The DAG file and the local modules bundled into `code` (absolute paths): an edit of one changes the code. */
  sources: string[];
  /** The package.json of each package it imports: an upgraded package may resolve its imports elsewhere. */
  packages: string[];
  /** Whether a package it imports is TypeScript (a monorepo's workspace package): importing it needs tsx. */
  needsTypeScript: boolean;
}

/**
 * `file` bundled as for a run, except that the packages it imports (`import` statements and `import()`
 * of a literal) are resolved now, from the DAG file's location by Node's rules (esbuild's resolver with
 * Node's conditions), and imported by absolute URL: the module can then be imported from any folder
 * with no resolve hook, which costs a round trip to Node's loader thread per import (engine/
 * dagModuleCache.ts keeps these modules across processes). `require()` of a package keeps its name, for
 * the banner's `require` made at the DAG file's place. Throws esbuild's error as `bundleDagFile`.
 */
export async function compileDagFile(file: string): Promise<CompiledDagFile> {
  const packages = new Set<string>();
  let needsTypeScript = false;
  const pinned: Plugin = {
    name: "sluice-pinned-packages",
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === "resolving") return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        if (args.kind !== "import-statement" && args.kind !== "dynamic-import") return { path: args.path, external: true };
        const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: "resolving" });
        if (r.errors.length > 0) return { errors: r.errors };
        // a tsconfig path to a local module is bundled, as by `bundleDagFile`
        const own = OWN_CODE.some((p) => r.path.startsWith(p));
        if (!own && !r.path.includes(`${sep}node_modules${sep}`)) return undefined;
        const pkg = packageJsonOf(r.path);
        if (pkg) packages.add(pkg);
        if (/\.[cm]?tsx?$/.test(r.path)) needsTypeScript = true;
        return { path: pathToFileURL(r.path).href, external: true };
      });
    },
  };
  // printed as tsx prints a module it compiles (whitespace minified, names kept, this Node as target): a
  // task's source, and so its DAG's version, is mostly the same as when the file was imported through tsx
  const result = await build({ ...buildOptions(file), minifyWhitespace: true, keepNames: true, target: `node${process.versions.node}`, plugins: [ownLocation, pinned] });
  const sources = Object.keys(result.metafile.inputs).map((p) => resolve(dirname(file), p));
  return { code: result.outputFiles[0]!.text, sources, packages: [...packages].sort(), needsTypeScript };
}

/** The package.json of the package holding `path` (the nearest one above it), or null. */
function packageJsonOf(path: string): string | null {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const candidate = join(dir, "package.json");
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

/** As `bundleDagFile`, but a file that does not bundle gives its reason instead of throwing. */
export async function tryBundleDagFile(file: string): Promise<DagBundle | { error: string }> {
  try {
    return await bundleDagFile(file);
  } catch (e) {
    const errors = (e as { errors?: { text: string; location?: { file: string; line: number } | null }[] }).errors;
    const first = errors?.[0];
    return { error: first ? `${first.location ? `${first.location.file}:${first.location.line}: ` : ""}${first.text}` : (e as Error).message };
  }
}

/**
 * A bundle is kept in the database only if it holds no secret: a task `env` value under a sensitive name
 * (the ones the masker hides) written into the code itself would otherwise reach every reader of the
 * store. Such a DAG's runs import its file as it is (the reason says which variable and what to do).
 */
export function secretInCode(bundle: DagBundle, dags: readonly Dag[]): string | null {
  for (const dag of dags) {
    for (const [taskId, impl] of dag.impls) {
      for (const [name, value] of Object.entries(impl.env)) {
        if (!isSensitiveName(name) || value.length < MIN_SECRET_LENGTH) continue;
        if (bundle.code.includes(value) || bundle.code.includes(JSON.stringify(value).slice(1, -1))) {
          return `the value of env ${name} of task "${taskId}" (DAG "${dag.id}") is written in the code, and code kept in the database must hold no secret: read it from a connection, a variable or process.env`;
        }
      }
    }
  }
  return null;
}
