/**
 * Trigger rules against Airflow's semantics (airflow/ti_deps/deps/trigger_rule_dep.py): a task is decided
 * as soon as the outcome is known — for some rules before every upstream task has finished.
 * Rows: [rule, total, success, failed, skipped, expected decision].
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { evaluateTriggerRule, isTriggerRule, TRIGGER_RULES, type TriggerDecision, type TriggerRule } from "../../src/core/triggerRules.js";

type Row = [TriggerRule, number, number, number, number, TriggerDecision];

const TABLE: Row[] = [
  // all_success: upstream_failed on the first failure (even with skips), skipped on the first skip.
  ["all_success", 3, 0, 0, 0, "wait"],
  ["all_success", 3, 2, 0, 0, "wait"],
  ["all_success", 3, 3, 0, 0, "run"],
  ["all_success", 3, 0, 1, 0, "upstream_failed"],
  ["all_success", 3, 2, 1, 0, "upstream_failed"],
  ["all_success", 3, 0, 0, 1, "skip"],
  ["all_success", 3, 2, 0, 1, "skip"],
  ["all_success", 3, 1, 1, 1, "upstream_failed"],
  // all_failed: skipped as soon as one upstream succeeded or was skipped.
  ["all_failed", 2, 0, 1, 0, "wait"],
  ["all_failed", 2, 0, 2, 0, "run"],
  ["all_failed", 2, 1, 0, 0, "skip"],
  ["all_failed", 2, 0, 0, 1, "skip"],
  ["all_failed", 2, 1, 1, 0, "skip"],
  // all_done: runs once everything finished, whatever the outcome.
  ["all_done", 3, 1, 1, 0, "wait"],
  ["all_done", 3, 1, 1, 1, "run"],
  ["all_done", 3, 0, 3, 0, "run"],
  ["all_done", 3, 0, 0, 3, "run"],
  // all_done_setup_success without setups upstream: like all_done (its setup cases: test/core/setupTeardown.test.ts).
  ["all_done_setup_success", 3, 1, 1, 0, "wait"],
  ["all_done_setup_success", 3, 0, 3, 0, "run"],
  // all_skipped: skipped as soon as one upstream succeeded or failed.
  ["all_skipped", 2, 0, 0, 1, "wait"],
  ["all_skipped", 2, 0, 0, 2, "run"],
  ["all_skipped", 2, 1, 0, 0, "skip"],
  ["all_skipped", 2, 0, 1, 0, "skip"],
  // one_success: runs on the first success; all skipped -> skipped; all done without success -> upstream_failed.
  ["one_success", 3, 0, 0, 0, "wait"],
  ["one_success", 3, 1, 0, 0, "run"],
  ["one_success", 3, 1, 1, 0, "run"],
  ["one_success", 3, 0, 2, 0, "wait"],
  ["one_success", 3, 0, 1, 1, "wait"],
  ["one_success", 3, 0, 0, 3, "skip"],
  ["one_success", 3, 0, 1, 2, "upstream_failed"],
  ["one_success", 3, 0, 3, 0, "upstream_failed"],
  // one_failed: runs on the first failure; all done without a failure -> skipped.
  ["one_failed", 3, 0, 1, 0, "run"],
  ["one_failed", 3, 2, 0, 0, "wait"],
  ["one_failed", 3, 2, 0, 1, "skip"],
  ["one_failed", 3, 0, 0, 3, "skip"],
  // one_done: runs on the first success or failure; all skipped -> skipped. (Only real failures count:
  // see the upstream_failed cases below.)
  ["one_done", 3, 1, 0, 0, "run"],
  ["one_done", 3, 0, 1, 0, "run"],
  ["one_done", 3, 0, 0, 2, "wait"],
  ["one_done", 3, 0, 0, 3, "skip"],
  // none_failed: upstream_failed on the first failure; otherwise runs when all done (skips are fine).
  ["none_failed", 3, 1, 0, 1, "wait"],
  ["none_failed", 3, 2, 0, 1, "run"],
  ["none_failed", 3, 0, 0, 3, "run"],
  ["none_failed", 3, 0, 1, 0, "upstream_failed"],
  ["none_failed", 3, 1, 1, 1, "upstream_failed"],
  // none_failed_min_one_success: like none_failed, but all skipped -> skipped.
  ["none_failed_min_one_success", 3, 1, 0, 0, "wait"],
  ["none_failed_min_one_success", 3, 1, 0, 2, "run"],
  ["none_failed_min_one_success", 3, 3, 0, 0, "run"],
  ["none_failed_min_one_success", 3, 0, 0, 3, "skip"],
  ["none_failed_min_one_success", 3, 0, 1, 0, "upstream_failed"],
  ["none_failed_min_one_success", 3, 1, 1, 1, "upstream_failed"],
  // none_skipped: skipped on the first skip; otherwise runs when all done (failures are fine).
  ["none_skipped", 3, 1, 0, 0, "wait"],
  ["none_skipped", 3, 0, 0, 1, "skip"],
  ["none_skipped", 3, 2, 1, 0, "run"],
  ["none_skipped", 3, 0, 3, 0, "run"],
  // always: runs at once.
  ["always", 3, 0, 0, 0, "run"],
  ["always", 3, 0, 3, 0, "run"],
];

describe("upstream_failed parents", () => {
  // Airflow counts upstream_failed with failed for every rule except one_done, which needs a parent that
  // itself succeeded or failed.
  test("one_done waits on upstream_failed parents and skips when nothing else ran", () => {
    assert.equal(evaluateTriggerRule("one_done", { total: 2, success: 0, failed: 1, upstreamFailed: 1, skipped: 0 }), "wait");
    assert.equal(evaluateTriggerRule("one_done", { total: 2, success: 0, failed: 2, upstreamFailed: 2, skipped: 0 }), "skip");
    assert.equal(evaluateTriggerRule("one_done", { total: 2, success: 0, failed: 2, upstreamFailed: 1, skipped: 0 }), "run");
  });
  test("one_failed and all_failed count upstream_failed as failed", () => {
    assert.equal(evaluateTriggerRule("one_failed", { total: 2, success: 0, failed: 1, upstreamFailed: 1, skipped: 0 }), "run");
    assert.equal(evaluateTriggerRule("all_failed", { total: 2, success: 0, failed: 2, upstreamFailed: 2, skipped: 0 }), "run");
    assert.equal(evaluateTriggerRule("all_success", { total: 2, success: 1, failed: 1, upstreamFailed: 1, skipped: 0 }), "upstream_failed");
  });
});

describe("evaluateTriggerRule", () => {
  for (const [rule, total, success, failed, skipped, expected] of TABLE) {
    test(`${rule} with ${success} success / ${failed} failed / ${skipped} skipped of ${total} -> ${expected}`, () => {
      assert.equal(evaluateTriggerRule(rule, { total, success, failed, skipped }), expected);
    });
  }

  test("the table covers every rule", () => {
    assert.deepEqual(new Set(TABLE.map((r) => r[0])), new Set(TRIGGER_RULES));
  });

  test("a task without upstream tasks runs under every rule (Airflow: the dependency passes)", () => {
    for (const rule of TRIGGER_RULES) {
      assert.equal(evaluateTriggerRule(rule, { total: 0, success: 0, failed: 0, skipped: 0 }), "run", rule);
    }
  });

  // Every way `total` upstream tasks can have ended so far.
  function* counts(total: number) {
    for (let success = 0; success <= total; success++)
      for (let failed = 0; success + failed <= total; failed++)
        for (let skipped = 0; success + failed + skipped <= total; skipped++) yield { total, success, failed, skipped };
  }

  test("once every upstream task has ended, no rule waits", () => {
    for (const rule of TRIGGER_RULES)
      for (let total = 1; total <= 4; total++)
        for (const c of counts(total)) {
          if (c.success + c.failed + c.skipped !== total) continue;
          assert.notEqual(evaluateTriggerRule(rule, c), "wait", `${rule} ${JSON.stringify(c)}`);
        }
  });

  test("an early decision agrees with every way the remaining upstream tasks can end", () => {
    // The engine decides on the first conclusive end and ignores later ones, so a decision made early must
    // not flip between running and not running however the rest ends (which non-run state it is may
    // depend on the order, as in Airflow: all_success sees a skip before a later failure).
    for (const rule of TRIGGER_RULES)
      for (let total = 1; total <= 4; total++)
        for (const c of counts(total)) {
          const early = evaluateTriggerRule(rule, c);
          if (early === "wait") continue;
          const left = total - c.success - c.failed - c.skipped;
          for (const rest of counts(left)) {
            if (rest.success + rest.failed + rest.skipped !== left) continue;
            const final = evaluateTriggerRule(rule, {
              total,
              success: c.success + rest.success,
              failed: c.failed + rest.failed,
              skipped: c.skipped + rest.skipped,
            });
            assert.equal(final === "run", early === "run", `${rule}: ${JSON.stringify(c)} -> ${early}, then ${JSON.stringify(rest)} -> ${final}`);
          }
        }
  });
});

test("isTriggerRule accepts exactly the known rules", () => {
  for (const rule of TRIGGER_RULES) assert.equal(isTriggerRule(rule), true);
  for (const bad of ["", "ALL_SUCCESS", "all_done_setup", "sometimes", 1, null, undefined]) assert.equal(isTriggerRule(bad), false, String(bad));
});
