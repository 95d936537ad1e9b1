/**
 * `npm run bench -- --pg`: Sluice on PostgreSQL with separate processes, as production runs it. The bench
 * process creates each run and measures from the store; the tasks run in 2 `sluice worker` child
 * processes. Everything lives in a fresh schema of SLUICE_BENCH_PG_URL (default
 * postgres://postgres@127.0.0.1:5432/test), dropped afterwards.
 *
 * - `fanout-10000`: 10,000 no-op tasks then a join; tasks/s from the run's creation to its end (the
 *   run's created_at and ended_at in the store).
 * - `chain-1000`: 1,000 tasks in a line; per dependent task the handoff from one task's end to the next
 *   one's start, p50/p99. Each task returns its wall-clock start and end (performance.timeOrigin + now:
 *   sub-millisecond and comparable across processes on this host) as its output.
 * - `history-1m`: both again on a schema that holds 1,000,000 finished task instances (and their
 *   attempts), bulk-inserted, run in turns with the empty one (pgBench); `vsEmpty` is the slowdown
 *   (1.05: 5% slower than empty), the median of the ratios of the runs made back to back.
 *
 * The workers are warmed up first (a chain, then 256 parallel tasks: statement plans, connections, the
 * DAG code), the schemas are vacuumed and analyzed before each scenario as autovacuum would have them
 * (vacuumAnalyze; this machine's PostgreSQL runs with autovacuum off), and each scenario runs
 * SLUICE_BENCH_REPEAT times (default 5), reporting its median run.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { loadConfig } from "../config.js";
import { Sluice } from "../sluice.js";
import { percentile, round, type BenchResult } from "./result.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin", "sluice.js");
const PG_URL = process.env["SLUICE_BENCH_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
const WORKERS = 2;
const CONCURRENCY = process.env["SLUICE_BENCH_CONCURRENCY"] ?? "32";

type PgResult = BenchResult & { store: "postgres"; workers: number; history: number; loadavg1m: number; vsEmpty?: number; samples?: number[]; gaps?: number[] };

/**
 * Each scenario runs this many times and reports its median run, with every run's figure in `samples`:
 * on a shared 2-core machine one run swings by ±15%.
 */
const REPEAT = Math.max(1, Number(process.env["SLUICE_BENCH_REPEAT"] ?? 5));

/**
 * The median run by `key` (tasks/s, or p50), with every run's figure as samples. A chain's p50/p99 are
 * those of every handoff of every run together (5 × 999): steadier than a median of five medians.
 */
function median(all: PgResult[], key: (r: PgResult) => number): PgResult {
  const sorted = [...all].sort((a, b) => key(a) - key(b));
  const out: PgResult = { ...sorted[Math.floor((sorted.length - 1) / 2)]!, samples: all.map(key) };
  const gaps = all.flatMap((r) => r.gaps ?? []).sort((a, b) => a - b);
  if (gaps.length) {
    out.p50Ms = round(percentile(gaps, 50));
    out.p99Ms = round(percentile(gaps, 99));
  }
  delete out.gaps;
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DAGS = `import { dag } from "sluice";
const wall = () => performance.timeOrigin + performance.now();
export const fanout = dag("bench_fanout", (b) => {
  const all = [];
  for (let i = 0; i < 10000; i++) all.push(b.task(\`t\${i}\`, () => undefined));
  b.task("join", { after: all }, () => undefined);
});
export const warm = dag("bench_warm", (b) => {
  for (let i = 0; i < 256; i++) b.task(\`t\${i}\`, () => undefined);
});
export const chain = dag("bench_chain", (b) => {
  let prev = null;
  for (let i = 0; i < 1000; i++) {
    prev = b.task(\`t\${i}\`, { after: prev ? [prev] : [] }, () => {
      const s = wall();
      return [s, wall()];
    });
  }
});
`;

interface Fixture {
  home: string;
  url: string;
  schema: string;
  s: Sluice;
  workers: ChildProcess[];
  stderr: string[];
}

async function admin(sqlText: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(sqlText);
  } finally {
    await c.end();
  }
}

async function setup(): Promise<Fixture> {
  const schema = `bench_${randomBytes(5).toString("hex")}`;
  const url = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}&application_name=sluice_${schema}`;
  const home = mkdtempSync(join(tmpdir(), "sluice-bench-pg-"));
  const dags = join(home, "dags");
  mkdirSync(dags, { recursive: true });
  mkdirSync(join(home, "node_modules"), { recursive: true });
  symlinkSync(ROOT, join(home, "node_modules", "sluice"), "dir");
  writeFileSync(join(home, "package.json"), JSON.stringify({ name: "bench", private: true, type: "module" }));
  writeFileSync(join(dags, "bench.ts"), DAGS);
  const s = await Sluice.open(loadConfig({ home: join(home, ".sluice"), dags, databaseUrl: url }, {}), { loadDags: true });
  if (s.bag.errors.length) throw new Error(`bench DAGs: ${s.bag.errors.map((e) => e.message).join("; ")}`);
  const f: Fixture = { home, url, schema, s, workers: [], stderr: [] };
  // e.g. SLUICE_BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the workers
  const nodeArgs = (process.env["SLUICE_BENCH_WORKER_NODE_ARGS"] ?? "").split(" ").filter(Boolean);
  for (let i = 0; i < WORKERS; i++) {
    const p = spawn(process.execPath, [...nodeArgs, BIN, "worker", "--concurrency", CONCURRENCY, "--quiet", "--dags", dags, "--home", join(home, `.w${i}`)], {
      env: { ...process.env, SLUICE_DATABASE_URL: url },
      stdio: ["ignore", "ignore", "pipe"],
    });
    p.stderr.on("data", (b: Buffer) => f.stderr.push(b.toString()));
    f.workers.push(p);
  }
  const t0 = Date.now();
  while ((await s.store.benchHistory.countRunningWorkers()) < WORKERS) {
    if (f.workers.some((w) => w.exitCode !== null)) throw new Error(`a worker exited: ${f.stderr.join("").slice(-2000)}`);
    if (Date.now() - t0 > 120_000) throw new Error(`workers did not start within 120 s: ${f.stderr.join("").slice(-2000)}`);
    await sleep(200);
  }
  return f;
}

async function teardown(f: Fixture): Promise<void> {
  for (const w of f.workers) if (w.exitCode === null) w.kill("SIGTERM");
  await Promise.all(f.workers.filter((w) => w.exitCode === null).map((w) => new Promise((r) => w.once("exit", r))));
  await f.s.close();
  await admin(`drop schema if exists "${f.schema}" cascade`);
  rmSync(f.home, { recursive: true, force: true });
}

async function runToEnd(f: Fixture, dagId: string): Promise<{ runId: string; seconds: number }> {
  const run = await f.s.engine.createRun(dagId);
  // a worker that dies mid-run (e.g. out of memory) fails the bench with its stderr, not a hang
  const listeners: [ChildProcess, () => void][] = [];
  const died = new Promise<never>((_, reject) => {
    for (const w of f.workers) {
      if (w.exitCode !== null) reject(new Error(`a worker had exited (${w.exitCode}): ${f.stderr.join("").slice(-2000)}`));
      const onExit = () => reject(new Error(`a worker exited (${w.exitCode ?? w.signalCode}) during ${dagId}: ${f.stderr.join("").slice(-2000)}`));
      w.once("exit", onExit);
      listeners.push([w, onExit]);
    }
  });
  died.catch(() => undefined);
  const done = await Promise.race([f.s.engine.waitForRun(run.runId), died]).finally(() => {
    for (const [w, onExit] of listeners) w.off("exit", onExit);
  });
  if (done.state !== "success") throw new Error(`${dagId} run ${done.state}: ${done.stateReason ?? ""} ${f.stderr.join("").slice(-2000)}`);
  return { runId: run.runId, seconds: (done.endedAt! - done.createdAt) / 1000 };
}

async function fanout(f: Fixture, history: number): Promise<PgResult> {
  const { seconds } = await runToEnd(f, "bench_fanout");
  const n = 10_001;
  return { scenario: "fanout-10000", store: "postgres", workers: WORKERS, history, n, seconds: round(seconds), tasksPerSecond: Math.round(n / seconds), p50Ms: null, p99Ms: null, loadavg1m: round(loadavg()[0]!, 2) };
}

async function chain(f: Fixture, history: number): Promise<PgResult> {
  const { runId, seconds } = await runToEnd(f, "bench_chain");
  const times: [number, number][] = [];
  for (let i = 0; i < 1000; i++) times.push((await f.s.engine.loadOutputs(runId, `t${i}`))[0] as [number, number]);
  const gaps: number[] = [];
  for (let i = 1; i < times.length; i++) gaps.push(times[i]![0] - times[i - 1]![1]);
  gaps.sort((a, b) => a - b);
  return { scenario: "chain-1000", store: "postgres", workers: WORKERS, history, n: 1000, seconds: round(seconds), tasksPerSecond: Math.round(1000 / seconds), p50Ms: round(percentile(gaps, 50)), p99Ms: round(percentile(gaps, 99)), loadavg1m: round(loadavg()[0]!, 2), gaps };
}

/**
 * Run the PostgreSQL scenarios (names filter as in main.ts), printing one JSON line each.
 *
 * history-1m is an A/B comparison: a second schema with its own 2 workers holds the history, and the two
 * take turns run by run (empty, history, empty, ...), so that what drifts on a shared machine (other
 * load, the page cache, a checkpoint) falls on both alike. The empty schema's figures are the plain
 * fanout-10000 and chain-1000 lines.
 */
export async function pgBench(only: string[]): Promise<void> {
  const want = (name: string) => only.length === 0 || only.some((o) => name.includes(o));
  const withHistory = want("history-1m");
  const fixtures: Fixture[] = [];
  // Ctrl-C: stop the workers and drop the schemas all the same
  const stop = () => void Promise.all(fixtures.map(teardown)).finally(() => process.exit(130));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const print = (r: PgResult) => process.stdout.write(`${JSON.stringify(r)}\n`);
  try {
    const empty = await setup();
    fixtures.push(empty);
    const sides: [Fixture, number][] = [[empty, 0]];
    if (withHistory) {
      const full = await setup();
      fixtures.push(full);
      const t0 = performance.now();
      const history = await full.s.store.benchHistory.insertFinishedHistory({ runs: 1000, tasksPerRun: 1000, now: full.s.store.now(), ageMs: 40 * 86_400_000, dagId: "bench_history" });
      process.stderr.write(`history-1m: inserted ${history} finished task instances in ${round((performance.now() - t0) / 1000, 1)} s\n`);
      sides.push([full, history]);
    }
    // a warm-up of the claim/settle path (statement plans, connections, the DAG code) of every worker
    for (const [f] of sides) {
      await runToEnd(f, "bench_chain");
      await runToEnd(f, "bench_warm");
    }
    const scenarios: [name: string, run: (f: Fixture, history: number) => Promise<PgResult>, key: (r: PgResult) => number, higherIsBetter: boolean][] = [
      ["fanout-10000", fanout, (r) => r.tasksPerSecond, true],
      ["chain-1000", chain, (r) => r.p50Ms!, false],
    ];
    for (const [name, run, key, higherIsBetter] of scenarios) {
      if (!want(name) && !withHistory) continue;
      // each scenario starts from the tables autovacuum would leave (migration 0011: every 10,000 dead rows,
      // checked each minute; five fan-outs leave 100,000)
      for (const [f] of sides) await f.s.store.benchHistory.vacuumAnalyze();
      const runs = sides.map((): PgResult[] => []);
      for (let i = 0; i < REPEAT; i++) for (const [j, [f, history]] of sides.entries()) runs[j]!.push(await run(f, history));
      const [base, hist] = runs.map((all) => median(all, key));
      if (want(name)) print(base!);
      if (hist) {
        hist.scenario = `history-1m/${name}`;
        // > 1: slower with history (less throughput, or more latency). The runs were made in pairs, one
        // on each schema back to back: the median of the pairs' ratios, which drift between pairs (another
        // process, a checkpoint) does not move.
        const ratios = runs[1]!.map((h, i) => (higherIsBetter ? key(runs[0]![i]!) / key(h) : key(h) / key(runs[0]![i]!))).sort((a, b) => a - b);
        hist.vsEmpty = round(ratios[Math.floor((ratios.length - 1) / 2)]!, 3);
        print(hist);
      }
    }
  } finally {
    await Promise.all(fixtures.map(teardown));
  }
}
