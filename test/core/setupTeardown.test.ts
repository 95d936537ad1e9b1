/**
 * Setup and teardown semantics against Airflow's (2.7+): the teardowns' trigger rule
 * (trigger_rule_dep.py ALL_DONE_SETUP_SUCCESS), the tasks that decide a run's state (dagrun.py
 * `_tis_for_dagrun_state`: effective leaves) and what a clear takes along (baseoperator.py
 * `get_upstreams_only_setups_and_teardowns`, dag.py `partial_subset`). Pure functions, table tests.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clearSet, effectiveLeaves } from "../../src/core/setupTeardown.js";
import { evaluateTriggerRule, type TriggerDecision } from "../../src/core/triggerRules.js";
import type { TaskSpec } from "../../src/core/dagSpec.js";
import { deriveRunState, type TaskState } from "../../src/core/states.js";

// [total upstream, success, failed, skipped, setups: total, success, skipped, expected]
type Row = [number, number, number, number, number, number, number, TriggerDecision];
const TABLE: Row[] = [
  // waits until everything upstream is done, whatever the setups did
  [3, 1, 0, 0, 1, 1, 0, "wait"],
  [3, 1, 1, 0, 1, 1, 0, "wait"],
  // work failed, setup succeeded: the teardown runs (the point of a teardown)
  [3, 1, 2, 0, 1, 1, 0, "run"],
  [3, 3, 0, 0, 1, 1, 0, "run"],
  // work skipped, setup succeeded: runs
  [3, 1, 0, 2, 1, 1, 0, "run"],
  // the setup failed (the work is upstream_failed): upstream_failed, nothing to release
  [2, 0, 2, 0, 1, 0, 0, "upstream_failed"],
  // every setup skipped: skipped
  [2, 0, 0, 2, 1, 0, 1, "skip"],
  [3, 0, 0, 3, 2, 0, 2, "skip"],
  // two setups, one succeeded: runs (Airflow: "if at least one setup ran, we'll let it run")
  [3, 1, 2, 0, 2, 1, 0, "run"],
  [3, 1, 1, 1, 2, 1, 1, "run"],
  // two setups, one failed and one skipped: none succeeded
  [3, 0, 2, 1, 2, 0, 1, "upstream_failed"],
];

describe("all_done_setup_success", () => {
  for (const [total, success, failed, skipped, st, ss, sk, expected] of TABLE) {
    test(`${success}/${failed}/${skipped} of ${total}, setups ${ss} success ${sk} skipped of ${st} -> ${expected}`, () => {
      assert.equal(evaluateTriggerRule("all_done_setup_success", { total, success, failed, skipped, setups: { total: st, success: ss, skipped: sk } }), expected);
    });
  }
});

const task = (id: string, upstream: string[], flags: Partial<Pick<TaskSpec, "setup" | "teardown" | "onFailureFailDagRun">> = {}) => ({ id, upstream, downstream: [] as string[], ...flags });
function graph(tasks: ReturnType<typeof task>[]) {
  for (const t of tasks) for (const u of t.upstream) tasks.find((x) => x.id === u)!.downstream.push(t.id);
  return new Map(tasks.map((t) => [t.id, t]));
}

// create >> [work_a, work_b] >> drop (teardown of create); work_b >> report
const dag = () =>
  graph([
    task("create", [], { setup: true }),
    task("work_a", ["create"]),
    task("work_b", ["create"]),
    task("report", ["work_b"]),
    task("drop", ["create", "work_a", "work_b"], { teardown: true }),
  ]);

describe("effectiveLeaves: the tasks whose states make the run's", () => {
  test("a teardown is not a leaf and does not hide the work before it", () => {
    assert.deepEqual(effectiveLeaves([...dag().values()]).sort(), ["report", "work_a"]);
  });
  test("with onFailureFailDagRun the teardown is a leaf and the work before it is not", () => {
    const g = dag();
    g.get("drop")!.onFailureFailDagRun = true;
    assert.deepEqual(effectiveLeaves([...g.values()]).sort(), ["drop", "report"]);
  });
  test("a DAG of teardowns only falls back to its plain leaves", () => {
    assert.deepEqual(effectiveLeaves([...graph([task("t", [], { teardown: true })]).values()]), ["t"]);
  });

  // The run state that follows (core/states.ts deriveRunState over the effective leaves), per Airflow.
  const cases: [string, Record<string, TaskState>, boolean, "success" | "failed"][] = [
    ["work failed, teardown ran", { work_a: "failed", report: "success", drop: "success" }, false, "failed"],
    ["only the teardown failed", { work_a: "success", report: "success", drop: "failed" }, false, "success"],
    ["only the teardown failed, onFailureFailDagRun", { work_a: "success", report: "success", drop: "failed" }, true, "failed"],
    ["setup failed: work upstream_failed", { work_a: "upstream_failed", report: "upstream_failed", drop: "upstream_failed" }, false, "failed"],
  ];
  for (const [name, states, fail, expected] of cases) {
    test(`${name} -> run ${expected}`, () => {
      const g = dag();
      if (fail) g.get("drop")!.onFailureFailDagRun = true;
      assert.equal(deriveRunState(effectiveLeaves([...g.values()]).map((id) => states[id] ?? "success")), expected);
    });
  }
});

describe("clearSet: what a clear takes along", () => {
  const rows: [string, string[], boolean, string[]][] = [
    ["a work task takes its setup and the setup's teardown", ["work_a"], false, ["create", "drop", "work_a"]],
    ["a work task downstream too", ["work_b"], true, ["create", "drop", "report", "work_b"]],
    ["a task after the teardown's scope: its setup's teardown is not downstream of it, so nothing more", ["report"], false, ["report"]],
    ["a setup alone takes its teardown", ["create"], false, ["create", "drop"]],
    ["a setup with downstream: everything", ["create"], true, ["create", "drop", "report", "work_a", "work_b"]],
    ["a teardown alone is itself", ["drop"], false, ["drop"]],
  ];
  for (const [name, ids, downstream, expected] of rows) {
    test(name, () => assert.deepEqual([...clearSet(dag(), ids, downstream)].sort(), expected));
  }
  test("a setup without teardowns is relevant to every task after it", () => {
    const g = graph([task("s", [], { setup: true }), task("w", ["s"]), task("x", ["w"])]);
    assert.deepEqual([...clearSet(g, ["x"], false)].sort(), ["s", "x"]);
  });
  test("plain DAGs clear as before", () => {
    const g = graph([task("a", []), task("b", ["a"]), task("c", ["b"])]);
    assert.deepEqual([...clearSet(g, ["b"], false)], ["b"]);
    assert.deepEqual([...clearSet(g, ["b"], true)].sort(), ["b", "c"]);
  });
});
