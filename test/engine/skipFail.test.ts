/**
 * SkipTask and FailTask, Airflow's AirflowSkipException and AirflowFailException, through the real engine
 * and workers on a real SQLite file and a real PostgreSQL schema: in-process, in an `isolation: "process"`
 * child (the mark crosses IPC), and by exit code from shell and Python tasks (`skipOnExitCode`, default
 * 99). A skipped instance's downstream tasks follow their trigger rules; the reason is in the attempt's log
 * and in `runs show`. The recorded history is checked against the invariants (test/invariants.ts).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
// dist/, as the workers' heartbeat threads and task processes need built code
import { loadConfig } from "../../dist/config.js";
import { readWholeLog } from "../../dist/logs/logStore.js";
import { Sluice } from "../../dist/sluice.js";
import { dialects, suiteDatabase } from "../dialects.js";
import { cli, cliJson, sandbox } from "../helpers.js";
import { checkInvariants } from "../invariants.js";

const sb = sandbox("sluice-skipfail-");
after(() => sb.cleanup());

sb.write(
  "skip.py",
  `import sys
print("nothing new today", file=sys.stderr)
sys.exit(int(sys.argv[1]))
`,
);
sb.write(
  "skipfail.ts",
  `import { dag, SkipTask, FailTask } from "sluice";
export const inline = dag("skip_inline", (d) => {
  const check = d.task("check", { retries: 2, retryDelay: 0 }, async () => { throw new SkipTask("no new files"); });
  d.task("load", { inputs: { check } }, async () => "loaded");
  d.task("report", { after: [check], triggerRule: "all_done" }, async () => "reported");
  d.task("alarm", { after: [check], triggerRule: "one_failed" }, async () => "alarm");
});
export const child = dag("skip_child", (d) => {
  const check = d.task("check", { isolation: "process", retries: 2, retryDelay: 0 }, async () => {
    const { SkipTask } = await import("sluice");
    throw new SkipTask("no new files (child)");
  });
  d.task("load", { after: [check] }, async () => "loaded");
});
export const fail = dag("fail_now", (d) => {
  d.task("inline", { retries: 3, retryDelay: 0 }, async () => { throw new FailTask("the input is malformed"); });
  d.task("child", { retries: 3, retryDelay: 0, isolation: "process" }, async () => {
    const { FailTask } = await import("sluice");
    throw new FailTask("malformed (child)");
  });
});
export const shell = dag("skip_shell", (d) => {
  d.shell("default_99", { command: "exit 99", shell: true });
  d.shell("listed", { command: "exit 4", shell: true, skipOnExitCode: [3, 4] });
  d.shell("not_listed", { command: "exit 99", shell: true, skipOnExitCode: 3 });
  d.shell("none", { command: "exit 99", shell: true, skipOnExitCode: null });
  d.shell("zero", { command: "echo fine", shell: true });
});
export const python = dag("skip_python", (d) => {
  const py = d.python("py", { script: "skip.py", args: ["99"] });
  d.python("py_fail", { script: "skip.py", args: ["1"] });
  d.task("after_py", { after: [py] }, async () => "ran");
});
`,
);

for (const d of dialects(4)) {
  describe(`on ${d.name}`, { skip: d.skip }, () => {
    const dbUrl = suiteDatabase(d, sb.dir);
    const open = () => Sluice.open(loadConfig({ home: sb.home, dags: sb.dags, databaseUrl: dbUrl() }, { SLUICE_DB_POOL_SIZE: "4" }));
    const states = (r: { tasks: { taskId: string; mapIndex: number; state: string; attempts: number }[] }) =>
      Object.fromEntries(r.tasks.map((t) => [t.taskId, [t.state, t.attempts]]));

    test("SkipTask in process and in a child: skipped at once (no retry), downstream by trigger rule, reason in the log and runs show", async () => {
      const s = await open();
      try {
        assert.deepEqual(s.bag.errors, []);
        const run = await s.run("skip_inline");
        assert.deepEqual(states(run), {
          check: ["skipped", 1],
          load: ["skipped", 0],
          report: ["success", 1],
          alarm: ["skipped", 0],
        });
        assert.equal(run.state, "success", "skipped leaves do not fail the run");
        const [a, ...more] = await s.store.attempts.list(run.runId, "check");
        assert.equal(more.length, 0, "a skip uses no retry");
        assert.equal(a!.state, "skipped");
        assert.equal(a!.errorCode, "SKIPPED");
        assert.equal(a!.errorMessage, "no new files");
        const log = (await readWholeLog(s.engine.logs, { attemptId: a!.attemptId, dagId: "skip_inline", runId: run.runId, taskId: "check", mapIndex: -1, tryNumber: 1 })).map((l) => l.msg).join("\n");
        assert.match(log, /attempt 1 of \d+ skipped: no new files/, log);

        const c = await s.run("skip_child");
        assert.deepEqual(states(c), { check: ["skipped", 1], load: ["skipped", 0] });
        const [ca] = await s.store.attempts.list(c.runId, "check");
        assert.equal(ca!.state, "skipped");
        assert.equal(ca!.errorMessage, "no new files (child)");
        await checkInvariants(s.config.databaseUrl);
        // the CLI reads the same store: the reason is the task's state detail
        const env = { SLUICE_DATABASE_URL: dbUrl() };
        const shown = cliJson<{ tasks: { taskId: string; state: string; attempts: { state: string; errorMessage: string }[] }[] }>(sb, ["runs", "show", run.runId], env);
        const shownCheck = shown.json.tasks.find((t) => t.taskId === "check")!;
        assert.equal(shownCheck.state, "skipped");
        assert.equal(shownCheck.attempts[0]!.errorMessage, "no new files");
        const text = cli(sb, ["runs", "show", run.runId], env);
        assert.match(text.stdout, /check\s+skipped\s+1\s+\S+\s+skipped: no new files/, text.stdout);
      } finally {
        await s.close();
      }
    });

    test("FailTask: failed after one attempt whatever its retries, in process and in a child; dead-lettered as non-retryable", async () => {
      const s = await open();
      try {
        const run = await s.run("fail_now");
        assert.equal(run.state, "failed");
        assert.deepEqual(states(run), { inline: ["failed", 1], child: ["failed", 1] });
        const [a] = await s.store.attempts.list(run.runId, "inline");
        assert.equal(a!.errorMessage, "the input is malformed");
        const [b] = await s.store.attempts.list(run.runId, "child");
        assert.equal(b!.errorMessage, "malformed (child)");
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });

    test("shell: exit 99 skips by default; skipOnExitCode picks the codes (a number, a list, or null for none)", async () => {
      const s = await open();
      try {
        const run = await s.run("skip_shell");
        assert.deepEqual(states(run), {
          default_99: ["skipped", 1],
          listed: ["skipped", 1],
          not_listed: ["failed", 1],
          none: ["failed", 1],
          zero: ["success", 1],
        });
        const [a] = await s.store.attempts.list(run.runId, "listed");
        assert.match(a!.errorMessage ?? "", /exited with code 4: skipped \(skipOnExitCode\)/);
        assert.equal(a!.exitCode, 4);
        await checkInvariants(s.config.databaseUrl);
      } finally {
        await s.close();
      }
    });

    test("Python: sys.exit(99) skips the task (its downstream is skipped); another code fails it", async () => {
      const s = await open();
      try {
        const run = await s.run("skip_python");
        assert.deepEqual(states(run), { py: ["skipped", 1], py_fail: ["failed", 1], after_py: ["skipped", 0] });
        const log = (await readWholeLog(s.engine.logs, { attemptId: (await s.store.attempts.list(run.runId, "py"))[0]!.attemptId, dagId: "skip_python", runId: run.runId, taskId: "py", mapIndex: -1, tryNumber: 1 }))
          .map((l) => l.msg)
          .join("\n");
        assert.match(log, /nothing new today/, log);
        assert.match(log, /skipped: .*exited with code 99/, log);
      } finally {
        await s.close();
      }
    });
  });
}

test("sluice run prints a skip as a skip, with its reason, and exits 0", () => {
  const r = cli(sb, ["run", "skip_inline"]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /↷ check: skipped: no new files/);
  assert.doesNotMatch(r.stdout + r.stderr, /✗ check/);
});
