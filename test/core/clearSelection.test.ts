import assert from "node:assert/strict";
import { test } from "node:test";
import { instancesToClear, tasksToClear, type ClearScope } from "../../src/core/clearSelection.js";
import { describeTry, quietAttemptLines } from "../../src/core/tries.js";

// a -> b -> d, a -> c -> d, e alone; b is mapped (two indexes)
const TASKS = [
  { id: "a", upstream: [], downstream: ["b", "c"] },
  { id: "b", upstream: ["a"], downstream: ["d"] },
  { id: "c", upstream: ["a"], downstream: ["d"] },
  { id: "d", upstream: ["b", "c"], downstream: [] },
  { id: "e", upstream: [], downstream: [] },
];
const TIS = [
  { taskId: "a", mapIndex: -1, state: "success" },
  { taskId: "b", mapIndex: 0, state: "success" },
  { taskId: "b", mapIndex: 1, state: "failed" },
  { taskId: "c", mapIndex: -1, state: "success" },
  { taskId: "d", mapIndex: -1, state: "upstream_failed" },
  { taskId: "e", mapIndex: -1, state: "failed" },
];
const keys = (scope: ClearScope) => instancesToClear(TASKS, TIS, scope).map((t) => `${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}`);

test("which instances a clear takes: Airflow's options", () => {
  const cases: [string, ClearScope, string[]][] = [
    ["the task alone", { taskIds: ["c"], downstream: false }, ["c"]],
    ["with downstream", { taskIds: ["a"], downstream: true }, ["a", "b[0]", "b[1]", "c", "d"]],
    ["with upstream", { taskIds: ["d"], downstream: false, upstream: true }, ["a", "b[0]", "b[1]", "c", "d"]],
    ["upstream of a middle task", { taskIds: ["c"], downstream: false, upstream: true }, ["a", "c"]],
    ["one map index; its downstream whole", { taskIds: ["b"], mapIndex: 1, downstream: true }, ["b[1]", "d"]],
    ["only failed (and upstream_failed), with downstream", { taskIds: ["a"], downstream: true, onlyFailed: true }, ["b[1]", "d"]],
    ["only failed of a task that succeeded: nothing", { taskIds: ["c"], downstream: false, onlyFailed: true }, []],
    ["several tasks", { taskIds: ["e", "c"], downstream: false }, ["c", "e"]],
  ];
  for (const [name, scope, expected] of cases) assert.deepEqual(keys(scope), expected, name);
});

test("the task ids a scope reaches are in DAG order, each once", () => {
  assert.deepEqual(tasksToClear(TASKS, { taskIds: ["d", "b"], downstream: true, upstream: true }), ["a", "b", "c", "d"]);
});

test("tries after a clear read as the round's attempt, with the overall try", () => {
  const cases: [number, number, number | null, string][] = [
    [1, 0, 2, "attempt 1 of 2"],
    [2, 0, 2, "attempt 2 of 2"],
    [3, 2, 2, "attempt 1 of 2 (try 3 overall)"],
    [4, 2, 2, "attempt 2 of 2 (try 4 overall)"],
    [1, 2, 2, "try 1 (before the last clear)"],
    [5, 4, null, "attempt 1 (try 5 overall)"],
  ];
  for (const [tryNumber, tryBase, max, expected] of cases) assert.equal(describeTry(tryNumber, tryBase, max), expected);
});

test("a quiet attempt's log is its start and end", () => {
  const lines = quietAttemptLines({ tryNumber: 2, tryBase: 1, maxTries: 1, state: "failed", hostname: "h", startedAt: 1000, endedAt: 1250, errorMessage: "boom" });
  assert.deepEqual(lines, [
    { t: 1000, level: "info", msg: "attempt 1 of 1 (try 2 overall) started on h (the task wrote no log lines)" },
    { t: 1250, level: "error", msg: "attempt 1 of 1 (try 2 overall) failed after 250 ms: boom" },
  ]);
  assert.equal(quietAttemptLines({ tryNumber: 1, tryBase: 0, maxTries: 1, state: "running", hostname: "h", startedAt: 1, endedAt: null, errorMessage: null }).length, 1);
});

test("one map index of a task in a mapped group: that index of the group's tasks after it, the reduce outside whole", () => {
  // g.a -> g.b -> r: g.a and g.b in mapped group g (two indexes), r outside
  const tasks = [
    { id: "g.a", upstream: [], downstream: ["g.b"], mapGroup: "g" },
    { id: "g.b", upstream: ["g.a"], downstream: ["r"], mapGroup: "g" },
    { id: "r", upstream: ["g.b"], downstream: [] },
  ];
  const tis = [
    { taskId: "g.a", mapIndex: 0, state: "success" },
    { taskId: "g.a", mapIndex: 1, state: "failed" },
    { taskId: "g.b", mapIndex: 0, state: "success" },
    { taskId: "g.b", mapIndex: 1, state: "upstream_failed" },
    { taskId: "r", mapIndex: -1, state: "upstream_failed" },
  ];
  const chosen = (scope: ClearScope) => instancesToClear(tasks, tis, scope).map((t) => `${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}`);
  assert.deepEqual(chosen({ taskIds: ["g.a"], mapIndex: 1, downstream: true }), ["g.a[1]", "g.b[1]", "r"]);
  assert.deepEqual(chosen({ taskIds: ["g.a"], downstream: true }), ["g.a[0]", "g.a[1]", "g.b[0]", "g.b[1]", "r"], "without a map index: every instance");
});
