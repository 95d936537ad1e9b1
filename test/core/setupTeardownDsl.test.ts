/**
 * Bad input to d.setup / d.teardown and skipOnExitCode: a load-time error (INVALID_DAG) naming the DAG,
 * the task and the field; and what the spec holds (flags only where set, so other DAGs' versions stay).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { dag } from "../../src/dsl/dag.js";
import { cli, sandbox } from "../helpers.js";

// the type checker stops these in TypeScript; DAG files in JavaScript (or with casts) reach the checks
type Loose = any;

function rejects(build: () => unknown, pattern: RegExp, code = "INVALID_DAG"): void {
  assert.throws(build, (e: { code?: string; message?: string }) => {
    assert.equal(e.code, code, e.message);
    assert.match(e.message ?? "", pattern);
    return true;
  });
}

describe("setup and teardown: bad input", () => {
  test("a teardown without a setup", () => {
    rejects(() => dag("t1", (d) => { d.task("w", async () => 1); (d as Loose).teardown("drop", {}, async () => 1); }), /^DAG "t1", task "drop": a teardown needs the setup task\(s\).*setups: \[/);
    rejects(() => dag("t2", (d) => { (d as Loose).teardown("drop", { setups: [] }, async () => 1); }), /DAG "t2", task "drop": a teardown needs/);
  });
  test("a teardown whose setups name a task that is not a setup (not connected as setup and teardown)", () => {
    rejects(() => dag("t3", (d) => { const w = d.task("work", async () => 1); d.teardown("drop", { setups: w }, async () => 1); }), /^DAG "t3", task "drop": setups\[0\] is task "work", which is not a setup task; declare it with d\.setup/);
  });
  test("a teardown whose setup is in another DAG", () => {
    let foreign: unknown;
    dag("other", (d) => { foreign = d.setup("s", async () => 1); });
    rejects(() => dag("t4", (d) => { d.teardown("drop", { setups: foreign as Loose }, async () => 1); }), /DAG "t4", task "drop": setups\[0\] refers to task "s" of DAG "other"/, "FOREIGN_TASK");
  });
  test("unknown options, a trigger rule, a flag that is not a boolean", () => {
    rejects(() => dag("t5", (d) => { const s = d.setup("s", async () => 1); (d as Loose).teardown("drop", { setup: s }, async () => 1); }), /^DAG "t5", task "drop": unknown option "setup"/);
    rejects(() => dag("t6", (d) => { (d as Loose).setup("s", { retrys: 2 }, async () => 1); }), /^DAG "t6", task "s": unknown option "retrys"/);
    rejects(() => dag("t7", (d) => { const s = d.setup("s", async () => 1); (d as Loose).teardown("drop", { setups: s, triggerRule: "all_success" }, async () => 1); }), /^DAG "t7", task "drop": triggerRule cannot be set on a teardown/);
    rejects(() => dag("t8", (d) => { const s = d.setup("s", async () => 1); (d as Loose).teardown("drop", { setups: s, onFailureFailDagRun: "yes" }, async () => 1); }), /^DAG "t8", task "drop": onFailureFailDagRun must be true or false/);
  });
  test("a task right after a setup must run under all_success (Airflow's validate_setup_teardown)", () => {
    rejects(() => dag("t10", (d) => {
      const s = d.setup("s", async () => 1);
      d.task("w", { inputs: { s }, triggerRule: "all_done" }, async () => 1);
    }), /^DAG "t10", task "w": triggerRule "all_done" cannot follow setup task "s"/);
    // further down, any rule
    dag("t11", (d) => {
      const s = d.setup("s", async () => 1);
      const w = d.task("w", { inputs: { s } }, async () => 1);
      d.task("x", { after: [w], triggerRule: "all_done" }, async () => 1);
      d.teardown("t", { setups: s, after: [w] }, async () => 1);
    });
  });
  test("a teardown upstream of its own setup is a cycle", () => {
    rejects(() => dag("t9", (d) => {
      const s = d.setup("s", async () => 1);
      const t = d.teardown("drop", { setups: s }, async () => 1);
      d.edge(t, s);
    }), /DAG "t9" has a cycle/, "CYCLE");
  });
});

describe("skipOnExitCode: bad input", () => {
  for (const bad of ["99", 0, 256, 1.5, [99, "x"]]) {
    test(`${JSON.stringify(bad)}`, () => {
      rejects(() => dag("s1", (d) => { d.shell("sh", { command: "true", skipOnExitCode: bad as Loose }); }), /^DAG "s1", task "sh": skipOnExitCode must be an exit code from 1 to 255/);
    });
  }
});

describe("the spec", () => {
  test("flags where set, absent elsewhere; the teardown runs under all_done_setup_success after its setups", () => {
    const d = dag("flags", (b) => {
      const s = b.setup("s", async () => 1);
      const w = b.task("w", { inputs: { s } }, async () => 1);
      b.teardown("t", { setups: s, after: [w], onFailureFailDagRun: true }, async () => 1);
      b.shell("sh", { command: "true" });
      b.shell("sh2", { command: "true", skipOnExitCode: [4, 3, 4] });
      b.python("py", { script: "x.py", skipOnExitCode: null });
    });
    const by = new Map(d.spec.tasks.map((t) => [t.id, t]));
    assert.equal(by.get("s")!.setup, true);
    assert.equal(by.get("t")!.teardown, true);
    assert.equal(by.get("t")!.onFailureFailDagRun, true);
    assert.equal(by.get("t")!.triggerRule, "all_done_setup_success");
    assert.deepEqual(by.get("t")!.upstream, ["s", "w"]);
    for (const id of ["w", "sh"]) for (const k of ["setup", "teardown", "onFailureFailDagRun", "skipOnExitCode"]) assert.equal(k in by.get(id)!, false, `${id}.${k}`);
    assert.deepEqual(by.get("sh2")!.skipOnExitCode, [3, 4]);
    assert.deepEqual(by.get("py")!.skipOnExitCode, []);
  });
  test("a DAG without the new options keeps its version", () => {
    const build = (withDefault: boolean) =>
      dag("same", (b) => {
        b.shell("sh", withDefault ? { command: "true", skipOnExitCode: 99 } : { command: "true" });
      });
    assert.equal(build(true).version, build(false).version);
  });
});

describe("a DAG file with a bad teardown", () => {
  const sb = sandbox("sluice-setup-dsl-");
  after(() => sb.cleanup());
  test("dags list reports the file, the DAG, the task and the field, and exits 1", () => {
    sb.write("bad.ts", `import { dag } from "sluice";\nexport default dag("broken", (d) => { d.task("w", async () => 1); (d as any).teardown("drop", { after: [] }, async () => 1); });\n`);
    const r = cli(sb, ["dags", "list"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /bad\.ts.*DAG "broken", task "drop": a teardown needs the setup task\(s\).*setups/);
  });
});
