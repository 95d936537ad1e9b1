/**
 * Testing a DAG as a unit (`sluice/testing`): run it in memory-speed on a temporary store, with virtual
 * time, and assert on typed states and outputs — Airflow's `dag.test()`, with retries and sensors that do
 * not wait.
 *
 * @example
 * import { test } from "node:test";
 * import assert from "node:assert/strict";
 * import { testDag } from "sluice/testing";
 * import etl, { load } from "../dags/etl.ts";
 *
 * test("etl loads what it extracted", async () => {
 *   const run = await testDag(etl, { params: { minAmount: 10 }, mocks: { tasks: { extract: () => [{ amount: 12 }] } } });
 *   assert.equal(run.state, "success");
 *   assert.deepEqual(run.output(load), 1); // typed as load's output
 * });
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { JsonValue } from "./core/assets.js";
import { ManualClock } from "./core/clock.js";
import type { TaskSpec } from "./core/dagSpec.js";
import type { RunState, TaskState } from "./core/states.js";
import { loadConfig } from "./config.js";
import type { Dag, TaskImpl } from "./dsl/dag.js";
import type { AnyRef, TaskContext, TaskRef } from "./dsl/types.js";
import { SluiceError } from "./errors.js";
import { readWholeLog } from "./logs/logStore.js";
import { envName } from "./secrets/connection.js";
import { Sluice } from "./sluice.js";
import type { Worker } from "./worker/worker.js";

/** A task body standing in for a task's own (function, shell or Python task alike) in a test. */
export type TaskMock = (inputs: Record<string, unknown>, ctx: TaskContext<unknown>) => unknown;

/** A connection as a test gives it: a URI (`postgres://u:p@host/db`) or its fields. */
export type ConnectionMock = string | { type: string; host?: string; port?: number; login?: string; password?: string; schema?: string; extra?: Record<string, JsonValue> };

export interface TestDagOptions<P> {
  /** The run's params, validated against the DAG's schema as a trigger's are. */
  params?: Partial<P> & Record<string, unknown>;
  /** The run's logical date (default: the virtual clock's start). */
  logicalDate?: Date | string | number;
  /** Where the virtual clock starts (default: now). */
  now?: Date | string | number;
  mocks?: {
    /** Task bodies replaced by these, by task id (shell and Python tasks too: the mock runs instead of the program). */
    tasks?: Record<string, TaskMock>;
    /** Connections by id, seen by `ctx.connection(id)` instead of any configured ones. */
    connections?: Record<string, ConnectionMock>;
    /** Variables by key, seen by `ctx.variable(key)`. */
    variables?: Record<string, JsonValue>;
  };
  /**
   * The DAG's file (a path or `import.meta.url`-style URL): relative `cwd`/`script` paths of its shell and
   * Python tasks resolve from its folder, as when Sluice loads it. Default: the current directory.
   */
  file?: string | URL;
  /** Give up when the virtual clock has moved this far (default "30 days" of virtual time, in ms). */
  maxVirtualMs?: number;
  /** Keep the temporary home (store, logs) for inspection; its path is `run.home`. Default: deleted. */
  keep?: boolean;
}

export interface TestTaskInstance {
  taskId: string;
  mapIndex: number;
  state: TaskState;
  /** Attempts made (retries included). */
  attempts: number;
  /** The last attempt's error message, if it failed. */
  error: string | null;
}

export interface TestRun {
  runId: string;
  state: RunState;
  stateReason: string | null;
  /** Every task instance, in the DAG's order (map indexes ascending). */
  tasks: TestTaskInstance[];
  /** How far the virtual clock moved while the run ran (retry delays, sensor intervals skipped). */
  virtualMs: number;
  /** The temporary home (only kept with `keep: true`). */
  home: string;
  /** A task's instance: by id or ref, and map index for a mapped one. Throws for an unknown task. */
  task(task: string | AnyRef, mapIndex?: number): TestTaskInstance;
  /** A task's output, typed by its ref: a mapped task's is the list of its instances' outputs. */
  output<T>(ref: TaskRef<T>): T;
  /** What the task's attempt logged (the last attempt by default), one message per line. */
  log(task: string | AnyRef, opts?: { mapIndex?: number; attempt?: number }): { level: string; msg: string }[];
}

/**
 * Run `dag` once to its end on a temporary SQLite store, in this process, and return its task states and
 * outputs. Time is virtual: whenever nothing is running and the run only waits for a timer (a retry
 * delay, a sensor's next poke, a deadline), the clock jumps to it, so a DAG with two one-hour retry delays
 * finishes in milliseconds. Every task runs in this process (`isolation: "process"` included), as in
 * Airflow's `dag.test()`; shell and Python tasks run their programs unless mocked.
 */
export async function testDag<P>(dag: Dag<P>, opts: TestDagOptions<P> = {}): Promise<TestRun> {
  const home = await mkdtemp(join(tmpdir(), "sluice-test-"));
  const clock = new ManualClock(opts.now === undefined ? Date.now() : new Date(opts.now).getTime());
  const start = clock.now();
  const env: Record<string, string> = { SLUICE_HOME: home };
  for (const [id, c] of Object.entries(opts.mocks?.connections ?? {})) env[envName("connection", id)] = typeof c === "string" ? c : JSON.stringify(c);
  // the test's own SLUICE_* environment (a developer's database, secrets) must not leak into it
  const config = loadConfig({ home, dags: home, databaseUrl: `sqlite:${join(home, "sluice.db")}` }, env);
  const base = opts.file === undefined ? process.cwd() : dirname(opts.file instanceof URL || String(opts.file).startsWith("file:") ? fileURLToPath(opts.file) : resolve(String(opts.file)));
  const s = await Sluice.open(config, { clock, loadDags: false, dags: [withMocks(dag, opts.mocks?.tasks ?? {}, base)] });
  try {
    // variables as a test gives them: plain (not secret, so not masked in what tasks return)
    for (const [key, value] of Object.entries(opts.mocks?.variables ?? {})) {
      await s.store.variables.put({ key, value: JSON.stringify(value), isSecret: false, description: "testDag mock", updatedAt: clock.now() });
    }
    const logicalDate = opts.logicalDate === undefined ? undefined : new Date(opts.logicalDate);
    if (logicalDate && Number.isNaN(logicalDate.getTime())) throw new SluiceError("INVALID_INPUT", `testDag: logicalDate ${String(opts.logicalDate)} is not a date`);
    const run = await s.engine.createRun(dag.id, { params: (opts.params ?? {}), ...(logicalDate ? { logicalDate } : {}), runType: "manual" });
    let worker: Worker | null = null;
    let done = false;
    const driven = s.drive(run.runId, { onWorker: (w) => (worker = w) }).finally(() => (done = true));
    driven.catch(() => undefined);
    await skipTime(clock, () => done, () => worker, start + (opts.maxVirtualMs ?? 30 * 86_400_000), dag.id);
    await driven;
    return await collect(s, run.runId, dag, clock.now() - start, home);
  } finally {
    await s.close();
    if (!opts.keep) await rm(home, { recursive: true, force: true });
  }
}

/**
 * Time skipping: wait (in real time) while anything runs; when the worker has been idle for two turns in a
 * row, move the clock to the next timer, which wakes whatever waited for it.
 */
async function skipTime(clock: ManualClock, done: () => boolean, worker: () => Worker | null, limit: number, dagId: string): Promise<void> {
  let idleTurns = 0;
  while (!done()) {
    await new Promise((r) => setTimeout(r, 1));
    const w = worker();
    if (done() || !w?.idle) {
      idleTurns = 0;
      continue;
    }
    // idle twice in a row, a macrotask apart: a transaction that was about to start has started
    if (++idleTurns < 2) continue;
    idleTurns = 0;
    const next = clock.nextTimerAt();
    if (next === null) continue; // the run ends without a timer (the engine settles it): wait
    if (next > limit) throw new SluiceError("TIMEOUT", `testDag: DAG "${dagId}" still runs after ${Math.round((limit - clock.now()) / 3_600_000)} h of virtual time; raise maxVirtualMs if that is expected`);
    clock.advance(Math.max(0, next - clock.now()));
  }
}

/**
 * The DAG with mocked bodies, every task in this process (the spec keeps everything else), and relative
 * paths of shell and Python tasks made absolute from `base` (the DAG file's folder).
 */
function withMocks(dag: Dag, mocks: Record<string, TaskMock>, base: string): Dag {
  const known = new Set(dag.spec.tasks.map((t) => t.id));
  for (const id of Object.keys(mocks)) {
    if (!known.has(id)) throw new SluiceError("TASK_NOT_FOUND", `testDag: mocks.tasks.${id}: DAG "${dag.id}" has no task "${id}" (it has ${[...known].join(", ")})`);
  }
  const impls = new Map<string, TaskImpl>();
  for (const [id, impl] of dag.impls) {
    if (impl.kind === "fn") impls.set(id, impl);
    else if (impl.kind === "shell") impls.set(id, { ...impl, cwd: resolve(base, impl.cwd ?? ".") });
    else impls.set(id, { ...impl, cwd: resolve(base, impl.cwd ?? "."), script: impl.script === null ? null : resolve(base, impl.script) });
  }
  for (const [id, fn] of Object.entries(mocks)) impls.set(id, { kind: "fn", fn, env: {} });
  const tasks: TaskSpec[] = dag.spec.tasks.map((t) => (t.isolation === "process" ? { ...t, isolation: "inline" } : t));
  // the brand (a symbol property) is copied with the rest
  return Object.freeze({ ...dag, spec: Object.freeze({ ...dag.spec, tasks }), impls });
}

async function collect(s: Sluice, runId: string, dag: Dag, virtualMs: number, home: string): Promise<TestRun> {
  const run = (await s.store.runs.get(runId))!;
  const order = new Map(dag.spec.tasks.map((t, i) => [t.id, i]));
  const tis = (await s.store.taskInstances.list(runId)).sort((a, b) => order.get(a.taskId)! - order.get(b.taskId)! || a.mapIndex - b.mapIndex);
  const attempts = await s.store.attempts.list(runId);
  const lastError = new Map<string, string | null>();
  for (const a of attempts) lastError.set(`${a.taskId}#${a.mapIndex}`, a.errorMessage ?? null);
  const tasks: TestTaskInstance[] = tis.map((t) => ({
    taskId: t.taskId,
    mapIndex: t.mapIndex,
    state: t.state,
    attempts: t.tryNumber,
    error: t.state === "success" ? null : (lastError.get(`${t.taskId}#${t.mapIndex}`) ?? null),
  }));
  const outputs = new Map<string, unknown>();
  for (const spec of dag.spec.tasks) {
    const values = await s.engine.loadOutputs(runId, spec.id);
    outputs.set(spec.id, spec.map ? values : values[0]);
  }
  const logs = new Map<string, { level: string; msg: string }[]>();
  for (const a of attempts) {
    const lines = await readWholeLog(s.engine.logs, { attemptId: a.attemptId, dagId: dag.id, runId, taskId: a.taskId, mapIndex: a.mapIndex, tryNumber: a.tryNumber });
    logs.set(`${a.taskId}#${a.mapIndex}#${a.tryNumber}`, lines.map((l) => ({ level: l.level, msg: l.msg })));
  }
  const idOf = (t: string | AnyRef): string => {
    const id = typeof t === "string" ? t : t.id;
    if (!order.has(id)) throw new SluiceError("TASK_NOT_FOUND", `DAG "${dag.id}" has no task "${id}"`);
    return id;
  };
  return {
    runId,
    state: run.state,
    stateReason: run.stateReason,
    tasks,
    virtualMs,
    home,
    task(t, mapIndex = -1) {
      const id = idOf(t);
      const ti = tasks.find((x) => x.taskId === id && x.mapIndex === mapIndex);
      if (!ti) throw new SluiceError("TASK_NOT_FOUND", `task "${id}" of DAG "${dag.id}" has no instance with map index ${mapIndex}`);
      return ti;
    },
    output<T>(ref: TaskRef<T>): T {
      return outputs.get(idOf(ref)) as T;
    },
    log(t, o = {}) {
      const id = idOf(t);
      const mapIndex = o.mapIndex ?? -1;
      const tries = attempts.filter((a) => a.taskId === id && a.mapIndex === mapIndex).map((a) => a.tryNumber);
      const attempt = o.attempt ?? Math.max(0, ...tries);
      return logs.get(`${id}#${mapIndex}#${attempt}`) ?? [];
    },
  };
}
