/** Building DAGs with the authoring API: the spec it produces and the mistakes it reports. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import type { TaskSpec } from "../../src/core/dagSpec.js";
import type { TaskRef } from "../../src/dsl/types.js";
import { dag, isDag, type Dag } from "../../src/dsl/dag.js";
import { zip } from "../../src/dsl/mapping.js";
import { SluiceError } from "../../src/errors.js";

function rejects(code: string, fragments: (string | RegExp)[]) {
  return (e: unknown) => {
    assert.ok(e instanceof SluiceError, `expected a SluiceError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) {
      if (typeof f === "string") assert.ok(e.message.includes(f), `${JSON.stringify(e.message)} should include ${JSON.stringify(f)}`);
      else assert.match(e.message, f);
    }
    return true;
  };
}

const task = (d: Dag, id: string): TaskSpec => {
  const found = d.spec.tasks.find((x) => x.id === id);
  assert.ok(found, `no task ${id} in ${d.spec.tasks.map((x) => x.id).join(", ")}`);
  return found;
};

describe("dependencies", () => {
  test("inputs make data dependencies and `after` order-only ones", () => {
    const d = dag("deps", (b) => {
      const a = b.task("a", async () => 1);
      const c = b.task("c", async () => 2);
      b.task("x", { inputs: { first: a }, after: [c] }, async ({ first }) => first);
    });
    assert.deepEqual(task(d, "x").inputs, { first: "a" });
    assert.deepEqual(task(d, "x").upstream, ["a", "c"]);
    assert.deepEqual(task(d, "a").downstream, ["x"]);
    assert.deepEqual(d.spec.tasks.map((x) => x.id), ["a", "c", "x"]);
  });

  test("d.edge and d.chain add order-only edges (once)", () => {
    const d = dag("chained", (b) => {
      const a = b.task("a", async () => 1);
      const x = b.task("x", async () => 1);
      const y = b.task("y", async () => 1);
      b.chain(y, x, a);
      b.edge(y, x);
    });
    assert.deepEqual(d.spec.tasks.map((x) => [x.id, x.upstream]), [
      ["y", []],
      ["x", ["y"]],
      ["a", ["x"]],
    ]);
  });

  test("a duplicate task id is DUPLICATE_TASK naming the DAG and the id", () => {
    assert.throws(
      () =>
        dag("dup", (b) => {
          b.task("same", async () => 1);
          b.shell("same", { command: "true" });
        }),
      rejects("DUPLICATE_TASK", ['DAG "dup"', 'task id "same" is used twice']),
    );
  });

  test("a duplicate task group is DUPLICATE_TASK", () => {
    assert.throws(
      () =>
        dag("dupgroup", (b) => {
          b.group("g", (g) => g.task("a", async () => 1));
          b.group("g", (g) => g.task("b", async () => 1));
        }),
      rejects("DUPLICATE_TASK", ['task group "g" is declared twice']),
    );
  });

  test("depending on a task of another DAG is FOREIGN_TASK naming both DAGs", () => {
    let ref!: TaskRef<number>;
    dag("other", (b) => {
      ref = b.task("remote", async () => 1);
    });
    for (const use of ["inputs", "after", "edge", "over"] as const) {
      assert.throws(
        () =>
          dag("mine", (b) => {
            const local = b.task("local", async () => 1);
            if (use === "inputs") b.task("t", { inputs: { ref } }, async () => 1);
            if (use === "after") b.task("t", { after: [ref] }, async () => 1);
            if (use === "edge") b.edge(ref, local);
            if (use === "over") b.map("t", { over: { x: ref as never } }, async () => 1);
          }),
        rejects("FOREIGN_TASK", ['DAG "mine"', 'task "remote" of DAG "other"', "only depend on tasks of its own DAG"]),
        use,
      );
    }
  });

  test("something that is not a task handle is rejected with the field", () => {
    assert.throws(
      () => dag("nohandle", (b) => void b.task("t", { inputs: { x: "a" as never } }, async () => 1)),
      rejects("INVALID_DAG", ['DAG "nohandle", task "t"', 'input "x" is not a task handle']),
    );
  });

  test("a cycle made with d.edge is CYCLE naming the tasks", () => {
    assert.throws(
      () =>
        dag("loop", (b) => {
          const a = b.task("a", async () => 1);
          const c = b.task("c", { inputs: { a } }, async ({ a }) => a);
          b.edge(c, a);
        }),
      rejects("CYCLE", ['DAG "loop" has a cycle', /: (a -> c -> a|c -> a -> c)$/]),
    );
  });

  test("a cycle made with d.chain is CYCLE naming every task on it, in order", () => {
    assert.throws(
      () =>
        dag("ring", (b) => {
          const [p, q, r] = ["p", "q", "r"].map((id) => b.task(id, async () => 1));
          b.task("outside", async () => 1);
          b.chain(p!, q!, r!, p!);
        }),
      rejects("CYCLE", [/: (p -> q -> r -> p|q -> r -> p -> q|r -> p -> q -> r)$/]),
    );
  });
});

describe("ids and options", () => {
  for (const bad of ["", "with space", "-x", "a.b", "x".repeat(201)]) {
    test(`task id ${JSON.stringify(bad.slice(0, 12))} is rejected naming the DAG`, () => {
      assert.throws(() => dag("ids", (b) => void b.task(bad, async () => 1)), rejects("INVALID_DAG", ['DAG "ids"', `task id ${JSON.stringify(bad)} is invalid`]));
    });
  }

  test("an invalid DAG id or group id is rejected", () => {
    assert.throws(() => dag("my dag", (b) => void b.task("t", async () => 1)), rejects("INVALID_DAG", ['DAG id "my dag" is invalid']));
    assert.throws(
      () => dag("g", (b) => b.group("a/b", (g) => g.task("t", async () => 1))),
      rejects("INVALID_DAG", ['DAG "g"', 'task group id "a/b" is invalid']),
    );
  });

  const badOptions: [string, Record<string, unknown>, string][] = [
    ["retries -1", { retries: -1 }, "retries must be a whole number ≥ 0, got -1"],
    ["retries 1.5", { retries: 1.5 }, "retries must be a whole number ≥ 0, got 1.5"],
    ["an unknown trigger rule", { triggerRule: "sometimes" }, 'unknown trigger rule "sometimes"'],
    ["a bad timeout", { timeout: "5 minutes" }, 'timeout: "5 minutes" is not a duration'],
    ["a bad retryDelay", { retryDelay: "soon" }, 'retryDelay: "soon" is not a duration'],
    ["a negative maxRetryDelay", { maxRetryDelay: -5 }, "maxRetryDelay: -5 is not a non-negative number"],
    ["retryJitter above 1", { retryJitter: 2 }, "retryJitter must be between 0 and 1"],
    ["an unknown retryBackoff", { retryBackoff: "linear" }, 'retryBackoff must be "fixed" or "exponential"'],
    ["an unknown isolation", { isolation: "thread" }, 'isolation must be "inline" or "process"'],
    ["memoryLimitMb 0", { memoryLimitMb: 0 }, "memoryLimitMb must be a whole number > 0"],
    ["fresh not a boolean", { isolation: "process", fresh: "yes" }, "fresh must be true or false"],
    ["fresh: true without isolation \"process\"", { fresh: true }, 'fresh: true needs isolation: "process"'],
  ];
  for (const [what, options, message] of badOptions) {
    test(`${what} is rejected naming the DAG and the task`, () => {
      assert.throws(
        () => dag("opts", (b) => b.group("grp", (g) => void g.task("t", options as never, async () => 1))),
        rejects("INVALID_DAG", [`DAG "opts", task "grp.t": ${message}`]),
      );
    });
  }

  test("fresh: true is in the spec of a process-isolated task only; absent otherwise (versions unchanged)", () => {
    const d = dag("fresh", { defaults: { fresh: true } }, (b) => {
      b.task("own", { isolation: "process" }, async () => 1);
      b.task("warm", { isolation: "process", fresh: false }, async () => 1);
      b.task("inline", async () => 1);
      b.shell("sh", { command: "true" });
    });
    assert.deepEqual(
      ["own", "warm", "inline", "sh"].map((id) => task(d, id).fresh),
      [true, undefined, undefined, undefined],
    );
    assert.equal("fresh" in task(dag("plain", (b) => void b.task("t", { isolation: "process" }, async () => 1)), "t"), false);
  });

  test("bad DAG-level defaults are reported on the first task that uses them", () => {
    assert.throws(() => dag("defs", { defaults: { retries: -1 } }, (b) => void b.task("t", async () => 1)), rejects("INVALID_DAG", ['DAG "defs", task "t": retries']));
  });

  test("bad DAG options name the DAG", () => {
    assert.throws(() => dag("rt", { runTimeout: "forever" }, (b) => void b.task("t", async () => 1)), rejects("INVALID_DAG", ['DAG "rt": runTimeout: "forever"']));
    assert.throws(() => dag("mat", { maxActiveTasks: 0 }, (b) => void b.task("t", async () => 1)), rejects("INVALID_DAG", ['DAG "mat": maxActiveTasks']));
    assert.throws(() => dag("pp", { params: { lr: 1 } as never }, (b) => void b.task("t", async () => 1)), rejects("INVALID_DAG", ['DAG "pp": params must be a schema']));
    assert.throws(() => dag("empty", () => undefined), rejects("INVALID_DAG", ['DAG "empty" has no tasks']));
  });

  test("shell and python tasks check what they run", () => {
    assert.throws(() => dag("sh", (b) => void b.shell("s", { command: "" })), rejects("INVALID_DAG", ['DAG "sh", task "s": shell task needs a "command"']));
    assert.throws(() => dag("py", (b) => void b.python("p", {})), rejects("INVALID_DAG", ['DAG "py", task "p": python task needs exactly one of "script" or "module"']));
    assert.throws(() => dag("py2", (b) => void b.python("p", { script: "a.py", module: "a" })), rejects("INVALID_DAG", ["exactly one of"]));
  });

  test("options are turned into the spec (durations in ms, retry policy, defaults for the rest)", () => {
    const d = dag("spec", (b) => {
      b.task("plain", async () => 1);
      b.task("tuned", { retries: 2, retryDelay: "10s", retryBackoff: "exponential", maxRetryDelay: "1m", retryJitter: 0.2, timeout: "1m30s", isolation: "process", memoryLimitMb: 256, queue: "gpu", pool: "db", priority: 5, owner: "ana", triggerRule: "all_done", description: "why" }, async () => 1);
      b.shell("sh", { command: "echo", args: ["a", "b"] });
    });
    const plain = task(d, "plain");
    assert.deepEqual(
      { retry: plain.retry, timeoutMs: plain.timeoutMs, isolation: plain.isolation, queue: plain.queue, pool: plain.pool, triggerRule: plain.triggerRule, kind: plain.kind },
      { retry: { retries: 0, retryDelayMs: 300_000, backoff: "fixed", maxRetryDelayMs: null, jitter: 0 }, timeoutMs: null, isolation: "inline", queue: "default", pool: null, triggerRule: "all_success", kind: "task" },
    );
    const tuned = task(d, "tuned");
    assert.deepEqual(tuned.retry, { retries: 2, retryDelayMs: 10_000, backoff: "exponential", maxRetryDelayMs: 60_000, jitter: 0.2 });
    assert.deepEqual(
      [tuned.timeoutMs, tuned.isolation, tuned.memoryLimitMb, tuned.queue, tuned.pool, tuned.priority, tuned.owner, tuned.triggerRule, tuned.description],
      [90_000, "process", 256, "gpu", "db", 5, "ana", "all_done", "why"],
    );
    assert.equal(task(d, "sh").kind, "shell");
    assert.equal(task(d, "sh").command, "echo a b");
  });
});

describe("task groups and defaults", () => {
  test("groups prefix the ids of their tasks (nested too) and are listed in the spec", () => {
    const d = dag("grouped", (b) => {
      const top = b.task("start", async () => 1);
      const inner = b.group("prep", { description: "preparation" }, (g) => {
        const c = g.task("clean", { inputs: { top } }, async ({ top }) => top);
        return g.group("feat", (h) => h.task("build", { inputs: { c } }, async ({ c }) => c));
      });
      b.task("end", { inputs: { inner } }, async ({ inner }) => inner);
    });
    assert.deepEqual(d.spec.tasks.map((x) => [x.id, x.group, x.upstream]), [
      ["start", "", []],
      ["prep.clean", "prep", ["start"]],
      ["prep.feat.build", "prep.feat", ["prep.clean"]],
      ["end", "", ["prep.feat.build"]],
    ]);
    assert.deepEqual(d.spec.groups, [
      { id: "prep", description: "preparation" },
      { id: "prep.feat", description: null },
    ]);
  });

  test("the same local id may appear in different groups", () => {
    const d = dag("sameLocal", (b) => {
      b.group("a", (g) => g.task("t", async () => 1));
      b.group("b", (g) => g.task("t", async () => 1));
    });
    assert.deepEqual(d.spec.tasks.map((x) => x.id), ["a.t", "b.t"]);
  });

  test("task options override group defaults, which override DAG defaults; nested groups inherit", () => {
    const d = dag(
      "defaults",
      { defaults: { retries: 1, retryDelay: "1s", owner: "dag-owner", queue: "q-dag", timeout: "1h" } },
      (b) => {
        b.task("top", async () => 1);
        b.task("topOwn", { retries: 5, retryDelay: undefined }, async () => 1);
        b.group("g", { defaults: { retries: 2, owner: "group-owner" } }, (g) => {
          g.task("inGroup", async () => 1);
          g.task("own", { retries: 3, queue: "q-task" }, async () => 1);
          g.group("h", { defaults: { timeout: "5s" } }, (h) => h.task("nested", async () => 1));
        });
      },
    );
    const view = (id: string) => {
      const x = task(d, id);
      return [x.retry.retries, x.retry.retryDelayMs, x.owner, x.queue, x.timeoutMs];
    };
    assert.deepEqual(view("top"), [1, 1000, "dag-owner", "q-dag", 3_600_000]);
    assert.deepEqual(view("topOwn"), [5, 1000, "dag-owner", "q-dag", 3_600_000], "an explicit undefined does not erase a default");
    assert.deepEqual(view("g.inGroup"), [2, 1000, "group-owner", "q-dag", 3_600_000]);
    assert.deepEqual(view("g.own"), [3, 1000, "group-owner", "q-task", 3_600_000]);
    assert.deepEqual(view("g.h.nested"), [2, 1000, "group-owner", "q-dag", 5000]);
  });
});

describe("the result", () => {
  const build = () =>
    dag("frozen", { tags: ["ml"], description: "d" }, (b) => {
      const a = b.task("a", async () => 1);
      b.map("m", { over: { x: [1, 2] }, inputs: { a } }, async ({ x, a }) => x + a);
    });

  test("is a Dag whose spec is deeply frozen", () => {
    const d = build();
    assert.equal(isDag(d), true);
    assert.equal(isDag({ id: d.id, spec: d.spec }), false);
    assert.ok(Object.isFrozen(d));
    assert.ok(Object.isFrozen(d.spec) && Object.isFrozen(d.spec.tasks) && Object.isFrozen(d.spec.tags) && Object.isFrozen(d.spec.groups));
    const m = task(d, "m");
    assert.ok(Object.isFrozen(m) && Object.isFrozen(m.upstream) && Object.isFrozen(m.retry) && Object.isFrozen(m.map) && Object.isFrozen(m.map![0]!.source));
    // ES modules are strict: writes to frozen objects throw instead of being ignored
    assert.throws(() => ((d.spec as { id: string }).id = "other"), TypeError);
    assert.throws(() => (d.spec.tasks as TaskSpec[]).push(m), TypeError);
    assert.throws(() => ((m.retry as { retries: number }).retries = 9), TypeError);
    assert.throws(() => (m.upstream as string[]).push("x"), TypeError);
    assert.equal(d.spec.id, "frozen");
    assert.equal(m.retry.retries, 0);
  });

  test("is independent of the options objects passed in", () => {
    const tags = ["a"];
    const over = [1, 2];
    const d = dag("copies", { tags }, (b) => void b.map("m", { over: { x: over } }, async ({ x }) => x));
    tags.push("b");
    over.push(3);
    assert.deepEqual(d.spec.tags, ["a"]);
    assert.deepEqual(task(d, "m").map, [{ name: "x", source: { values: [1, 2] } }]);
  });

  test("handles returned by the builder are frozen", () => {
    dag("refs", (b) => {
      const a = b.task("a", async () => 1);
      assert.ok(Object.isFrozen(a));
      assert.deepEqual({ ...a }, { id: "a", dagId: "refs" });
    });
  });
});

describe("mapping", () => {
  test("literal lists and upstream outputs become map sources; the upstream becomes a dependency", () => {
    const d = dag("mapped", (b) => {
      const files = b.task("files", async () => ["a", "b"]);
      const cfg = b.task("cfg", async () => 1);
      b.map("proc", { over: { file: files, mode: ["fast", "slow"] }, inputs: { cfg } }, async ({ file, mode, cfg }) => `${file}${mode}${cfg}`);
    });
    const proc = task(d, "proc");
    assert.deepEqual(proc.map, [
      { name: "file", source: { task: "files" } },
      { name: "mode", source: { values: ["fast", "slow"] } },
    ]);
    assert.deepEqual(proc.upstream, ["cfg", "files"]);
    assert.deepEqual(proc.inputs, { cfg: "cfg" });
  });

  test("over must name at least one list", () => {
    assert.throws(() => dag("m0", (b) => void b.map("m", { over: {} }, async () => 1)), rejects("INVALID_DAG", ['DAG "m0", task "m": "over" must name at least one list']));
  });

  test("a name cannot be both mapped over and an input", () => {
    assert.throws(
      () =>
        dag("m1", (b) => {
          const x = b.task("x", async () => [1]);
          b.map("m", { over: { x: [1] }, inputs: { x } }, async () => 1);
        }),
      rejects("INVALID_DAG", ['"x" is both mapped over and an input']),
    );
  });

  test("a literal list must be JSON", () => {
    assert.throws(() => dag("m2", (b) => void b.map("m", { over: { n: [1n] } }, async () => 1)), rejects("INVALID_DAG", ['the literal list "n" must be JSON']));
  });

  test("zip, overKwargs and partial are written to the spec; a plain cross product's spec has none of them", () => {
    const d = dag("m3", (b) => {
      const files = b.task("files", async () => ["a"]);
      b.map("z", { over: zip({ f: files, n: [1] }) }, async () => 1);
      b.map("k", { overKwargs: [{ a: 1 }], partial: { sep: ";" } }, async () => 1);
      b.map("t", { over: { f: files.map((f) => f.toUpperCase()) } }, async () => 1);
      b.map("p", { over: { f: files } }, async () => 1);
    });
    const t = (id: string) => d.spec.tasks.find((x) => x.id === id)!;
    assert.equal(t("z").mapMode, "zip");
    assert.deepEqual(t("z").map, [{ name: "f", source: { task: "files" } }, { name: "n", source: { values: [1] } }]);
    assert.equal(t("k").mapMode, "kwargs");
    assert.deepEqual(t("k").partial, { sep: ";" });
    assert.deepEqual(t("t").map, [{ name: "f", source: { task: "files", transform: true } }]);
    assert.deepEqual(t("t").upstream, ["files"]);
    assert.ok(!("mapMode" in t("p")) && !("partial" in t("p")));
    // a .map(fn) function is code: changing it changes the DAG's version
    const other = dag("m3", (b) => {
      const files = b.task("files", async () => ["a"]);
      b.map("z", { over: zip({ f: files, n: [1] }) }, async () => 1);
      b.map("k", { overKwargs: [{ a: 1 }], partial: { sep: ";" } }, async () => 1);
      b.map("t", { over: { f: files.map((f) => f.toLowerCase()) } }, async () => 1);
      b.map("p", { over: { f: files } }, async () => 1);
    });
    assert.notEqual(other.version, d.version);
  });

  test("bad mapping options are errors naming the DAG, the task and the option", () => {
    const m = (options: object) => () => dag("bad", (b) => {
      const files = b.task("files", async () => ["a"]);
      void b.task("use", { inputs: { f: files } }, async () => 1);
      void b.map("m", options as never, async () => 1);
    });
    assert.throws(m({}), rejects("INVALID_DAG", ['DAG "bad", task "m": a mapped task needs exactly one of "over"']));
    assert.throws(m({ over: { a: [1] }, overKwargs: [{ a: 1 }] }), rejects("INVALID_DAG", ['task "m": a mapped task needs exactly one of "over"']));
    assert.throws(m({ overKwargs: [{ a: 1 }, 2] }), rejects("INVALID_DAG", ['task "m": overKwargs must be a list of argument objects']));
    assert.throws(m({ over: { a: [1] }, partial: 3 }), rejects("INVALID_DAG", ['task "m": partial must be an object']));
    assert.throws(m({ over: { a: [1] }, partial: { a: 2 } }), rejects("INVALID_DAG", ['task "m": "a" is both mapped over and in partial']));
    assert.throws(() => dag("bad2", (b) => {
      const files = b.task("files", async () => ["a"]);
      b.task("use", { inputs: { f: files.map((x) => x) as never } }, async () => 1);
    }), rejects("INVALID_DAG", ['DAG "bad2", task "use": input "f" is a handle transformed with .map(fn)']));
    assert.throws(() => dag("bad3", (b) => void b.task("files", async () => ["a"]).map(3 as never)), rejects("INVALID_DAG", ['DAG "bad3": files.map(fn) needs a function']));
  });
});

describe("params", () => {
  test("a zod schema gives a JSON Schema of the input (defaults are optional)", () => {
    const params = z.object({ lr: z.number().default(0.1), name: z.string(), mode: z.enum(["a", "b"]).optional() });
    const d = dag("withParams", { params }, (b) => void b.task("t", async () => 1));
    const js = d.spec.paramsJsonSchema as { type: string; properties: Record<string, Record<string, unknown>>; required?: string[] };
    assert.equal(js.type, "object");
    assert.deepEqual(js.properties["lr"], { type: "number", default: 0.1 });
    assert.deepEqual(js.properties["name"], { type: "string" });
    assert.deepEqual(js.properties["mode"], { type: "string", enum: ["a", "b"] });
    assert.deepEqual(js.required, ["name"]);
    assert.equal(d.paramsSchema, params);
  });

  test("without params there is no schema", () => {
    const d = dag("noParams", (b) => void b.task("t", async () => 1));
    assert.equal(d.spec.paramsJsonSchema, null);
    assert.equal(d.paramsSchema, null);
  });

  test("a non-zod Standard Schema is accepted without a JSON Schema", () => {
    const schema = { "~standard": { version: 1, vendor: "custom", validate: (v: unknown) => ({ value: v }) } } as const;
    const d = dag("custom", { params: schema }, (b) => void b.task("t", async () => 1));
    assert.equal(d.spec.paramsJsonSchema, null);
    assert.equal(d.paramsSchema, schema);
  });
});


describe("mapped task groups", () => {
  test("every task of the group is mapped over the group's lists and depends on their producers; element inputs are recorded by name", () => {
    const d = dag("mg", (b) => {
      const items = b.task("items", async () => [1, 2]);
      const other = b.task("other", async () => 0);
      const out = b.mapGroup("g", { over: { x: items }, partial: { k: 2 } }, (g, { x, k }) => {
        const a = g.task("a", { inputs: { x, k, other } }, async ({ x, k, other }) => x * k + other);
        return g.group("inner", (h) => h.task("b", { inputs: { a } }, async ({ a }) => a));
      });
      b.task("reduce", { inputs: { out } }, async ({ out }) => out.length);
    });
    assert.deepEqual(d.spec.groups.find((g) => g.id === "g"), { id: "g", description: null, map: [{ name: "x", source: { task: "items" } }], partial: { k: 2 } });
    const a = task(d, "g.a");
    assert.equal(a.mapGroup, "g");
    assert.deepEqual(a.map, [{ name: "x", source: { task: "items" } }]);
    assert.deepEqual(a.inputs, { other: "other" });
    assert.deepEqual(a.groupInputs, { x: "x", k: "k" });
    assert.deepEqual(a.upstream, ["items", "other"]);
    const inner = task(d, "g.inner.b");
    assert.equal(inner.mapGroup, "g", "a plain group inside a mapped group is part of it");
    assert.deepEqual(inner.upstream, ["g.a", "items"]);
    assert.deepEqual(task(d, "reduce").upstream, ["g.inner.b"]);
    assert.equal(task(d, "items").mapGroup, undefined);
  });

  test("mistakes name the DAG, the group or task, and what to do", () => {
    const list = [1, 2];
    assert.throws(
      () => dag("nested", (b) => void b.mapGroup("g", { over: { x: list } }, (g) => g.mapGroup("h", { over: { y: list } }, (h) => h.task("t", async () => 1)))),
      rejects("INVALID_DAG", ['DAG "nested", task group "g.h": a mapped task group inside mapped task group "g" is not supported']),
    );
    assert.throws(
      () => dag("mapped_in", (b) => void b.mapGroup("g", { over: { x: list } }, (g) => g.map("m", { over: { y: list } }, async ({ y }) => y))),
      rejects("INVALID_DAG", ['DAG "mapped_in", task "g.m": a mapped task inside mapped task group "g" is not supported']),
    );
    assert.throws(
      () => dag("setup_in", (b) => void b.mapGroup("g", { over: { x: list } }, (g) => g.setup("s", async () => 1))),
      rejects("INVALID_DAG", ['DAG "setup_in", task "g.s": setup and teardown tasks inside mapped task group "g" are not supported']),
    );
    assert.throws(
      () =>
        dag("leak", (b) => {
          let leaked: TaskRef<number> | null = null;
          b.mapGroup("g", { over: { x: list } }, (g, { x }) => {
            leaked = x;
            return g.task("t", async () => 1);
          });
          b.task("outside", { inputs: { x: leaked! } }, async ({ x }) => x);
        }),
      rejects("INVALID_DAG", ['DAG "leak", task "outside": input "x" is "x", the element of mapped task group "g", which only the group\'s tasks can take, as an input']),
    );
    assert.throws(
      () => dag("after_el", (b) => void b.mapGroup("g", { over: { x: list } }, (g, { x }) => g.task("t", { after: [x] }, async () => 1))),
      rejects("INVALID_DAG", ['task "g.t": after is "x", the element of mapped task group "g"']),
    );
    assert.throws(
      () =>
        dag("always_in", (b) => {
          const items = b.task("items", async () => [1]);
          b.mapGroup("g", { over: { x: items } }, (g) => g.task("t", { triggerRule: "always" }, async () => 1));
        }),
      rejects("INVALID_DAG", ['DAG "always_in", task "g.t": trigger rule "always" inside mapped task group "g"', 'use "all_done"']),
    );
    assert.throws(() => dag("no_over", (b) => void b.mapGroup("g", {} as never, (g) => g.task("t", async () => 1))), rejects("INVALID_DAG", ['DAG "no_over", task group "g": a mapped task group needs "over"']));
    assert.throws(
      () => dag("unknown_opt", (b) => void b.mapGroup("g", { over: { x: list }, retries: 2 } as never, (g) => g.task("t", async () => 1))),
      rejects("INVALID_DAG", ['task group "g": unknown option "retries"; a mapped task group takes over, partial, description and defaults']),
    );
    assert.throws(() => dag("empty_g", (b) => void (b.task("t", async () => 1), b.mapGroup("g", { over: { x: list } }, () => null))), rejects("INVALID_DAG", ['task group "g": the mapped task group declares no tasks']));
    assert.throws(
      () =>
        dag("xform", (b) => {
          const items = b.task("items", async () => [1]);
          b.mapGroup("g", { over: { x: items.map((i) => i + 1) } }, (g) => g.task("t", async () => 1));
        }),
      rejects("INVALID_DAG", ['.map(fn) in a mapped task group\'s "over" is not supported']),
    );
  });
});
