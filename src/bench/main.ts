/**
 * `npm run bench`: the orchestrator's own overhead with no-op tasks, durable on SQLite, in one process.
 * Prints one JSON line per scenario: { scenario, n, seconds, tasksPerSecond, p50Ms, p99Ms }.
 * Scenarios: run-1 (50 one-task runs one after another: a run's fixed cost), chain-100 and chain-1000 (latency from one task's end to the next one's start), fanout-10000
 * and fanout-100000 (independent tasks then one join, with peak resident memory per task instance beyond the DAG; fanout-10000-traced: the same with every span exported, see traced.ts), load-10000 (build and validate a 10,000-task DAG), and the
 * scheduler's schedule-1000 and dag-change-1000 (see schedule.ts), the REST API's grid-10000 (latency of
 * /structure and /grid of a 10,000-task DAG with 10 runs, see grid.ts), and the web UI's ui-10000 (see ui.ts: headless
 * Chromium; skipped without /usr/bin/chromium), process-100 and shell-200 (a task's cost against the bare spawn of its
 * process, see process.ts), DAG loading's dags-list-2000 and load-100000 (see loading.ts), compare-100 (experiment
 * tracking over the REST API, see tracking.ts), ui-chart-100 (the comparison page charting 100 runs × 10,000
 * points in headless Chromium, see chart.ts), ml-cache (the ML example's training DAG, first run against an
 * unchanged, cached re-run, see mlCache.ts) and mapgroup-2000 against mapchain-2000 (a mapped task group's
 * per-index dependencies against plain mapping), predict-http (a served model under 32 clients, see serving.ts). With `--pg`: PostgreSQL, separate worker processes (see pg.ts).
 */
import { compareBench } from "./tracking.js";
import { chartBench } from "./chart.js";
import { mlCache } from "./mlCache.js";
import { predictBench } from "./serving.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { loadConfig } from "../config.js";
import { dag, type Dag } from "../dsl/dag.js";
import type { AnyRef } from "../dsl/types.js";
import { Sluice } from "../sluice.js";
import { percentile, round, type BenchResult } from "./result.js";
import { closeScheduleBench, dagChange, schedule } from "./schedule.js";
import { grid } from "./grid.js";
import { uiBench } from "./ui.js";
import { traced } from "./traced.js";
import { processTasks, shellTasks } from "./process.js";
import { dagsList, loadBig } from "./loading.js";

type Result = BenchResult;


async function withSluice<T>(dags: Dag[], fn: (s: Sluice) => Promise<T>): Promise<T> {
  const home = mkdtempSync(join(tmpdir(), "sluice-bench-"));
  const s = await Sluice.open(loadConfig({ home, dags: join(home, "no-dags") }), { loadDags: false, dags });
  try {
    return await fn(s);
  } finally {
    await s.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** One run of `dagId` to its end, as `sluice run` drives it: wall seconds and CPU ms; throws unless it succeeded. */
async function timedRun(s: Sluice, dagId: string): Promise<{ seconds: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const summary = await s.run(dagId);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  if (summary.state !== "success") throw new Error(`${dagId} run ${summary.state}`);
  return { seconds, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function chain(n: number): Promise<Result> {
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  const d = dag("bench_chain", (b) => {
    let prev: AnyRef | null = null;
    for (let i = 0; i < n; i++) {
      const idx = i;
      prev = b.task(`t${i}`, { after: prev ? [prev] : [] }, () => {
        starts[idx] = performance.now();
        ends[idx] = performance.now();
      });
    }
  });
  return withSluice([d], async (s) => {
    const { seconds, cpuMs } = await timedRun(s, d.id);
    const gaps: number[] = [];
    for (let i = 1; i < n; i++) gaps.push(starts[i]! - ends[i - 1]!);
    gaps.sort((a, b) => a - b);
    return { scenario: `chain-${n}`, n, seconds: round(seconds), tasksPerSecond: Math.round(n / seconds), p50Ms: round(percentile(gaps, 50)), p99Ms: round(percentile(gaps, 99)), cpuMsPerTask: round(cpuMs / n, 4) };
  });
}

async function fanout(n: number): Promise<Result> {
  const d = dag("bench_fanout", (b) => {
    const all: AnyRef[] = [];
    for (let i = 0; i < n; i++) all.push(b.task(`t${i}`, () => undefined));
    b.task("join", { after: all }, () => undefined);
  });
  return withSluice([d], async (s) => {
    const rss = sampleRss();
    const { seconds, cpuMs } = await timedRun(s, d.id);
    const { baseline, peak } = rss.stop();
    return {
      scenario: `fanout-${n}`,
      n: n + 1,
      seconds: round(seconds),
      tasksPerSecond: Math.round((n + 1) / seconds),
      p50Ms: null,
      p99Ms: null,
      baselineRssBytes: baseline,
      peakRssBytes: peak,
      bytesPerTask: Math.round((peak - baseline) / (n + 1)),
      cpuMsPerTask: round(cpuMs / (n + 1), 4),
    };
  });
}

/**
 * mapgroup-N / mapchain-N: three no-op tasks per element of an N-element list — in a mapped task group
 * (a → b → c per index: b[i] waits for a[i] only, engine/mapGroups.ts) or as three mapped tasks each
 * mapping over the previous one's list (each waits for all of the one before) — then a reduce. The
 * group's per-index edges read one row each: its cost per task should match plain mapping's.
 */
async function mapped(n: number, grouped: boolean): Promise<Result> {
  const noop = (x: number) => x;
  const d = dag(grouped ? "bench_mapgroup" : "bench_mapchain", (b) => {
    const items = b.task("items", () => Array.from({ length: n }, (_, i) => i));
    const last = grouped
      ? b.mapGroup("g", { over: { x: items } }, (g, { x }) => {
          const a = g.task("a", { inputs: { x } }, ({ x }) => noop(x));
          const m = g.task("b", { inputs: { a } }, ({ a }) => noop(a));
          return g.task("c", { inputs: { m } }, ({ m }) => noop(m));
        })
      : b.map("c", { over: { m: b.map("b", { over: { a: b.map("a", { over: { x: items } }, ({ x }) => noop(x)) } }, ({ a }) => noop(a)) } }, ({ m }) => noop(m));
    b.task("reduce", { inputs: { last } }, ({ last }) => last.length);
  });
  return withSluice([d], async (s) => {
    const { seconds, cpuMs } = await timedRun(s, d.id);
    const tasks = 3 * n + 2;
    return { scenario: `${grouped ? "mapgroup" : "mapchain"}-${n}`, n: tasks, seconds: round(seconds), tasksPerSecond: Math.round(tasks / seconds), p50Ms: null, p99Ms: null, cpuMsPerTask: round(cpuMs / tasks, 4) };
  });
}

/**
 * Resident memory from now (the baseline: the DAG built, the store open) to `stop`, sampled every 20 ms.
 * The process's lifetime peak (`resourceUsage().maxRSS`) would include the scenarios before this one.
 */
function sampleRss(): { stop: () => { baseline: number; peak: number } } {
  global.gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  return {
    stop: () => {
      clearInterval(timer);
      return { baseline, peak: Math.max(peak, process.memoryUsage.rss()) };
    },
  };
}

/**
 * run-1: `n` one-task runs, one after another, each driven to its end by `s.run` as `sluice run` does: the
 * fixed cost of a run (its worker, heartbeats, the summary), with the task itself a no-op. p50/p99: the
 * time of one run, call to summary.
 */
async function runOne(n: number): Promise<Result> {
  const d = dag("bench_run_1", (b) => {
    b.task("t", () => undefined);
  });
  return withSluice([d], async (s) => {
    const times: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const r0 = performance.now();
      const summary = await s.run(d.id);
      times.push(performance.now() - r0);
      if (summary.state !== "success") throw new Error(`run-1 run ${summary.state}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    times.sort((a, b) => a - b);
    return { scenario: "run-1", n, seconds: round(seconds), tasksPerSecond: Math.round(n / seconds), p50Ms: round(percentile(times, 50)), p99Ms: round(percentile(times, 99)) };
  });
}

async function load(n: number): Promise<Result> {
  const t0 = performance.now();
  const d = dag("bench_load", (b) => {
    // a realistic shape: layers of 100 tasks, each depending on two tasks of the layer before
    const layers: AnyRef[][] = [];
    for (let l = 0; l < n / 100; l++) {
      const layer: AnyRef[] = [];
      for (let i = 0; i < 100; i++) {
        const prev = layers[l - 1];
        layer.push(b.task(`l${l}_t${i}`, { after: prev ? [prev[i]!, prev[(i + 1) % 100]!] : [] }, () => i));
      }
      layers.push(layer);
    }
  });
  const seconds = (performance.now() - t0) / 1000;
  if (d.spec.tasks.length !== n) throw new Error("load: wrong task count");
  return { scenario: `load-${n}`, n, seconds: round(seconds), tasksPerSecond: Math.round(n / seconds), p50Ms: null, p99Ms: null };
}

const only = process.argv.slice(2).filter((a) => !a.startsWith("-"));
if (process.argv.includes("--pg")) {
  // PostgreSQL with separate worker processes (pg.ts); the SQLite scenarios are not run
  const { pgBench } = await import("./pg.js");
  await pgBench(only);
  process.exit(0);
}
const scenarios: [string, () => Promise<Result | null>][] = [
  ["run-1", () => runOne(50)],
  ["chain-100", () => chain(100)],
  ["chain-1000", () => chain(1000)],
  ["fanout-10000", () => fanout(10_000)],
  ["fanout-100000", () => fanout(100_000)],
  ["fanout-10000-traced", () => traced("fanout-10000-traced", () => fanout(10_000))],
  ["load-10000", () => load(10_000)],
  ["dags-list-2000", () => Promise.resolve(dagsList(2000))],
  ["load-100000", () => loadBig(100_000)],
  ["schedule-1000", () => schedule(1000)],
  ["dag-change-1000", () => dagChange(1000)],
  ["grid-10000", () => grid(10_000)],
  ["ui-10000", () => uiBench(10_000)],
  ["compare-100", () => compareBench(100)],
  ["ui-chart-100", () => chartBench(100)],
  ["predict-http", () => predictBench(20_000, 32)],
  ["process-100", () => processTasks(100)],
  ["shell-200", () => shellTasks(200)],
  ["ml-cache", () => mlCache()],
  ["mapgroup-2000", () => mapped(2000, true)],
  ["mapchain-2000", () => mapped(2000, false)],
];
try {
  for (const [name, run] of scenarios) {
    // a scenario's full name selects it alone (fanout-10000 is not fanout-10000-traced); a part, all it matches
    if (only.length && !only.some((o) => name === o || (!scenarios.some(([n]) => n === o) && name.includes(o)))) continue;
    const result = await run();
    if (result) process.stdout.write(`${JSON.stringify(result)}\n`);
  }
} finally {
  await closeScheduleBench(); // the schedule scenarios' scheduler, database and 1,000 files
}
