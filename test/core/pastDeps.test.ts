/**
 * Depending on the past: the rules (core/pastDeps.ts, Airflow's PrevDagrunDep) as a table, and the DSL's
 * load-time checks of dependsOnPast, waitForDownstream and ignoreFirstDependsOnPast.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pastDepsMet, type PastDeps, type PastFacts } from "../../src/core/pastDeps.js";
import { dag } from "../../src/dsl/dag.js";
import { SluiceError } from "../../src/errors.js";

const prev = { runId: "r1", logicalDate: Date.UTC(2026, 0, 1) };
const facts = (o: Partial<PastFacts>): PastFacts => ({ firstInBackfill: false, previous: prev, task: ["success"], downstream: [], ...o });
const on: PastDeps = { dependsOnPast: true };
const wfd: PastDeps = { dependsOnPast: true, waitForDownstream: true };
const ignoreFirst: PastDeps = { dependsOnPast: true, ignoreFirstDependsOnPast: true };

describe("pastDepsMet (Airflow's PrevDagrunDep)", () => {
  const rows: [string, PastDeps, Partial<PastFacts>, boolean, RegExp][] = [
    ["off: always met", {}, { task: ["failed"] }, true, /does not depend on the past/],
    ["the DAG's first run", on, { previous: null }, true, /first run of the DAG/],
    ["the first run of a backfill", on, { firstInBackfill: true, task: ["failed"] }, true, /first run of a backfill/],
    ["previous instance succeeded", on, { task: ["success"] }, true, /succeeded or was skipped/],
    ["previous instance skipped", on, { task: ["skipped"] }, true, /succeeded or was skipped/],
    ["previous instance failed", on, { task: ["failed"] }, false, /task "t" in the previous run r1 \(2026-01-01T00:00:00\.000Z\) is failed, not success or skipped \(dependsOnPast\)/],
    ["previous instance upstream_failed", on, { task: ["upstream_failed"] }, false, /is upstream_failed/],
    ["previous instance still running", on, { task: ["running"] }, false, /is running/],
    ["previous instance not started", on, { task: ["none"] }, false, /is none/],
    ["a mapped task: every map index must be done", on, { task: ["success", "failed", "failed", "skipped"] }, false, /is 2× failed/],
    ["a mapped task, all done", on, { task: ["success", "skipped", "success"] }, true, /succeeded/],
    ["the previous run has no such task: waits (Airflow)", on, { task: [] }, false, /has no task "t" \(set ignoreFirstDependsOnPast/],
    ["... unless ignoreFirstDependsOnPast", ignoreFirst, { task: [] }, true, /ignoreFirstDependsOnPast is set/],
    ["ignoreFirstDependsOnPast does not skip a failed previous instance", ignoreFirst, { task: ["failed"] }, false, /is failed/],
    ["waitForDownstream: downstream done", wfd, { downstream: ["success", "skipped"] }, true, /succeeded/],
    ["waitForDownstream: a downstream instance running", wfd, { downstream: ["success", "running"] }, false, /tasks downstream of "t" in the previous run r1 .* are running \(waitForDownstream\)/],
    ["waitForDownstream: the task itself first", wfd, { task: ["failed"], downstream: ["running"] }, false, /task "t" in the previous run r1 .* is failed/],
    ["dependsOnPast alone ignores downstream", on, { downstream: ["failed"] }, true, /succeeded/],
  ];
  for (const [name, deps, f, met, why] of rows) {
    test(name, () => {
      const d = pastDepsMet(deps, "t", facts(f));
      assert.equal(d.met, met);
      assert.match(d.why, why);
      if (!d.met) assert.match(d.why, /^waiting for the past: /);
    });
  }
});

describe("the DSL's options", () => {
  const specOf = (o: Record<string, unknown>, dagOptions: Record<string, unknown> = { schedule: "@daily" }) =>
    dag("p", dagOptions, (d) => void d.task("t", o, async () => 1)).spec.tasks[0]!;

  test("absent when off (specs and versions of other tasks stay as they were)", () => {
    const t = specOf({});
    assert.ok(!("dependsOnPast" in t) && !("waitForDownstream" in t) && !("ignoreFirstDependsOnPast" in t));
  });

  test("waitForDownstream implies dependsOnPast; ignoreFirstDependsOnPast only with it", () => {
    const t = specOf({ waitForDownstream: true });
    assert.equal(t.dependsOnPast, true);
    assert.equal(t.waitForDownstream, true);
    assert.ok(!("ignoreFirstDependsOnPast" in specOf({ ignoreFirstDependsOnPast: true })));
    assert.equal(specOf({ dependsOnPast: true, ignoreFirstDependsOnPast: true }).ignoreFirstDependsOnPast, true);
  });

  test("from the DAG's defaults (Airflow's default_args)", () => {
    assert.equal(specOf({}, { schedule: "@daily", defaults: { dependsOnPast: true } }).dependsOnPast, true);
  });

  const errors: [string, () => unknown, RegExp, Record<string, unknown>][] = [
    [
      "dependsOnPast in a DAG without a time schedule",
      () => dag("manual", (d) => void d.task("t", { dependsOnPast: true }, async () => 1)),
      /^DAG "manual", task "t": dependsOnPast needs a DAG with a time schedule/,
      { dagId: "manual", taskId: "t", field: "dependsOnPast" },
    ],
    [
      "waitForDownstream in an asset-scheduled DAG",
      () => dag("onAssets", { schedule: { assets: { anyOf: ["x"] } } }, (d) => void d.task("t", { waitForDownstream: true }, async () => 1)),
      /^DAG "onAssets", task "t": waitForDownstream needs a DAG with a time schedule/,
      { dagId: "onAssets", taskId: "t", field: "waitForDownstream" },
    ],
    [
      "a non-boolean",
      () => dag("bad", { schedule: "@daily" }, (d) => void d.task("t", { dependsOnPast: "yes" } as never, async () => 1)),
      /^DAG "bad", task "t": dependsOnPast must be true or false/,
      { field: "dependsOnPast" },
    ],
  ];
  for (const [name, fn, message, details] of errors) {
    test(`load-time error: ${name}`, () => {
      assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof SluiceError);
        assert.equal(e.code, "INVALID_DAG");
        assert.match(e.message, message);
        for (const [k, v] of Object.entries(details)) assert.equal((e.details as Record<string, unknown>)[k], v);
        return true;
      });
    });
  }
});
