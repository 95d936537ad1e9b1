import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkId, dagVersion, finalizeTasks, taskById, type DagSpec, type TaskSpec } from "../../src/core/dagSpec.js";
import { dag } from "../../src/dsl/dag.js";
import { SluiceError } from "../../src/errors.js";

/** A task spec with defaults; only id and upstream matter to the graph checks. */
function t(id: string, upstream: string[] = []): TaskSpec {
  return {
    id,
    kind: "task",
    group: "",
    upstream,
    downstream: [],
    inputs: {},
    map: null,
    triggerRule: "all_success",
    retry: { retries: 0, retryDelayMs: 300_000, backoff: "fixed", maxRetryDelayMs: null, jitter: 0 },
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
  };
}

function sluiceError(code: string, check: (e: SluiceError) => void = () => undefined) {
  return (e: unknown) => {
    assert.ok(e instanceof SluiceError, `expected a SluiceError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check(e);
    return true;
  };
}

/** The cycle as reported, checked to follow real edges (each task is an upstream of the next). */
function assertIsCycle(cycle: string[], tasks: TaskSpec[], expectedMembers: string[]): void {
  assert.equal(cycle[0], cycle[cycle.length - 1], `closed: ${cycle.join(" -> ")}`);
  const byId = new Map(tasks.map((x) => [x.id, x]));
  for (let i = 0; i + 1 < cycle.length; i++) {
    assert.ok(byId.get(cycle[i + 1]!)!.upstream.includes(cycle[i]!), `${cycle[i]} -> ${cycle[i + 1]} is not an edge`);
  }
  assert.deepEqual([...new Set(cycle)].sort(), [...expectedMembers].sort());
}

describe("checkId", () => {
  for (const good of ["a", "extract_rows", "Train-2", "_private", "0day", "x".repeat(200)]) {
    test(`${JSON.stringify(good.length > 20 ? `${good.slice(0, 5)}…(${good.length})` : good)} is a valid id`, () =>
      assert.equal(checkId("task", good, "here"), good));
  }
  for (const bad of ["", "-lead", "has space", "a.b", "a/b", "ü", "x".repeat(201), 42, null]) {
    test(`${JSON.stringify(bad)?.slice(0, 20)} is rejected with the place and kind`, () => {
      assert.throws(
        () => checkId("task", bad, 'DAG "etl"'),
        sluiceError("INVALID_DAG", (e) => assert.ok(e.message.startsWith(`DAG "etl": task id ${JSON.stringify(bad)} is invalid`), e.message)),
      );
    });
  }
});

describe("finalizeTasks", () => {
  test("orders tasks topologically; roots and their downstream tasks in declaration order", () => {
    const tasks = [t("load", ["transform"]), t("report"), t("extract"), t("transform", ["extract"]), t("audit", ["extract", "report"])];
    const order = finalizeTasks("d", tasks).map((x) => x.id);
    assert.deepEqual(order, ["report", "extract", "transform", "audit", "load"]);
  });

  test("the order respects every edge and does not depend on how upstream lists are ordered", () => {
    const tasks = [t("e", ["c", "d"]), t("c", ["a"]), t("d", ["b"]), t("a"), t("b"), t("f", ["a"])];
    const first = finalizeTasks("d", tasks).map((x) => x.id);
    const pos = new Map(first.map((id, i) => [id, i]));
    assert.equal(pos.size, tasks.length);
    for (const x of tasks) for (const u of x.upstream) assert.ok(pos.get(u)! < pos.get(x.id)!, `${u} before ${x.id}`);
    const flipped = tasks.map((x) => ({ ...x, upstream: [...x.upstream].reverse() }));
    assert.deepEqual(finalizeTasks("d", flipped).map((x) => x.id), first);
  });

  test("fills in downstream ids, sorted, without changing its input", () => {
    const tasks = [t("a"), t("z", ["a"]), t("m", ["a"]), t("b", ["m", "z"])];
    const out = taskById({ tasks: finalizeTasks("d", tasks) } as DagSpec);
    assert.deepEqual(out.get("a")!.downstream, ["m", "z"]);
    assert.deepEqual(out.get("m")!.downstream, ["b"]);
    assert.deepEqual(out.get("b")!.downstream, []);
    assert.deepEqual(tasks[0]!.downstream, []);
  });

  test("an unknown upstream names the DAG, the task and the missing task", () => {
    assert.throws(
      () => finalizeTasks("etl", [t("a"), t("b", ["a", "ghost"])]),
      sluiceError("INVALID_DAG", (e) => {
        assert.equal(e.message, 'DAG "etl": task "b" depends on unknown task "ghost"');
        assert.deepEqual(e.details, { dagId: "etl", taskId: "b" });
      }),
    );
  });

  test("a cycle is reported with the tasks on it, in execution order", () => {
    // a -> b -> c -> a, with a root and a task hanging off the cycle that are not part of it
    const tasks = [t("root"), t("a", ["root", "c"]), t("b", ["a"]), t("c", ["b"]), t("after", ["c"])];
    assert.throws(
      () => finalizeTasks("loop", tasks),
      sluiceError("CYCLE", (e) => {
        const cycle = e.details["cycle"] as string[];
        assertIsCycle(cycle, tasks, ["a", "b", "c"]);
        assert.equal(cycle.length, 4);
        assert.equal(e.message, `DAG "loop" has a cycle: ${cycle.join(" -> ")}`);
      }),
    );
  });

  test("a task depending on itself is a cycle of one", () => {
    assert.throws(
      () => finalizeTasks("self", [t("a"), t("b", ["a", "b"])]),
      sluiceError("CYCLE", (e) => assert.equal(e.message, 'DAG "self" has a cycle: b -> b')),
    );
  });

  test("a two-task cycle behind a diamond names only the two", () => {
    const tasks = [t("s"), t("l", ["s"]), t("r", ["s"]), t("x", ["l", "r", "y"]), t("y", ["x"])];
    assert.throws(
      () => finalizeTasks("d", tasks),
      sluiceError("CYCLE", (e) => assertIsCycle(e.details["cycle"] as string[], tasks, ["x", "y"])),
    );
  });
});

describe("dagVersion", () => {
  const build = (body: string, retries = 0, edge = false) =>
    dag("versioned", (d) => {
      const a = d.task("a", new Function(`return async () => ${body}`)() as () => Promise<number>);
      const b = d.task("b", { retries }, async () => 2);
      if (edge) d.edge(a, b);
    });

  test("is a 16-hex-digit hash, the same for the same structure and code", () => {
    const v = build("1").version;
    assert.match(v, /^[0-9a-f]{16}$/);
    assert.equal(build("1").version, v);
  });

  test("changes when a task's code changes", () => {
    assert.notEqual(build("1").version, build("41 + 1").version);
  });

  test("changes when the structure or an option changes", () => {
    const base = build("1").version;
    assert.notEqual(build("1", 0, true).version, base, "an added edge");
    assert.notEqual(build("1", 2).version, base, "retries");
  });

  test("depends on the spec and the code passed in, in order", () => {
    const spec = build("1").spec;
    assert.equal(dagVersion(spec, ["x", "y"]), dagVersion(spec, ["x", "y"]));
    assert.notEqual(dagVersion(spec, ["x", "y"]), dagVersion(spec, ["y", "x"]));
    assert.notEqual(dagVersion(spec, ["xy"]), dagVersion(spec, ["x", "y"]), "code pieces are delimited");
    assert.notEqual(dagVersion(spec, []), dagVersion({ ...spec, description: "changed" }, []));
  });
});
