/** The model registry's pure rules (core/promotion.ts): gate verdicts, rollback targets, names. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkAlias, checkModelName, checkRules, compareWithChampion, describeComparison, rollbackTarget, type AliasMove } from "../../src/core/promotion.js";

const rules = checkRules("gate", { accuracy: { notWorseBy: 0.005 }, latency_p95: { max: 120 } });

test("a gate compares with the champion: notWorseBy relative, min/max absolute", () => {
  const champ: { version: number; metrics: Record<string, number> } = { version: 3, metrics: { accuracy: 0.9, latency_p95: 100 } };
  const cases: [Record<string, number>, typeof champ | null, boolean, boolean[]][] = [
    [{ accuracy: 0.9, latency_p95: 110 }, champ, true, [true, true]],
    [{ accuracy: 0.8951, latency_p95: 110 }, champ, true, [true, true]], // within 0.005
    [{ accuracy: 0.895, latency_p95: 110 }, champ, true, [true, true]], // exactly at the bound
    [{ accuracy: 0.894, latency_p95: 110 }, champ, false, [false, true]],
    [{ accuracy: 0.95, latency_p95: 121 }, champ, false, [true, false]],
    [{ latency_p95: 10 }, champ, false, [false, true]], // the candidate lacks a metric
    [{ accuracy: 0.1, latency_p95: 10 }, null, true, [true, true]], // no champion: relative rules pass
    [{ accuracy: 0.1, latency_p95: 500 }, null, false, [true, false]], // absolute bounds still apply
    [{ accuracy: 0.1, latency_p95: 10 }, { version: 1, metrics: {} }, true, [true, true]], // champion without the metric
  ];
  for (const [cand, ch, passed, each] of cases) {
    const r = compareWithChampion(rules, cand, ch);
    assert.equal(r.passed, passed, JSON.stringify(cand));
    assert.deepEqual(r.checks.map((c) => c.passed), each, JSON.stringify(cand));
  }
  const lower = compareWithChampion(checkRules("g", { loss: { notWorseBy: 0.1, lowerIsBetter: true } }), { loss: 0.55 }, { version: 1, metrics: { loss: 0.5 } });
  assert.equal(lower.passed, true);
  assert.equal(compareWithChampion(checkRules("g", { loss: { notWorseBy: 0.01, lowerIsBetter: true } }), { loss: 0.55 }, { version: 1, metrics: { loss: 0.5 } }).passed, false);
});

test("the verdict names each metric, candidate, champion and threshold", () => {
  const r = compareWithChampion(rules, { accuracy: 0.8, latency_p95: 130 }, { version: 3, metrics: { accuracy: 0.9, latency_p95: 100 } });
  const text = describeComparison("spam", "champion", 4, r);
  assert.match(text, /model "spam" version 4 fails the gate for alias "champion" \(champion: version 3\)/);
  assert.match(text, /FAIL accuracy: candidate 0\.8, champion 0\.9, threshold ≥ champion − 0\.005 \(0\.895\)/);
  assert.match(text, /FAIL latency_p95: candidate 130, champion 100, threshold ≤ 120/);
});

test("bad rules are refused at load, naming the metric", () => {
  assert.throws(() => checkRules("dag x, task gate", { acc: { notWorseBy: "0.1" } }), /compare\.acc\.notWorseBy must be a finite number/);
  assert.throws(() => checkRules("g", { acc: { atLeast: 1 } }), /compare\.acc\.atLeast is not a rule/);
  assert.throws(() => checkRules("g", { acc: {} }), /compare\.acc has no rule/);
  assert.throws(() => checkRules("g", []), /"compare" must be an object/);
});

test("rollback undoes moves one at a time, skipping what earlier rollbacks undid", () => {
  const p = (from: number | null, to: number): AliasMove => ({ fromVersion: from, toVersion: to, kind: "promote" });
  const r = (from: number, to: number): AliasMove => ({ fromVersion: from, toVersion: to, kind: "rollback" });
  // newest first
  assert.equal(rollbackTarget([p(2, 3), p(1, 2), p(null, 1)]), 2);
  assert.equal(rollbackTarget([r(3, 2), p(2, 3), p(1, 2), p(null, 1)]), 1);
  assert.equal(rollbackTarget([r(2, 1), r(3, 2), p(2, 3), p(1, 2), p(null, 1)]), null);
  assert.equal(rollbackTarget([p(1, 4), r(3, 1), p(1, 3), p(null, 1)]), 1);
  assert.equal(rollbackTarget([p(null, 1)]), null);
  assert.equal(rollbackTarget([]), null);
});

test("names and aliases", () => {
  assert.equal(checkModelName("w", "spam.v2-x_y"), "spam.v2-x_y");
  for (const bad of ["", ".x", "-x", "a b", "a/b", 3]) assert.throws(() => checkModelName("w", bad), /model name/);
  assert.equal(checkAlias("w", "champion"), "champion");
  for (const bad of ["latest", "v3", "V12", "a.b", "", "x y"]) assert.throws(() => checkAlias("w", bad), /alias/);
});
