/**
 * A seeded action fuzzer (issue 11): a scheduler and two workers as real processes on one SQLite file,
 * and, for a bounded time, a random mix of what people and machines do to them — trigger, cancel, clear
 * (with or without downstream), mark success or failed, kill -9 a worker or the scheduler, SIGTERM a
 * worker (once or twice) — then quiescence, and the recorded history must keep every invariant
 * (test/invariants.ts). The seed is printed; `SLUICE_FUZZ_SEED=<n>` replays a run's choices and
 * `SLUICE_FUZZ_SECONDS=<n>` runs it longer by hand (CI: 20 s).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { cancelRun, clearTasks, markTasks, triggerRun } from "../../dist/app/runs.js";
import { cliActor } from "../../dist/app/actor.js";
import { loadConfig } from "../../dist/config.js";
import { DagCodeLoader } from "../../dist/engine/codeLoader.js";
import { Sluice } from "../../dist/sluice.js";
import { cli, waitFor } from "../helpers.js";
import { checkInvariants } from "../invariants.js";
import { Procs, query, type Proc } from "../worker/procs.js";

const SEED = Number(process.env["SLUICE_FUZZ_SEED"] ?? Math.floor(Math.random() * 2 ** 31));
const SECONDS = Number(process.env["SLUICE_FUZZ_SECONDS"] ?? 20);

/** mulberry32: a small seeded generator, so that a failing run can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const procs = new Procs();
after(() => procs.cleanup());

test(`fuzz: random actions and process kills for ${SECONDS} s (seed ${SEED}), then every invariant holds`, { timeout: (SECONDS + 240) * 1000 }, async () => {
  process.stdout.write(`# fuzz seed ${SEED} (replay: SLUICE_FUZZ_SEED=${SEED})\n`);
  const random = rng(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const sb = procs.sandbox(() => `import { dag } from "sluice";
const nap = (ms: number, signal: AbortSignal) => new Promise((r, j) => { const t = setTimeout(r, ms); signal.addEventListener("abort", () => { clearTimeout(t); j(signal.reason); }); });
export default dag("fz", (d) => {
  const a = d.task("a", { retries: 1, retryDelay: "50ms" }, async (_i, ctx) => { await nap(50 + Math.random() * 250, ctx.signal); if (Math.random() < 0.15) throw new Error("flaky"); return 1; });
  const m = d.map("m", { over: { i: [1, 2, 3, 4] } }, async ({ i }, ctx) => { await nap(80 * i, ctx.signal); return i; });
  const b = d.task("b", { inputs: { a }, pool: "small" }, async ({ a }, ctx) => { await nap(300, ctx.signal); return a + 1; });
  d.task("join", { after: [b, m], triggerRule: "all_done" }, async () => "done");
});
`);
  // leases short enough that killed workers' attempts move on within the test
  const env = { SLUICE_LEASE_MS: "3000", SLUICE_GRACE_MS: "500" };
  assert.equal(cli(sb, ["pools", "set", "small", "--slots", "1"], env).code, 0);
  let scheduler: Proc = procs.start(sb, ["scheduler"], env);
  const workers: Proc[] = [procs.start(sb, ["worker"], env), procs.start(sb, ["worker"], env)];
  await waitFor(() => query(sb, "select 1 from dags where dag_id = 'fz'").length > 0, 60_000, `the scheduler to register the DAG\n${scheduler.out()}`);

  // this process acts as the CLI and the API do: the store, and DAG code loaded from the store's versions
  const s = await Sluice.open(loadConfig({ home: sb.home, dags: sb.dags }, env), { loadDags: false });
  const code = new DagCodeLoader(s.store);
  s.engine.setCodeLoader((dagId, version) => code.load(dagId, version));
  const actor = cliActor();
  const counts: Record<string, number> = {};
  /** What an action may legitimately refuse (the run ended meanwhile, the task has no such state…). */
  const expected = new Set(["RUN_FINISHED", "RUN_NOT_FOUND", "TASK_NOT_FOUND", "CONFLICT", "INVALID_INPUT"]);
  const runIds = async () => (await s.store.runs.list({ dagId: "fz", limit: 50 })).map((r) => r.runId);
  const activeRunIds = async () => (await s.store.runs.list({ dagId: "fz", limit: 50 })).filter((r) => r.state === "running" || r.state === "queued").map((r) => r.runId);
  const actions: Record<string, () => Promise<unknown>> = {
    trigger: () => triggerRun(s, actor, { dagId: "fz" }),
    cancel: async () => {
      const ids = await activeRunIds();
      if (ids.length) await cancelRun(s, actor, { runId: pick(ids) });
    },
    clear: async () => {
      const ids = await runIds();
      if (ids.length) await clearTasks(s, actor, { runId: pick(ids), taskIds: [pick(["a", "m", "b", "join"])], downstream: random() < 0.5 });
    },
    mark: async () => {
      const ids = await runIds();
      if (ids.length) await markTasks(s, actor, { runId: pick(ids), taskId: pick(["a", "b", "join"]), state: random() < 0.5 ? "success" : "failed" });
    },
    killWorker: async () => {
      const i = Math.floor(random() * workers.length);
      workers[i]!.proc.kill("SIGKILL");
      await workers[i]!.exited;
      workers[i] = procs.start(sb, ["worker"], env);
    },
    stopWorker: async () => {
      const i = Math.floor(random() * workers.length);
      workers[i]!.proc.kill("SIGTERM");
      if (random() < 0.5) {
        await new Promise((r) => setTimeout(r, 50));
        workers[i]!.proc.kill("SIGTERM"); // a second one hands back at once
      }
      await workers[i]!.exited;
      workers[i] = procs.start(sb, ["worker"], env);
    },
    killScheduler: async () => {
      scheduler.proc.kill("SIGKILL");
      await scheduler.exited;
      scheduler = procs.start(sb, ["scheduler"], env);
    },
  };
  const weights: [string, number][] = [["trigger", 5], ["cancel", 1], ["clear", 2], ["mark", 2], ["killWorker", 1], ["stopWorker", 1], ["killScheduler", 1]];
  const total = weights.reduce((n, [, w]) => n + w, 0);
  const choose = () => {
    let x = random() * total;
    for (const [name, w] of weights) if ((x -= w) < 0) return name;
    return "trigger";
  };
  try {
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      const name = choose();
      try {
        await actions[name]!();
        counts[name] = (counts[name] ?? 0) + 1;
      } catch (e) {
        const code = (e as { code?: string }).code ?? "";
        if (!expected.has(code)) throw new Error(`action ${name} failed unexpectedly (seed ${SEED}): ${(e as Error).message}`, { cause: e });
        counts[`${name} refused`] = (counts[`${name} refused`] ?? 0) + 1;
      }
      await new Promise((r) => setTimeout(r, 100 + random() * 400));
    }
    process.stdout.write(`# fuzz actions: ${JSON.stringify(counts)}\n`);
    // quiescence: every run ends (the workers are up; killed ones' attempts move on after their lease)
    await waitFor(async () => (await activeRunIds()).length === 0, 180_000, `every run to end (seed ${SEED})\n${workers.map((w) => w.out().slice(-2000)).join("\n---\n")}`);
  } finally {
    await s.close();
  }
  const runs = query<{ state: string }>(sb, "select state from runs");
  assert.ok(runs.length > 0, "runs were triggered");
  await checkInvariants(join(sb.home, "sluice.db"), { killed: true, interrupted: true });
});
