import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { branchFollows, branchKeeps, decisionSkips, groupRoots } from "../../src/core/branching.js";
import { finalizeTasks, type TaskSpec } from "../../src/core/dagSpec.js";
import { SluiceError } from "../../src/errors.js";

/** A spec's tasks from `id: [upstream…]` (in group `group` when the id has a dot). */
function tasks(graph: Record<string, string[]>, kinds: Record<string, TaskSpec["kind"]> = {}): TaskSpec[] {
  return finalizeTasks(
    "t",
    Object.entries(graph).map(([id, upstream]) => ({
      id,
      kind: kinds[id] ?? "task",
      group: id.includes(".") ? id.slice(0, id.lastIndexOf(".")) : "",
      upstream,
      downstream: [],
      inputs: {},
      map: null,
      triggerRule: "all_success",
      retry: { retries: 0, retryDelayMs: 0, backoff: "fixed", maxRetryDelayMs: null, jitter: 0 },
      timeoutMs: null,
      isolation: "inline",
      memoryLimitMb: null,
      queue: "default",
      pool: null,
      priority: 0,
      owner: null,
      description: null,
      respectTriggerRules: false,
      command: null,
    })),
  );
}

const byId = (ts: TaskSpec[]) => new Map(ts.map((t) => [t.id, t]));

describe("branchKeeps (Airflow's skip_all_except)", () => {
  // branch -> task1 -> join, branch -> join, branch -> other
  const ts = tasks({ branch: [], task1: ["branch"], other: ["branch"], join: ["branch", "task1"], deep: ["task1"] });
  const branch = byId(ts).get("branch")!;
  const table: [string, string[], string[]][] = [
    ["following task1 keeps join (downstream of task1)", ["task1"], ["join", "task1"]],
    ["following join keeps only join", ["join"], ["join"]],
    ["following other keeps only other", ["other"], ["other"]],
    ["following nothing keeps nothing", [], []],
    ["following several keeps their union", ["other", "task1"], ["join", "other", "task1"]],
  ];
  for (const [what, follows, kept] of table) {
    test(what, () => assert.deepEqual([...branchKeeps(byId(ts), branch, follows)].sort(), kept));
  }
});

describe("branchFollows", () => {
  const ts = tasks({ branch: [], a: ["branch"], "g.x": ["branch"], "g.y": ["branch"], "g.z": ["g.x", "g.y"], "g.in.r": ["branch"], far: ["a"] });
  const spec = { id: "d", groups: [{ id: "g", description: null }, { id: "g.in", description: null }, { id: "h", description: null }], tasks: ts };
  const branch = byId(ts).get("branch")!;
  const table: [string, unknown, string[]][] = [
    ["an id", "a", ["a"]],
    ["a handle", { id: "a", dagId: "d" }, ["a"]],
    ["null: none", null, []],
    ["undefined: none", undefined, []],
    ["a group: its roots (nested groups too)", "g", ["g.in.r", "g.x", "g.y"]],
    ["a nested group", "g.in", ["g.in.r"]],
    ["a list of both, without duplicates", ["g", "a", "g.x"], ["a", "g.in.r", "g.x", "g.y"]],
  ];
  for (const [what, value, follows] of table) {
    test(what, () => assert.deepEqual(branchFollows(spec, branch, value).sort(), follows));
  }

  test("inside a group, a sibling's local id", () => {
    const inner = tasks({ "g.pick": [], "g.left": ["g.pick"], "g.right": ["g.pick"] });
    const gspec = { id: "d", groups: [{ id: "g", description: null }], tasks: inner };
    assert.deepEqual(branchFollows(gspec, byId(inner).get("g.pick")!, "left"), ["g.left"]);
  });

  for (const bad of ["nope", "far", "g.z", "h", 7]) {
    test(`${JSON.stringify(bad)} (not a direct downstream task nor a group after the branch) is an error naming DAG, task and id`, () => {
      assert.throws(
        () => branchFollows(spec, branch, ["a", bad]),
        (e: unknown) => e instanceof SluiceError && e.code === "TASK_FAILED" && e.message.startsWith(`DAG "d": branch "branch" returned ${JSON.stringify(bad)}, which is neither`) && e.message.includes('"a", "g.in.r", "g.x", "g.y"'),
      );
    });
  }
});

describe("groupRoots", () => {
  test("the group's tasks with no upstream inside it", () => {
    const ts = tasks({ s: [], "g.a": ["s"], "g.b": ["g.a"], "g.c": [], "g.n.d": ["g.c"], "g.n.e": [] });
    assert.deepEqual(groupRoots(ts, "g").sort(), ["g.a", "g.c", "g.n.e"]);
    assert.deepEqual(groupRoots(ts, "g.n").sort(), ["g.n.d", "g.n.e"]);
  });
});

describe("decisionSkips (what a clear re-evaluates)", () => {
  const ts = tasks({ b: [], sc: [], x: ["b"], y: ["b", "x"], z: ["sc"] }, { b: "branch", sc: "short_circuit" });
  const m = byId(ts);
  const table: [string, string, unknown, string, boolean][] = [
    ["a branch's followed task", "b", ["x"], "x", false],
    ["a branch's task downstream of the followed one", "b", ["x"], "y", false],
    ["a branch's task not followed", "b", ["y"], "x", true],
    ["a branch that followed none", "b", [], "x", true],
    ["a branch without a recorded decision (marked success by a person)", "b", undefined, "x", false],
    ["a short-circuit without a recorded result", "sc", undefined, "z", false],
    ["a short-circuit that returned false", "sc", false, "z", true],
    ["a short-circuit that returned true", "sc", true, "z", false],
  ];
  for (const [what, up, output, task, skips] of table) {
    test(`${what}: ${skips ? "skipped" : "not skipped"}`, () => assert.equal(decisionSkips(m, m.get(up)!, output, task), skips));
  }
});
