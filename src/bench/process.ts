/**
 * What a task costs beyond the process it starts, against the floor measured in the same run (the machine's
 * load moves both): `process-100`, 100 independent no-op tasks with `isolation: "process"` (a DAG file in
 * a temporary project, run as `sluice run` does: with its code bundle, so warm processes) against 100
 * `node -e 0`; `shell-200`, 200 shell tasks running /bin/true against 200 spawns of /bin/true by Node's
 * child_process. The floor runs as many at once as the worker does (the default concurrency), and each
 * figure is the best of `REPEAT` tries, taken in turns. `ratio` is seconds / floorSeconds.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../config.js";
import { dag, type Dag } from "../dsl/dag.js";
import { Sluice } from "../sluice.js";
import { round, type BenchResult } from "./result.js";

const REPEAT = 3;
/** This package: the temporary project's node_modules/sluice. */
const PACKAGE_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface FloorResult extends BenchResult {
  /** The same work without Sluice: the bare spawns, as many at once as the worker runs. */
  floorSeconds: number;
  ratio: number;
}

/** Spawn `command` `n` times, `concurrency` at a time, each awaited to its end; seconds. */
async function spawnFloor(command: string, args: string[], n: number, concurrency: number): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < n) {
      next++;
      await new Promise<void>((resolve, reject) => {
        const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
        child.on("error", reject);
        child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
        child.stdin.end();
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return (performance.now() - t0) / 1000;
}

/** One run of the DAG, timed from its creation to its summary (`sluice run`); seconds. */
async function timedRun(s: Sluice, dagId: string): Promise<number> {
  const t0 = performance.now();
  const summary = await s.run(dagId);
  const seconds = (performance.now() - t0) / 1000;
  if (summary.state !== "success") throw new Error(`${dagId} run ${summary.state}`);
  return seconds;
}

/**
 * `tries` alternating with the floor, REPEAT times each; the best of each. A try opens its own Sluice: a
 * worker's stop ends its idle processes, so no try starts with another's warm processes.
 */
async function againstFloor(scenario: string, n: number, open: (home: string) => Promise<{ s: Sluice; dagId: string }>, floor: (concurrency: number) => Promise<number>): Promise<FloorResult> {
  let best = Infinity;
  let bestFloor = Infinity;
  for (let i = 0; i < REPEAT; i++) {
    const home = mkdtempSync(join(tmpdir(), "sluice-bench-"));
    try {
      const { s, dagId } = await open(home);
      try {
        bestFloor = Math.min(bestFloor, await floor(s.config.concurrency));
        best = Math.min(best, await timedRun(s, dagId));
      } finally {
        await s.close();
      }
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
  return { scenario, n, seconds: round(best), tasksPerSecond: Math.round(n / best), p50Ms: null, p99Ms: null, floorSeconds: round(bestFloor), ratio: round(best / bestFloor, 2) };
}

const processDag = (n: number) => `import { dag } from "sluice";

export default dag("bench_process", { defaults: { isolation: "process" } }, (d) => {
  for (let i = 0; i < ${n}; i++) d.task(\`t\${i}\`, async () => undefined);
});
`;

/** process-N: N independent no-op tasks with isolation "process", from a DAG file, against N `node -e 0`. */
export function processTasks(n: number): Promise<FloorResult> {
  return againstFloor(
    `process-${n}`,
    n,
    async (home) => {
      // a project of its own: the DAG file imports "sluice" from its node_modules, as users' files do
      mkdirSync(join(home, "dags"), { recursive: true });
      mkdirSync(join(home, "node_modules"), { recursive: true });
      symlinkSync(PACKAGE_ROOT, join(home, "node_modules", "sluice"), "dir");
      writeFileSync(join(home, "package.json"), JSON.stringify({ name: "bench", private: true, type: "module" }));
      writeFileSync(join(home, "dags", "process.ts"), processDag(n));
      const s = await Sluice.open(loadConfig({ home: join(home, ".sluice"), dags: join(home, "dags") }));
      return { s, dagId: "bench_process" };
    },
    (concurrency) => spawnFloor(process.execPath, ["-e", "0"], n, concurrency),
  );
}

/** shell-N: N independent shell tasks running /bin/true, against N spawns of /bin/true. */
export function shellTasks(n: number): Promise<FloorResult> {
  const d: Dag = dag("bench_shell", (b) => {
    for (let i = 0; i < n; i++) b.shell(`t${i}`, { command: "/bin/true" });
  });
  return againstFloor(
    `shell-${n}`,
    n,
    async (home) => ({ s: await Sluice.open(loadConfig({ home, dags: join(home, "no-dags") }), { loadDags: false, dags: [d] }), dagId: d.id }),
    (concurrency) => spawnFloor("/bin/true", [], n, concurrency),
  );
}
