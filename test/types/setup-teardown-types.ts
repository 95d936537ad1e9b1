/**
 * Type tests of d.setup / d.teardown, SkipTask / FailTask and skipOnExitCode (compiled by
 * test/types.test.ts, not run). Lines under `// @ts-expect-error` must NOT compile.
 */
import { dag, FailTask, SkipTask, type TaskRef } from "../../src/index.js";
import { SkipTask as RuntimeSkipTask } from "../../src/runtime.js";

type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;
declare function assertEqual<A, B>(...ok: Equal<A, B> extends true ? [] : [never]): void;

dag("setup_teardown", (d) => {
  // a setup is typed like a task: its output flows on
  const table = d.setup("create", async () => "scratch_1");
  assertEqual<typeof table, TaskRef<string>>();
  const withOptions = d.setup("create2", { retries: 2 }, async () => 1);
  assertEqual<typeof withOptions, TaskRef<number>>();
  const rows = d.map("load", { over: { n: [1, 2] }, inputs: { table } }, async ({ table, n }) => `${table}:${n}`);

  // a teardown's inputs may be missing (the work before it may have failed): T | undefined
  const dropped = d.teardown("drop", { setups: table, inputs: { table, rows } }, async ({ table, rows }) => {
    assertEqual<typeof table, string | undefined>();
    assertEqual<typeof rows, string[] | undefined>();
    return true;
  });
  assertEqual<typeof dropped, TaskRef<boolean>>();
  d.teardown("drop_all", { setups: [table, withOptions], after: [rows], onFailureFailDagRun: true }, async () => undefined);

  // @ts-expect-error — a teardown needs its setups
  d.teardown("no_setups", { after: [rows] }, async () => undefined);
  // @ts-expect-error — a teardown's trigger rule is not settable
  d.teardown("ruled", { setups: table, triggerRule: "all_success" }, async () => undefined);
  // @ts-expect-error — onFailureFailDagRun is a boolean
  d.teardown("bad_flag", { setups: table, onFailureFailDagRun: "yes" }, async () => undefined);
  // @ts-expect-error — setups are task handles, not ids
  d.teardown("by_id", { setups: "create" }, async () => undefined);

  // skipOnExitCode: a code, a list of codes, or null
  d.shell("skip_default", { command: "true" });
  d.shell("skip_list", { command: "true", skipOnExitCode: [3, 4] });
  d.python("skip_none", { script: "x.py", skipOnExitCode: null });
  // @ts-expect-error — not a string
  d.shell("skip_string", { command: "true", skipOnExitCode: "99" });
});

// SkipTask and FailTask take a reason; FailTask is a NonRetryableError; the runtime entry exports the same class
const skip = new SkipTask("no new files");
assertEqual<typeof skip.skipTask, true>();
assertEqual<typeof RuntimeSkipTask, typeof SkipTask>();
const fail = new FailTask("malformed", { cause: new Error("x") });
assertEqual<typeof fail.nonRetryable, true>();
// @ts-expect-error — a skip says why
new SkipTask();
