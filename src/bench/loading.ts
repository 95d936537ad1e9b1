/**
 * DAG loading benchmarks (part of `npm run bench`; decision 0022, "DAG loading"):
 *
 * - `dags-list-2000`: 2,000 small DAG files in a temporary project, `sluice dags list` run as users run it
 *   (`node bin/sluice.js --home <h> --dags <dir> dags list`, a real child process). `coldSeconds`: with an
 *   empty module cache; `seconds`: warm (the median of three runs after it). Measured in the same run, the
 *   floors: `nodeSeconds` (`node -e 0`) and `floorSeconds` (a bare `node` importing the same 2,000 compiled
 *   modules from the cache, one after another, and nothing else); `ratio` = warm / floor.
 * - `load-100000`: one DAG file of 100,000 tasks (1,000 layers of 100, each task after two of the layer
 *   before) from file to validated spec in this process (`loadDagFile`): `seconds` with its compiled module
 *   in the cache (`cpuSeconds`: its CPU time), `coldSeconds` compiling it first. `dagsListSeconds`: `sluice dags list` of it, warm.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import { loadDagFile } from "../executors/dagFile.js";
import { compiledDagModule, dagModuleCacheDir } from "../executors/dagModuleCache.js";
import { parseModuleCacheEntry } from "../core/moduleCache.js";
import { round, type BenchResult } from "./result.js";

export type LoadingResult = BenchResult & {
  coldSeconds: number;
  nodeSeconds?: number;
  floorSeconds?: number;
  ratio?: number;
  dagsListSeconds?: number;
  /** CPU time of the warm load (user + system, GC threads included): on a busy machine, steadier than `seconds`. */
  cpuSeconds?: number;
};

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "bin", "sluice.js");

const smallDag = (i: number) => `import { dag } from "sluice";
export default dag("list_${i}", { schedule: "@daily", description: "bench DAG ${i}", tags: ["bench"] }, (d) => {
  const extract = d.task("extract", async () => [1, 2, 3]);
  const transform = d.task("transform", { inputs: { extract } }, async ({ extract }) => extract.map((x) => x * 2));
  d.task("load", { inputs: { transform }, retries: 2 }, async ({ transform }) => transform.length);
});
`;

const bigDag = (layers: number) => `import { dag, type AnyRef } from "sluice";
export default dag("big", (d) => {
  const layers: AnyRef[][] = [];
  for (let l = 0; l < ${layers}; l++) {
    const prev = layers[l - 1];
    const layer: AnyRef[] = [];
    for (let i = 0; i < 100; i++) layer.push(d.task(\`l\${l}_t\${i}\`, { after: prev ? [prev[i]!, prev[(i + 1) % 100]!] : [] }, () => i));
    layers.push(layer);
  }
});
`;

/** A temporary project whose node_modules/sluice is this package, as a user's would be. */
function project(prefix: string): { dir: string; dags: string; home: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dags = join(dir, "dags");
  mkdirSync(dags);
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(ROOT, join(dir, "node_modules", "sluice"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bench", private: true, type: "module" }));
  return { dir, dags, home: join(dir, ".sluice") };
}

/** Seconds a child process took; it must succeed (`dags list` exits 1 on an import error). */
function timed(args: string[], cwd: string): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${args.join(" ")}: exit ${r.status}: ${r.stderr.slice(-2000)}`);
  return seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export function dagsList(n: number): LoadingResult {
  const p = project("sluice-bench-list-");
  try {
    for (let i = 0; i < n; i++) writeFileSync(join(p.dags, `dag_${String(i).padStart(4, "0")}.ts`), smallDag(i));
    const list = [CLI, "--home", p.home, "--dags", p.dags, "dags", "list", "--json"];
    const coldSeconds = timed(list, p.dir);
    const warm = [timed(list, p.dir), timed(list, p.dir), timed(list, p.dir)];
    const out = JSON.parse(execFileSync(process.execPath, list, { cwd: p.dir, encoding: "utf8", maxBuffer: 64 << 20 })) as { dags: unknown[] };
    if (out.dags.length !== n) throw new Error(`dags-list: ${out.dags.length} of ${n} DAGs listed`);
    // the floor: the same compiled modules, imported by a bare node
    const cache = dagModuleCacheDir(p.home);
    const modules = readdirSync(cache)
      .filter((f) => f.endsWith(".json"))
      .map((f) => parseModuleCacheEntry(readFileSync(join(cache, f), "utf8")))
      .map((e) => pathToFileURL(join(cache, `${e!.codeHash}.mjs`)).href);
    if (modules.length !== n) throw new Error(`dags-list: ${modules.length} cache entries for ${n} files`);
    const floorScript = join(p.dir, "floor.mjs");
    writeFileSync(floorScript, `for (const url of ${JSON.stringify(modules)}) await import(url);\n`);
    const floors = [timed([floorScript], p.dir), timed([floorScript], p.dir), timed([floorScript], p.dir)];
    const nodes = [timed(["-e", "0"], p.dir), timed(["-e", "0"], p.dir), timed(["-e", "0"], p.dir)];
    const seconds = median(warm);
    const floorSeconds = median(floors);
    return {
      scenario: `dags-list-${n}`,
      n,
      seconds: round(seconds),
      tasksPerSecond: Math.round(n / seconds),
      p50Ms: null,
      p99Ms: null,
      coldSeconds: round(coldSeconds),
      nodeSeconds: round(median(nodes)),
      floorSeconds: round(floorSeconds),
      ratio: round(seconds / floorSeconds, 2),
    };
  } finally {
    rmSync(p.dir, { recursive: true, force: true });
  }
}

export async function loadBig(n: number): Promise<LoadingResult> {
  const p = project("sluice-bench-load-");
  try {
    const file = join(p.dags, "big.ts");
    writeFileSync(file, bigDag(n / 100));
    const cacheDir = dagModuleCacheDir(p.home);
    const t0 = performance.now();
    const cold = await loadDagFile(file, { cacheDir });
    const coldSeconds = (performance.now() - t0) / 1000;
    // warm, as a second process finds it: compiled and kept, but not imported by this process yet (an
    // edit makes it a new module, which this process has not evaluated)
    writeFileSync(file, `${bigDag(n / 100)}export const edition = "warm";\n`);
    if (!(await compiledDagModule(file, cacheDir))) throw new Error(`load-${n}: the file does not compile`);
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    const warm = await loadDagFile(file, { cacheDir });
    const seconds = (performance.now() - t1) / 1000;
    const cpu = process.cpuUsage(c1);
    for (const r of [cold, warm]) if ("error" in r || r.dags[0]?.spec.tasks.length !== n) throw new Error(`load-${n}: ${"error" in r ? r.error : "wrong task count"}`);
    const dagsListSeconds = timed([CLI, "--home", p.home, "--dags", p.dags, "dags", "list"], p.dir);
    return { scenario: `load-${n}`, n, seconds: round(seconds), tasksPerSecond: Math.round(n / seconds), p50Ms: null, p99Ms: null, coldSeconds: round(coldSeconds), cpuSeconds: round((cpu.user + cpu.system) / 1e6), dagsListSeconds: round(dagsListSeconds) };
  } finally {
    rmSync(p.dir, { recursive: true, force: true });
  }
}
