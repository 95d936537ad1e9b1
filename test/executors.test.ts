/**
 * The executor contract: one suite run against every executor (in-process, child process, shell,
 * python), then what only some of them do. Tasks come from one real DAG file in a temporary project
 * (node_modules/sluice links this package), and each test builds the TaskRun the worker would build.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { taskEnvironment } from "../src/config.js";
import { attemptSecrets } from "../src/secrets/attempt.js";
import { Masker } from "../src/secrets/mask.js";
import { loadDagFile } from "../src/executors/dagFile.js";
import { SluiceError, isSluiceError } from "../src/errors.js";
import type { Dag } from "../src/dsl/dag.js";
import type { Executor, TaskRun } from "../src/executors/executor.js";
import { inProcessExecutor } from "../src/executors/inProcess.js";
import { pythonExecutor } from "../src/executors/python.js";
import { shellExecutor } from "../src/executors/shell.js";
import { AttemptLog, readAttemptLog, type LogLine } from "../src/logs/attemptLog.js";
import { NOOP_SPAN } from "../src/tracing/context.js";
import { ROOT, sandbox, waitFor } from "./helpers.js";

// The child-process executor forks dist/executors/childMain.js (a built file), so it is loaded from dist,
// which `npm test` builds first. Its types are the source's.
const { childProcessExecutor } = (await import(join(ROOT, "dist", "executors", "childProcess.js"))) as typeof import("../src/executors/childProcess.js");

const PYTHON = "python3";
const noPython = spawnSync(PYTHON, ["-c", "import json"]).status === 0 ? false : `${PYTHON} is not installed`;

const DAG_FILE_SOURCE = `
import { writeFileSync } from "node:fs";
import { dag } from "sluice";
import { z } from "zod";

// The tests pass inputs directly in the TaskRun, so these tasks read them untyped.
type Loose = any;

export default dag("contract", (d) => {
  // --- function tasks (in-process and child process) ---
  d.task("fn_output", async (inputs: Loose, ctx) => ({
    answer: inputs.x + 1,
    dagId: ctx.dagId,
    taskId: ctx.taskId,
    attempt: ctx.attempt,
    attemptId: ctx.attemptId,
    mapIndex: ctx.mapIndex,
    params: ctx.params,
    logicalDate: ctx.logicalDate.toISOString(),
    dataInterval: [ctx.dataInterval.start.toISOString(), ctx.dataInterval.end.toISOString()],
  }));
  d.task("fn_fail", async () => {
    throw new Error("boom 7");
  });
  d.task("fn_logs", async (_inputs, ctx) => {
    ctx.log.info("out %d", 1);
    ctx.log.warn("warn %s", "1");
    ctx.log.error("err 1");
    return null;
  });
  d.task("fn_hang", async (inputs: Loose, ctx) => {
    writeFileSync(inputs.pidFile, String(process.pid));
    await new Promise((_resolve, reject) =>
      ctx.signal.addEventListener("abort", () => {
        let live = "live";
        try {
          ctx.assertLive();
        } catch (e) {
          live = "not live: " + (e as Error).message;
        }
        writeFileSync(inputs.marker, String(ctx.signal.reason?.message) + "|" + live);
        reject(ctx.signal.reason);
      }),
    );
  });
  // --- child process only ---
  d.task("crash", async () => {
    process.exit(3);
  });
  d.task("oom", async () => {
    const keep: number[][] = [];
    for (;;) keep.push(new Array(100_000).fill(keep.length));
  });
  d.task("binary", async (inputs: Loose) => ({
    ...inputs,
    isBuffer: Buffer.isBuffer(inputs.buf),
    text: Buffer.from(inputs.buf).toString("utf8"),
    arrType: inputs.arr.constructor.name,
    sum: inputs.arr.reduce((a: number, b: number) => a + b, 0),
    year: inputs.date.getUTCFullYear(),
    out: new Uint16Array([7, 8]),
  }));
  d.task("console", async () => {
    console.log("to stdout");
    console.error("to stderr");
    return 1;
  });
  d.task("unserialisable", async () => ({ fn: () => 1 }));
  d.task("stubborn", async (inputs: Loose) => {
    writeFileSync(inputs.pidFile, String(process.pid));
    // Blocks the event loop: the child cannot react to SIGTERM, only SIGKILL ends it.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  });
  // --- shell ---
  d.shell("sh_output", {
    command: "sh",
    args: (inputs: Loose) => ["-c", 'echo first; echo "answer=$(($1 + 1)) $SLUICE_DAG_ID $SLUICE_TASK_ID $SLUICE_ATTEMPT $SLUICE_ATTEMPT_ID"', "sh", String(inputs.x)],
  });
  d.shell("sh_fail", { command: "echo 'boom 7' >&2; exit 7", shell: true });
  d.shell("sh_logs", { command: "echo out 1; echo err 1 >&2; echo out 2", shell: true });
  // the shell and a program it started, both recorded: an abort must end the whole process group
  d.shell("sh_hang", { command: "sh", args: (inputs: Loose) => ["-c", 'sleep 60 & echo "$$ $!" > "$1"; wait', "sh", inputs.pidFile] });
  d.shell("sh_pipe", { command: "printf 'b\\\\na\\\\n' | sort | tr a-z A-Z", shell: true });
  d.shell("sh_cwd", { command: "pwd", cwd: "sub" });
  d.shell("sh_missing", { command: "sluice-no-such-program" });
  d.shell("sh_env", { command: "sh", args: ["-c", 'echo "$GREETING $SLUICE_MAP_INDEX"'], env: { GREETING: "hi" } });
  // --- python ---
  d.python("py_output", { script: "py/output.py" });
  d.python("py_fail", { script: "py/fail.py" });
  d.python("py_logs", { script: "py/logs.py" });
  d.python("py_hang", { script: "py/hang.py" });
  d.python("py_missing", { script: "py/output.py", python: "/nonexistent/python9" });
  d.python("py_schema", {
    script: "py/emit.py",
    args: ['{"auc": "0.93"}'],
    output: z.object({ auc: z.coerce.number(), tags: z.array(z.string()).default([]) }),
  });
  d.python("py_schema_bad", { script: "py/emit.py", args: ['{"auc": "high"}'], output: z.object({ auc: z.coerce.number() }) });
  d.python("py_no_output", { script: "py/emit.py" });
  d.python("py_bad_json", { script: "py/emit.py", args: ["{not json"] });
});
`;

const sb = sandbox("sluice-executors-");
const dagFile = sb.write("contract.ts", DAG_FILE_SOURCE);
cpSync(join(ROOT, "test", "fixtures", "executors"), join(sb.dags, "py"), { recursive: true });
cpSync(join(ROOT, "test", "fixtures", "executors"), join(sb.dags, "sub"), { recursive: true });
const scratch = mkdtempSync(join(sb.dir, "scratch-"));
let contract: Dag;
let seq = 0;

before(async () => {
  const loaded = await loadDagFile(dagFile);
  if ("error" in loaded) throw new Error(`the contract DAG file does not load: ${loaded.error}`);
  contract = loaded.dags[0]!;
});
after(() => sb.cleanup());

interface Attempt {
  run: TaskRun;
  controller: AbortController;
  /** Close the attempt log and read it back. */
  lines(): Promise<LogLine[]>;
}

function attempt(taskId: string, inputs: Record<string, unknown> = {}): Attempt {
  const task = contract.spec.tasks.find((t) => t.id === taskId);
  const impl = contract.impls.get(taskId);
  assert.ok(task && impl, `no task ${taskId} in the contract DAG`);
  const path = join(scratch, `attempt-${++seq}.log`);
  const log = new AttemptLog(path);
  const controller = new AbortController();
  const masker = new Masker();
  const run: TaskRun = {
    task,
    impl,
    dagFile,
    moduleUrl: null,
    inputs,
    ctx: {
      runId: "run-1",
      dagId: "contract",
      taskId,
      mapIndex: -1,
      attempt: 2,
      attemptId: 77,
      span: NOOP_SPAN,
      assertLive: () => {
        if (controller.signal.aborted) throw controller.signal.reason;
      },
      maxAttempts: 3,
      logicalDate: new Date("2026-01-02T03:04:05.000Z"),
      dataInterval: { start: new Date("2026-01-01T00:00:00.000Z"), end: new Date("2026-01-02T00:00:00.000Z") },
      params: { lr: 0.5 },
      signal: controller.signal,
      log: log.logger(),
      event: null,
      triggeringAssetEvents: [],
      assetMetadata: () => undefined,
      // executors pass ctx.track through untouched (the worker's tracker: test/engine/tracking.test.ts)
      track: { param: () => undefined, params: () => undefined, metric: () => undefined, metrics: () => undefined, tag: () => undefined, artifact: async () => undefined },
      models: { register: async () => ({ name: "m", version: 1 }), inferenceLog: async () => [] },
      ...attemptSecrets(undefined, masker, { dagId: "contract", taskId }),
    },
    log,
    masker,
    python: PYTHON,
    env: taskEnvironment(process.env),
  };
  return {
    run,
    controller,
    async lines() {
      await log.close();
      return readAttemptLog(path);
    },
  };
}

/** Settle `p` and return its rejection (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<SluiceError | Error> {
  try {
    const v = await p;
    assert.fail(`expected a rejection, got ${JSON.stringify(v)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof Error, `rejected with a non-Error: ${String(e)}`);
    return e;
  }
}

/** Whether a process exists (a zombie nobody reaped counts as gone: it runs nothing). */
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

function readPids(file: string): number[] {
  return readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
}

const timeoutReason = () => new SluiceError("TIMEOUT", 'task "t" timed out after 50 ms');

interface Subject {
  name: string;
  executor: Executor;
  skip: string | false;
  ids: { output: string; fail: string; logs: string; hang: string };
  /** Whether the work runs in another process whose pid(s) the hang task records. */
  subprocess: boolean;
  /** Whether its log lines come from separate stdout and stderr pipes (a program) rather than ctx.log. */
  pipes: boolean;
  expectedOutput: unknown;
  checkFailure(e: Error): void;
  expectedLogs: [LogLine["level"], string][];
}

const fnOutput = {
  answer: 42,
  dagId: "contract",
  taskId: "fn_output",
  attempt: 2,
  attemptId: 77,
  mapIndex: -1,
  params: { lr: 0.5 },
  logicalDate: "2026-01-02T03:04:05.000Z",
  dataInterval: ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"],
};
const fnFailure = (e: Error) => assert.match(e.message, /boom 7/);
const fnLogs: [LogLine["level"], string][] = [
  ["info", "out 1"],
  ["warn", "warn 1"],
  ["error", "err 1"],
];
const exitFailure = (e: Error) => {
  assert.ok(isSluiceError(e, "TASK_FAILED"), `${e.name}: ${e.message}`);
  assert.match(e.message, /^task "(sh|py)_fail" \(.+\) exited with code 7$/);
  assert.equal((e as SluiceError).details["exitCode"], 7);
};

const SUBJECTS: Subject[] = [
  {
    name: "in-process",
    executor: inProcessExecutor,
    skip: false,
    ids: { output: "fn_output", fail: "fn_fail", logs: "fn_logs", hang: "fn_hang" },
    subprocess: false,
    pipes: false,
    expectedOutput: fnOutput,
    checkFailure: fnFailure,
    expectedLogs: fnLogs,
  },
  {
    name: "child process",
    executor: childProcessExecutor,
    skip: false,
    ids: { output: "fn_output", fail: "fn_fail", logs: "fn_logs", hang: "fn_hang" },
    subprocess: true,
    pipes: false,
    expectedOutput: fnOutput,
    checkFailure: (e) => {
      fnFailure(e);
      assert.ok(isSluiceError(e, "TASK_FAILED"), `${e.name}: ${e.message}`);
    },
    expectedLogs: fnLogs,
  },
  {
    name: "shell",
    executor: shellExecutor,
    skip: false,
    ids: { output: "sh_output", fail: "sh_fail", logs: "sh_logs", hang: "sh_hang" },
    subprocess: true,
    pipes: true,
    expectedOutput: "answer=42 contract sh_output 2 77",
    checkFailure: exitFailure,
    expectedLogs: [
      ["stdout", "out 1"],
      ["stderr", "err 1"],
      ["stdout", "out 2"],
    ],
  },
  {
    name: "python",
    executor: pythonExecutor,
    skip: noPython,
    ids: { output: "py_output", fail: "py_fail", logs: "py_logs", hang: "py_hang" },
    subprocess: true,
    pipes: true,
    expectedOutput: {
      answer: 42,
      inputsFileMatches: true,
      dagId: "contract",
      taskId: "py_output",
      attempt: 2,
      params: { lr: 0.5 },
      logicalDate: "2026-01-02T03:04:05.000Z",
    },
    checkFailure: exitFailure,
    expectedLogs: [
      ["stdout", "out 1"],
      ["stderr", "err 1"],
      ["stdout", "out 2"],
    ],
  },
];

// Everything runs concurrently: most of the time is spent waiting for processes (the slowest test waits
// out the child process executor's 5 s grace period).
describe("executors", { concurrency: true }, () => {
  for (const s of SUBJECTS) {
    describe(`executor contract: ${s.name}`, { skip: s.skip, concurrency: true }, () => {
      test("resolves with the task's output, computed from its inputs and context", async () => {
        const a = attempt(s.ids.output, { x: 41 });
        assert.deepEqual(await s.executor.run(a.run), s.expectedOutput);
      });

      test("a failing task rejects with a useful message", async () => {
        const a = attempt(s.ids.fail);
        s.checkFailure(await rejection(s.executor.run(a.run)));
        if (s.pipes) {
          assert.deepEqual((await a.lines()).map((l) => [l.level, l.msg]), [["stderr", "boom 7"]], "stderr is in the log");
        }
      });

      test("its log lines land in the attempt log, in order and with their levels", async () => {
        const a = attempt(s.ids.logs);
        await s.executor.run(a.run);
        const lines = await a.lines();
        const got = lines.map((l) => [l.level, l.msg]);
        if (s.pipes) {
          // stdout and stderr are separate pipes: their lines keep their order within each stream only
          assert.equal(got.length, s.expectedLogs.length, JSON.stringify(got));
          for (const level of ["stdout", "stderr"]) {
            assert.deepEqual(
              got.filter(([l]) => l === level),
              s.expectedLogs.filter(([l]) => l === level),
            );
          }
        } else {
          assert.deepEqual(got, s.expectedLogs);
        }
        assert.ok(lines.every((l) => typeof l.t === "number" && l.t > 0));
      });

      test("an abort rejects promptly with its reason (a timeout) and stops the work", async () => {
        const pidFile = join(scratch, `pid-${++seq}`);
        const marker = join(scratch, `marker-${seq}`);
        const a = attempt(s.ids.hang, { pidFile, marker });
        const running = s.executor.run(a.run);
        running.catch(() => undefined);
        await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim().length > 0, 60_000, "the task to start");
        const reason = timeoutReason();
        a.controller.abort(reason);
        // the task never ends by itself: that it rejects at all shows it did not wait for the task
        const e = await rejection(running);
        assert.equal(e, reason, "rejects with the signal's reason itself");
        if (s.subprocess) {
          const pids = readPids(pidFile);
          assert.ok(pids.length >= 1 && pids.every((p) => p > 0 && p !== process.pid), String(pids));
          await waitFor(() => pids.every((p) => !alive(p)), 30_000, `processes ${pids.join(", ")} to end`);
        } else {
          // in this process the work cannot be killed; it must at least see the signal and its reason
          await waitFor(() => existsSync(marker), 30_000, "the task to see the abort");
          // and ctx.assertLive() throws the same reason from then on
          assert.equal(readFileSync(marker, "utf8"), `${reason.message}|not live: ${reason.message}`);
        }
      });

      test("an already aborted signal rejects with its reason without starting the task", async () => {
        const pidFile = join(scratch, `pid-${++seq}`);
        const a = attempt(s.ids.hang, { pidFile, marker: join(scratch, `marker-${seq}`) });
        const reason = timeoutReason();
        a.controller.abort(reason);
        assert.equal(await rejection(s.executor.run(a.run)), reason);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(existsSync(pidFile), false, "the task did not start");
      });
    });
  }

  describe("child process executor", { concurrency: true }, () => {
    test("a process that exits without a result fails the attempt with its exit code", async () => {
      const e = await rejection(childProcessExecutor.run(attempt("crash").run));
      assert.ok(isSluiceError(e, "TASK_FAILED"), e.message);
      assert.equal(e.message, 'task "crash": its process exited with code 3 before returning a result');
      assert.equal((e as SluiceError).details["exitCode"], 3);
    });

    test("running out of memory under memoryLimitMb fails the attempt, not this process", async () => {
      const a = attempt("oom");
      a.run.task = { ...a.run.task, memoryLimitMb: 64 };
      const e = await rejection(childProcessExecutor.run(a.run));
      assert.ok(isSluiceError(e, "TASK_FAILED"), e.message);
      assert.equal(e.message, 'task "oom": its process ran out of memory (memoryLimitMb 64)');
      // V8's report of the crash is kept in the attempt log
      assert.ok((await a.lines()).some((l) => l.level === "stderr" && /heap out of memory/i.test(l.msg)));
    });

    test("Buffers, typed arrays and Dates survive the trip to the child and back", async () => {
      const inputs = { buf: Buffer.from("héllo"), arr: new Float64Array([1.5, 2.5]), date: new Date("2030-05-06T00:00:00Z"), big: 2n ** 70n, map: new Map([["k", 1]]) };
      const out = (await childProcessExecutor.run(attempt("binary", inputs).run)) as Record<string, unknown>;
      assert.equal(out["isBuffer"], true, "a Buffer arrives as a Buffer");
      assert.equal(out["text"], "héllo");
      assert.equal(out["arrType"], "Float64Array");
      assert.equal(out["sum"], 4);
      assert.equal(out["year"], 2030);
      assert.ok(out["arr"] instanceof Float64Array && out["arr"][1] === 2.5);
      assert.ok(out["date"] instanceof Date && out["date"].getTime() === inputs.date.getTime());
      assert.ok(out["out"] instanceof Uint16Array && out["out"].join() === "7,8");
      assert.ok(Buffer.isBuffer(out["buf"]) && out["buf"].toString("utf8") === "héllo");
      assert.equal(out["big"], 2n ** 70n);
      assert.deepEqual(out["map"], new Map([["k", 1]]));
    });

    test("console output of the task lands in the attempt log as stdout/stderr lines", async () => {
      const a = attempt("console");
      assert.equal(await childProcessExecutor.run(a.run), 1);
      const lines = (await a.lines()).map((l) => [l.level, l.msg]);
      assert.deepEqual(lines.filter(([l]) => l === "stdout"), [["stdout", "to stdout"]]);
      assert.deepEqual(lines.filter(([l]) => l === "stderr"), [["stderr", "to stderr"]]);
    });

    test("a result that cannot cross the process boundary is a SERIALIZATION error", async () => {
      const e = await rejection(childProcessExecutor.run(attempt("unserialisable").run));
      assert.ok(isSluiceError(e, "SERIALIZATION"), `${e.name}: ${e.message}`);
      assert.match(e.message, /task "unserialisable" returned a value that cannot be stored/);
    });

    test("a child that ignores the abort (blocked event loop) is killed after the grace period", async () => {
      const pidFile = join(scratch, `pid-${++seq}`);
      const a = attempt("stubborn", { pidFile });
      const running = childProcessExecutor.run(a.run);
      running.catch(() => undefined);
      await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").length > 0, 60_000, "the task to start");
      const [pid] = readPids(pidFile);
      const reason = timeoutReason();
      a.controller.abort(reason);
      assert.equal(await rejection(running), reason);
      assert.equal(alive(pid!), true, "SIGTERM cannot stop it at once");
      await waitFor(() => !alive(pid!), 30_000, `process ${pid} to be killed`);
    });
  });

  describe("shell executor", { concurrency: true }, () => {
    test("shell: true runs the command through /bin/sh (pipes); the output is the last stdout line", async () => {
      const a = attempt("sh_pipe");
      assert.equal(await shellExecutor.run(a.run), "B");
      assert.deepEqual((await a.lines()).map((l) => l.msg), ["A", "B"]);
    });

    test("cwd is relative to the DAG file's folder", async () => {
      assert.equal(await shellExecutor.run(attempt("sh_cwd").run), join(sb.dags, "sub"));
    });

    test("the task's env is added to Sluice's SLUICE_* variables", async () => {
      assert.equal(await shellExecutor.run(attempt("sh_env").run), "hi -1");
    });

    test("a program that does not exist fails with \"command not found\"", async () => {
      const e = await rejection(shellExecutor.run(attempt("sh_missing").run));
      assert.ok(isSluiceError(e, "TASK_FAILED"), e.message);
      assert.match(e.message, /^task "sh_missing" \(sluice-no-such-program\): command not found: sluice-no-such-program$/);
    });
  });

  describe("python executor", { skip: noPython, concurrency: true }, () => {
    test("a missing interpreter fails with \"command not found\"", async () => {
      const e = await rejection(pythonExecutor.run(attempt("py_missing", { x: 1 }).run));
      assert.ok(isSluiceError(e, "TASK_FAILED"), e.message);
      assert.match(e.message, /command not found: \/nonexistent\/python9/);
    });

    test("the output is validated and parsed by its schema", async () => {
      assert.deepEqual(await pythonExecutor.run(attempt("py_schema").run), { auc: 0.93, tags: [] });
    });

    test("an output that does not match its schema fails the attempt naming the field", async () => {
      const e = await rejection(pythonExecutor.run(attempt("py_schema_bad").run));
      assert.ok(isSluiceError(e, "TASK_FAILED"), e.message);
      assert.match(e.message, /returned output that does not match its schema: auc: /);
    });

    test("no output file gives null; invalid JSON fails the attempt", async () => {
      assert.equal(await pythonExecutor.run(attempt("py_no_output").run), null);
      const e = await rejection(pythonExecutor.run(attempt("py_bad_json").run));
      assert.match(e.message, /wrote invalid JSON to \$SLUICE_OUTPUT/);
    });
  });
});
