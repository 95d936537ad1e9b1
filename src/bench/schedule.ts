/**
 * Scheduling benchmarks (part of `npm run bench`): the scheduler as `sluice dev` runs it — DAG files in a
 * folder, parsed in child processes, durable on SQLite, real clock — with 1,000 DAG files. No worker runs
 * the tasks: what is measured is the scheduler's own cost.
 *
 * - `schedule-1000`: 1,000 DAGs each due every 10 s (a cron with seconds, so as not to wait a minute).
 *   For the 1,000 runs due at one 10 s boundary: the delay from the due time (the interval's end) to the
 *   run being committed (first seen by a reader polling the runs table every millisecond), p50/p99;
 *   `seconds` from the due time to the last run, `tasksPerSecond` runs created per second in that burst;
 *   `cpuPercent` the process's CPU time (process.cpuUsage: user + system, one core = 100) over the
 *   measured 10 s period, idle part included.
 * - `dag-change-1000`: with the same 1,000 files watched, one file is rewritten (a new version) ten times;
 *   latency from the write to the new version in the store's `dags.version` row, p50/p99.
 *
 * Both share one folder and one scheduler: the 1,000 files are parsed once.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../config.js";
import { Scheduler } from "../engine/scheduler.js";
import { Sluice } from "../sluice.js";
import { percentile, round, type BenchResult } from "./result.js";

export type ScheduleResult = BenchResult & {
  /** Time to parse every DAG file at start (child processes), for the record. */
  parseSeconds?: number;
};

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const EVERY_S = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dagFile = (i: number, change = 0) => `import { dag } from "sluice";
export default dag("sched_${i}", { schedule: "*/${EVERY_S} * * * * *", description: "change ${change}" }, (d) => {
  const extract = d.task("extract", async () => 1);
  d.task("load", { inputs: { extract } }, async ({ extract }) => extract + 1);
});
`;

interface Fixture {
  home: string;
  dags: string;
  s: Sluice;
  scheduler: Scheduler;
  n: number;
  parseSeconds: number;
}

let fixture: Promise<Fixture> | null = null;

/** 1,000 DAG files in a temporary project (node_modules/sluice links this package), parsed once. */
function setup(n: number): Promise<Fixture> {
  fixture ??= (async () => {
    const home = mkdtempSync(join(tmpdir(), "sluice-bench-sched-"));
    let s: Sluice | null = null;
    try {
      const dags = join(home, "dags");
      mkdirSync(dags, { recursive: true });
      mkdirSync(join(home, "node_modules"), { recursive: true });
      symlinkSync(ROOT, join(home, "node_modules", "sluice"), "dir");
      writeFileSync(join(home, "package.json"), JSON.stringify({ name: "bench", private: true, type: "module" }));
      for (let i = 0; i < n; i++) writeFileSync(join(dags, `dag_${String(i).padStart(4, "0")}.ts`), dagFile(i));
      s = await Sluice.open(loadConfig({ home: join(home, ".sluice"), dags }, {}), { loadDags: false });
      const errors: string[] = [];
      const scheduler = new Scheduler(s.engine, s.store, s.engine.clock, {
        dagsDir: dags,
        onParsed: (e) => e.error && errors.push(`${e.file}: ${e.error}`),
        onError: (e) => errors.push(String(e)),
      });
      const t0 = performance.now();
      await scheduler.start();
      const parseSeconds = (performance.now() - t0) / 1000;
      if (errors.length || scheduler.dags().length !== n) {
        await scheduler.stop();
        throw new Error(`schedule bench: ${scheduler.dags().length} of ${n} DAGs parsed; ${errors.slice(0, 3).join("; ")}`);
      }
      return { home, dags, s, scheduler, n, parseSeconds };
    } catch (e) {
      await s?.close();
      rmSync(home, { recursive: true, force: true });
      throw e;
    }
  })();
  return fixture;
}

/** Stop the scheduler and remove the temporary project. */
export async function closeScheduleBench(): Promise<void> {
  if (!fixture) return;
  const f = await fixture.catch(() => null); // a failed setup cleaned up after itself
  fixture = null;
  if (!f) return;
  await f.scheduler.stop();
  await f.s.close();
  rmSync(f.home, { recursive: true, force: true });
}

export async function schedule(n: number): Promise<ScheduleResult> {
  const f = await setup(n);
  const { s, scheduler } = f;
  // The start created the latest interval's runs; measure the next boundary with at least 2 s of quiet
  // before it, over a whole period (so cpuPercent covers one period's idle time and its burst).
  await scheduler.whenIdle();
  const period = EVERY_S * 1000;
  let due = Math.ceil(Date.now() / period) * period;
  if (due - Date.now() < 2000) due += period;
  await sleep(Math.max(0, due - period + 50 - Date.now())); // just after the previous boundary…
  await scheduler.whenIdle(); // …and its burst
  const maxRowid = () => s.store.benchHistory.lastRunRowid();
  const before = await maxRowid();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  await sleep(Math.max(0, due - Date.now() - 20));
  // A run counts as created when its commit is visible to a reader: poll the runs table (by rowid, so
  // the poll stays cheap) and give each new run the time it was first seen.
  const delays: number[] = [];
  const deadline = Date.now() + 60_000;
  while (delays.length < n) {
    const seen = await s.store.benchHistory.runsAfterRowid(before);
    const at = Date.now();
    while (delays.length < seen) delays.push(at - due);
    if (at > deadline) throw new Error(`schedule-${n}: only ${delays.length} runs due at ${new Date(due).toISOString()} after 60 s`);
    await sleep(1);
  }
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - wall0;
  const created = await s.store.benchHistory.runsAfterRowid(before, due);
  if (created !== n) throw new Error(`schedule-${n}: runs of other intervals were created`);
  delays.sort((a, b) => a - b);
  const seconds = Math.max(0.001, delays.at(-1)! / 1000);
  return {
    scenario: `schedule-${n}`,
    n: delays.length,
    seconds: round(seconds),
    tasksPerSecond: Math.round(delays.length / seconds),
    p50Ms: round(percentile(delays, 50)),
    p99Ms: round(percentile(delays, 99)),
    cpuPercent: round(((cpu.user + cpu.system) / 1000 / wallMs) * 100, 1),
    parseSeconds: round(f.parseSeconds),
  };
}

export async function dagChange(n: number, changes = 10): Promise<ScheduleResult> {
  const f = await setup(n);
  const { s, dags } = f;
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let c = 1; c <= changes; c++) {
    const i = (c * 97) % n; // a different file each time
    const before = (await s.store.dags.get(`sched_${i}`))!.version;
    const written = performance.now();
    writeFileSync(join(dags, `dag_${String(i).padStart(4, "0")}.ts`), dagFile(i, c));
    for (;;) {
      const row = await s.store.dags.get(`sched_${i}`);
      if (row && row.version !== before) break;
      if (performance.now() - written > 60_000) throw new Error(`dag-change-${n}: change ${c} not seen after 60 s`);
      await sleep(2);
    }
    latencies.push(performance.now() - written);
    await sleep(200);
  }
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    scenario: `dag-change-${n}`,
    n: changes,
    seconds: round(seconds),
    tasksPerSecond: round(changes / seconds, 2),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
  };
}
