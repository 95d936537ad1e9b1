/**
 * Warm processes of `isolation: "process"` (src/executors/childPool.ts): real child processes running
 * tasks of a real bundled DAG file, their pids recorded by the tasks themselves. Reuse, recycling, and
 * that nothing of one attempt (a crash, a timeout, its env, work it left running) reaches the next one.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { taskEnvironment } from "../../src/config.js";
import type { ProcessPoolLimits } from "../../src/core/processReuse.js";
import type { Dag } from "../../src/dsl/dag.js";
import { SluiceError, isSluiceError } from "../../src/errors.js";
import { bundleUrl, cacheBundle } from "../../src/executors/bundleImport.js";
import { bundleDagFile } from "../../src/executors/dagBundle.js";
import { loadDagFile } from "../../src/executors/dagFile.js";
import type { TaskRun } from "../../src/executors/executor.js";
import { AttemptLog } from "../../src/logs/attemptLog.js";
import { attemptSecrets } from "../../src/secrets/attempt.js";
import { Masker } from "../../src/secrets/mask.js";
import { NOOP_SPAN } from "../../src/tracing/context.js";
import { ROOT, sandbox, waitFor } from "../helpers.js";

// The executor forks dist/executors/childMain.js (a built file), so it and its pool come from dist.
const { childProcessExecutor } = (await import(join(ROOT, "dist", "executors", "childProcess.js"))) as typeof import("../../src/executors/childProcess.js");
const pool = (await import(join(ROOT, "dist", "executors", "childPool.js"))) as typeof import("../../src/executors/childPool.js");

const DAG_FILE_SOURCE = `
import { dag } from "sluice";

type Loose = any;
let calls = 0;

export default dag("pooled", { defaults: { isolation: "process" } }, (d) => {
  d.task("pid", async () => ({ pid: process.pid, calls: ++calls }));
  d.task("fresh_pid", { fresh: true }, async () => ({ pid: process.pid, calls: ++calls }));
  d.task("crash", async () => process.exit(3));
  d.task("hang", async (_inputs, ctx) => {
    await new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
  });
  d.task("stubborn", async () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  });
  d.task("env_a", { env: { A_TOKEN: "token-of-a", SHARED: "from a" } }, async () => {
    process.env.SET_BY_A = "set by a";
    process.chdir("/");
    return { pid: process.pid, token: process.env.A_TOKEN, shared: process.env.SHARED };
  });
  d.task("env_b", { env: { SHARED: "from b" } }, async () => ({
    pid: process.pid,
    token: process.env.A_TOKEN ?? null,
    setByA: process.env.SET_BY_A ?? null,
    shared: process.env.SHARED,
    cwd: process.cwd(),
  }));
  d.task("leaves_timer", async () => {
    setInterval(() => console.log("still here"), 5);
    return process.pid;
  });
  d.task("logs", async (_inputs, ctx) => {
    ctx.log.info("hello from %d", process.pid);
    console.log("to stdout");
    return process.pid;
  });
});
`;

const sb = sandbox("sluice-pool-");
const dagFile = sb.write("pooled.ts", DAG_FILE_SOURCE);
let pooled: Dag;
let moduleUrl: string;
let seq = 0;

before(async () => {
  const loaded = await loadDagFile(dagFile);
  if ("error" in loaded) throw new Error(`the DAG file does not load: ${loaded.error}`);
  pooled = loaded.dags[0]!;
  const b = await bundleDagFile(dagFile);
  await cacheBundle(b.hash, b.code);
  moduleUrl = bundleUrl(b.hash, dagFile);
});
after(() => {
  pool.endIdleChildren();
  sb.cleanup();
});

const LIMITS: ProcessPoolLimits = { maxAttempts: 100, maxRssMb: 1024, idleMs: 60_000 };

function attempt(taskId: string, opts: { limits?: ProcessPoolLimits; moduleUrl?: string | null } = {}): { run: TaskRun; controller: AbortController; log: string } {
  const task = pooled.spec.tasks.find((t) => t.id === taskId);
  const impl = pooled.impls.get(taskId);
  assert.ok(task && impl, `no task ${taskId}`);
  const log = join(sb.dir, `attempt-${++seq}.log`);
  const controller = new AbortController();
  const masker = new Masker();
  const run: TaskRun = {
    task,
    impl,
    dagFile,
    moduleUrl: opts.moduleUrl === undefined ? moduleUrl : opts.moduleUrl,
    inputs: {},
    ctx: {
      runId: "run-1",
      dagId: "pooled",
      taskId,
      mapIndex: -1,
      attempt: 1,
      attemptId: seq,
      span: NOOP_SPAN,
      assertLive: () => undefined,
      maxAttempts: 1,
      logicalDate: new Date("2026-01-02T03:04:05.000Z"),
      dataInterval: { start: new Date("2026-01-01T03:04:05.000Z"), end: new Date("2026-01-02T03:04:05.000Z") },
      params: {},
      signal: controller.signal,
      log: new AttemptLog(log).logger(),
      event: null,
      triggeringAssetEvents: [],
      assetMetadata: () => undefined,
      track: { param: () => undefined, params: () => undefined, metric: () => undefined, metrics: () => undefined, tag: () => undefined, artifact: async () => undefined },
      models: { register: async () => ({ name: "m", version: 1 }), inferenceLog: async () => [] },
      ...attemptSecrets(undefined, masker, { dagId: "pooled", taskId }),
    },
    log: new AttemptLog(log),
    masker,
    python: "python3",
    env: taskEnvironment(process.env),
    processPool: opts.limits ?? LIMITS,
  };
  return { run, controller, log };
}

type Pid = { pid: number; calls: number };
const runPid = async (taskId = "pid", opts: Parameters<typeof attempt>[1] = {}) => (await childProcessExecutor.run(attempt(taskId, opts).run)) as Pid;

/** The process `pid` has been put back in the pool (its attempt is over and it said it is fit). */
const backInPool = (pid: number) => waitFor(() => pool.idleChildPids().includes(pid), 10_000, `process ${pid} to be idle`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error);
    return e;
  }
  assert.fail("expected a rejection");
}

// One test at a time: each looks at which process the pool hands out next.
describe("warm processes for isolation: process", { concurrency: 1 }, () => {
  test("consecutive attempts of the same code run in the same process, its module state kept", async () => {
    const first = await runPid();
    await backInPool(first.pid);
    const second = await runPid();
    assert.equal(second.pid, first.pid, "the same child process");
    assert.equal(second.calls, first.calls + 1, "the module was imported once");
    assert.notEqual(first.pid, process.pid);
  });

  test("fresh: true runs each attempt in a new process, which ends after it", async () => {
    const warm = await runPid();
    await backInPool(warm.pid);
    const a = await runPid("fresh_pid");
    const b = await runPid("fresh_pid");
    assert.notEqual(a.pid, warm.pid);
    assert.notEqual(a.pid, b.pid);
    assert.equal(a.calls, 1, "a new process imports the code anew");
    await waitFor(() => !alive(a.pid) && !alive(b.pid), 10_000, "the fresh processes to end");
    assert.ok(pool.idleChildPids().includes(warm.pid), "the warm process was not used or ended by them");
  });

  test("code that is not a bundle (a DAG file that may change) is never reused", async () => {
    const a = await runPid("pid", { moduleUrl: null });
    const b = await runPid("pid", { moduleUrl: null });
    assert.notEqual(a.pid, b.pid);
  });

  test("after maxAttempts attempts a process is replaced", async () => {
    pool.endIdleChildren();
    const limits = { ...LIMITS, maxAttempts: 2 };
    const a = await runPid("pid", { limits });
    await backInPool(a.pid);
    const b = await runPid("pid", { limits });
    assert.equal(b.pid, a.pid);
    const c = await runPid("pid", { limits });
    assert.notEqual(c.pid, a.pid, "the third attempt runs in a new process");
    await waitFor(() => !alive(a.pid), 10_000, "the retired process to end");
  });

  test("a process over maxRssMb is replaced after its attempt", async () => {
    pool.endIdleChildren();
    const limits = { ...LIMITS, maxRssMb: 1 };
    const a = await runPid("pid", { limits });
    const b = await runPid("pid", { limits });
    assert.notEqual(a.pid, b.pid);
    await waitFor(() => !alive(a.pid), 10_000, "the retired process to end");
  });

  test("a task that exits its process fails alone; the next attempt succeeds in a new process", async () => {
    const warm = await runPid();
    await backInPool(warm.pid);
    const e = await rejection(childProcessExecutor.run(attempt("crash").run));
    assert.ok(isSluiceError(e, "TASK_FAILED"), e.message);
    assert.equal(e.message, 'task "crash": its process exited with code 3 before returning a result');
    assert.equal(alive(warm.pid), false, "the crash ended the warm process it ran in");
    const next = await runPid();
    assert.notEqual(next.pid, warm.pid);
    assert.equal(next.calls, 1);
  });

  test("a timeout kills the process (even a blocked one) and the next task still runs", async () => {
    const warm = await runPid();
    await backInPool(warm.pid);
    for (const id of ["hang", "stubborn"]) {
      const a = attempt(id);
      const running = childProcessExecutor.run(a.run);
      const pid = id === "hang" ? warm.pid : (await runPid()).pid;
      if (id === "stubborn") await backInPool(pid);
      const b = id === "stubborn" ? attempt(id) : a;
      const runningB = id === "stubborn" ? childProcessExecutor.run(b.run) : running;
      if (id === "stubborn") running.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300)); // the task has started
      const reason = new SluiceError("TIMEOUT", `task "${id}" timed out after 300 ms`);
      b.controller.abort(reason);
      assert.equal(await rejection(runningB), reason);
      await waitFor(() => !alive(pid), 30_000, `process ${pid} to be killed`);
      const next = await runPid();
      assert.notEqual(next.pid, pid, "the next task runs in another process");
    }
  });

  test("an attempt's env (and what it set) is not seen by the next attempt in the same process", async () => {
    pool.endIdleChildren();
    const a = (await childProcessExecutor.run(attempt("env_a").run)) as { pid: number; token: string; shared: string };
    assert.deepEqual([a.token, a.shared], ["token-of-a", "from a"]);
    await backInPool(a.pid);
    const b = (await childProcessExecutor.run(attempt("env_b").run)) as { pid: number; token: string | null; setByA: string | null; shared: string; cwd: string };
    assert.equal(b.pid, a.pid, "the same process");
    assert.deepEqual({ token: b.token, setByA: b.setByA, shared: b.shared }, { token: null, setByA: null, shared: "from b" });
    assert.notEqual(b.cwd, "/", "its working directory is put back");
    // nor does the process keep it between attempts: /proc shows its first env, the clean base
    const environ = readFileSync(`/proc/${a.pid}/environ`, "utf8");
    assert.ok(!environ.includes("token-of-a"));
  });

  test("an attempt that leaves work running (a timer) retires its process; its output reaches no other attempt", async () => {
    pool.endIdleChildren();
    const a = attempt("leaves_timer");
    const pid = (await childProcessExecutor.run(a.run)) as number;
    await waitFor(() => !alive(pid), 10_000, `process ${pid} to be retired`);
    const next = attempt("logs");
    const nextPid = (await childProcessExecutor.run(next.run)) as number;
    assert.notEqual(nextPid, pid);
    await next.run.log.close();
    const text = readFileSync(next.log, "utf8");
    assert.match(text, /hello from/);
    assert.match(text, /to stdout/);
    assert.doesNotMatch(text, /still here/);
  });

  test("a worker killed with SIGKILL leaves no process behind, idle or busy", async () => {
    // a separate Node process runs one task to its end (an idle warm process) and starts a second that
    // hangs (a busy one), prints both pids, and is then killed without a chance to clean up
    const script = join(sb.dir, "killed-worker.mjs");
    writeFileSync(
      script,
      `const { childProcessExecutor } = await import(${JSON.stringify(join(ROOT, "dist", "executors", "childProcess.js"))});
const { idleChildPids } = await import(${JSON.stringify(join(ROOT, "dist", "executors", "childPool.js"))});
const [dag, moduleUrl, dagFile] = JSON.parse(process.argv[2]);
const base = (taskId, attemptId) => ({
  task: { id: taskId, memoryLimitMb: null }, impl: { kind: "fn", env: {} }, dagFile, moduleUrl, inputs: {},
  ctx: { runId: "r", dagId: dag, taskId, mapIndex: -1, attempt: 1, attemptId, maxAttempts: 1, logicalDate: new Date(0), dataInterval: { start: new Date(0), end: new Date(0) }, params: {},
    signal: new AbortController().signal, event: null, triggeringAssetEvents: [], span: { spanContext: () => ({ traceFlags: 0 }) } },
  log: { write() {} }, env: { PATH: process.env.PATH },
});
const waitIdle = async (pid) => { while (!idleChildPids().includes(pid)) await new Promise((r) => setTimeout(r, 10)); };
const busy = (await childProcessExecutor.run(base("pid", 1))).pid;
await waitIdle(busy);
void childProcessExecutor.run(base("hang", 2)).catch(() => undefined); // takes the warm process
const idle = (await childProcessExecutor.run(base("pid", 3))).pid; // a second one, idle after this
await waitIdle(idle);
process.stdout.write(JSON.stringify({ idle, busy }) + "\\n");
setInterval(() => undefined, 1000);
`,
    );
    const child = spawn(process.execPath, [script, JSON.stringify(["pooled", moduleUrl, dagFile])], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    await waitFor(() => out.includes("\n"), 60_000, "the worker to report its processes");
    const { idle, busy } = JSON.parse(out) as { idle: number; busy: number };
    await new Promise((r) => setTimeout(r, 300)); // the hanging task has started in the busy process
    assert.ok(alive(idle) && alive(busy), "both processes run before the kill");
    child.kill("SIGKILL");
    await waitFor(() => !alive(idle) && !alive(busy), 30_000, `processes ${idle} and ${busy} to end with their parent`);
  });

  test("idle processes end after idleMs, and at once on endIdleChildren (a worker's stop)", async () => {
    pool.endIdleChildren();
    const short = await runPid("pid", { limits: { ...LIMITS, idleMs: 300 } });
    await backInPool(short.pid);
    await waitFor(() => !alive(short.pid), 10_000, "the idle process to end after idleMs");
    assert.ok(!pool.idleChildPids().includes(short.pid));
    const long = await runPid();
    await backInPool(long.pid);
    pool.endIdleChildren();
    await waitFor(() => !alive(long.pid), 10_000, "the idle process to end on endIdleChildren");
    assert.deepEqual(pool.idleChildPids(), []);
  });
});
