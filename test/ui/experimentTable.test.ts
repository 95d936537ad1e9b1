/** The comparison table's logic (ui/src/experimentTable.ts) and the chart's alignment (ui/src/chartData.ts), without a browser. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { alignSeries } from "../../ui/src/chartData.js";
import { cellValue, columnsOf, filterTrials, parseFilter, sortTrials, type Trial } from "../../ui/src/experimentTable.js";

const m = (last: number, min = last, max = last) => ({ last, min, max, points: 1 });
const trial = (runId: string, params: Record<string, unknown>, metrics: Trial["metrics"], tags: Record<string, string> = {}): Trial => ({
  runId,
  dagId: "d",
  createdAt: Number(runId.slice(1)),
  taskId: "fit",
  mapIndex: -1,
  params,
  metrics,
  tags,
});
const trials = [
  trial("r1", { lr: 0.1, optimizer: "adam" }, { accuracy: m(0.91), loss: m(0.3, 0.1, 2) }, { team: "vision" }),
  trial("r2", { lr: 0.01, optimizer: "sgd" }, { accuracy: m(0.85), loss: m(0.5, 0.4, 1) }),
  trial("r3", { lr: 0.001, optimizer: "adam" }, { loss: m(0.2, 0.2, 3) }, { team: "nlp" }),
];
const ids = (ts: Trial[]) => ts.map((t) => t.runId);

test("columns: run, task, each param, each metric × last/min/max, each tag", () => {
  assert.deepEqual(
    columnsOf(trials).map((c) => c.key),
    ["run", "task", "p:lr", "p:optimizer", "m:last:accuracy", "m:min:accuracy", "m:max:accuracy", "m:last:loss", "m:min:loss", "m:max:loss", "t:team"],
  );
});

test("sorting: numbers numerically, missing values last in both directions", () => {
  const cols = columnsOf(trials);
  const acc = cols.find((c) => c.key === "m:last:accuracy");
  assert.deepEqual(ids(sortTrials(trials, acc, "desc")), ["r1", "r2", "r3"]);
  assert.deepEqual(ids(sortTrials(trials, acc, "asc")), ["r2", "r1", "r3"]);
  const lossMax = cols.find((c) => c.key === "m:max:loss");
  assert.deepEqual(ids(sortTrials(trials, lossMax, "desc")), ["r3", "r1", "r2"]);
  assert.deepEqual(ids(sortTrials(trials, cols.find((c) => c.key === "p:lr"), "asc")), ["r3", "r2", "r1"]);
  assert.equal(cellValue(trials[2]!, acc!), undefined);
});

test("the filter: numeric conditions on metrics (last, .min, .max) and params, text on params and tags, words", () => {
  const f = (text: string) => ids(filterTrials(trials, parseFilter(text)));
  assert.deepEqual(f("accuracy > 0.9"), ["r1"]);
  assert.deepEqual(f("accuracy>=0.85"), ["r1", "r2"]);
  assert.deepEqual(f("loss.min < 0.3"), ["r1", "r3"]);
  assert.deepEqual(f("loss.max >= 2 optimizer=adam"), ["r1", "r3"]);
  assert.deepEqual(f("lr < 0.05"), ["r2", "r3"]);
  assert.deepEqual(f("optimizer != adam"), ["r2"]);
  assert.deepEqual(f("team=nlp"), ["r3"]);
  assert.deepEqual(f("vision"), ["r1"]);
  assert.deepEqual(f("ADAM"), ["r1", "r3"]);
  assert.deepEqual(f("accuracy > 0.8 nlp"), [], "r3 tracked no accuracy");
  assert.deepEqual(f(""), ["r1", "r2", "r3"]);
  assert.deepEqual(parseFilter('note="a b" x').conditions, [{ name: "note", stat: null, op: "=", value: "a b" }]);
});

test("alignment for the chart: the union of steps when small, a bucket grid keeping each bucket's low and high when large", () => {
  const [xs, a, b] = alignSeries([
    { steps: [0, 1, 2], values: [3, 2, 1] },
    { steps: [1, 3], values: [5, 6] },
  ]);
  assert.deepEqual(xs, [0, 1, 2, 3]);
  assert.deepEqual(a, [3, 2, 1, null]);
  assert.deepEqual(b, [null, 5, null, 6]);
  const steps = Array.from({ length: 10_000 }, (_, i) => i);
  const values = steps.map((i) => (i === 6000 ? 100 : 1));
  const big = alignSeries([{ steps, values }, { steps: steps.map((s) => s * 2), values }], 200);
  assert.equal(big[0].length, 200);
  assert.equal(big.length, 3);
  assert.equal(Math.max(...big[1]!.map((v) => v ?? 0)), 100, "the spike survives");
  assert.equal(Math.max(...big[2]!.map((v) => v ?? 0)), 100, "in the other series too");
});
