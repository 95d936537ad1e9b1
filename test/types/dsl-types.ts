/**
 * Type tests of the DSL (not run, only compiled by test/types.test.ts). Lines under `// @ts-expect-error`
 * must NOT compile; if one starts compiling, tsc reports "Unused '@ts-expect-error' directive" and the
 * test fails. `expectType<T>(v)` asserts that `v` is assignable to `T`; `assertEqual` asserts that two
 * types are identical (neither wider nor narrower).
 */
import { z } from "zod";
import type { TestRun } from "../../src/testing.js";
import { dag, email, fileExists, httpOk, slack, sqlRow, webhook, zip, type MappedRef, type TaskRef, type Timetable } from "../../src/index.js";

declare function expectType<T>(v: T): void;
type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;
declare function assertEqual<A, B>(...ok: Equal<A, B> extends true ? [] : [never]): void;

// Typed data flow: a downstream receives exactly the upstream's output type.
dag("flow", (d) => {
  const train = d.task("train", async () => ({ auc: 0.9 }));
  assertEqual<typeof train, TaskRef<{ auc: number }>>();
  d.task("report", { inputs: { train } }, async ({ train }) => {
    assertEqual<typeof train, { auc: number }>();
    expectType<number>(train.auc);
    // @ts-expect-error — the output has no such property
    void train.accuracy;
    return train.auc > 0.5;
  });

  // Declaring the input with a wrong type is a compile error.
  // @ts-expect-error — { auc: number } is not { auc: string }
  d.task("wrong", { inputs: { train } }, async ({ train }: { train: { auc: string } }) => train.auc);

  // Destructuring an input name that was not declared is an error.
  // @ts-expect-error — "model" is not an input
  d.task("unknown", { inputs: { train } }, async ({ model }) => model);

  // A task without inputs receives none.
  d.task("alone", async (inputs) => {
    assertEqual<keyof typeof inputs, never>();
    return 1;
  });
  // @ts-expect-error — a task without inputs has none to destructure
  d.task("noInputs", async ({ train }) => train);
  // @ts-expect-error — neither with options but no inputs
  d.task("noInputs2", { retries: 1 }, async ({ train }) => train);

  // Sync and async bodies both give the awaited type.
  const sync = d.task("sync", () => "x");
  assertEqual<typeof sync, TaskRef<string>>();
  const nested = d.task("nested", async () => Promise.resolve([1, 2]));
  assertEqual<typeof nested, TaskRef<number[]>>();
});

// ctx.params is typed by the params schema.
dag("params", { params: z.object({ lr: z.number().default(0.1), name: z.string() }) }, (d) => {
  d.task("use", async (_inputs, ctx) => {
    assertEqual<typeof ctx.params, { lr: number; name: string }>();
    // @ts-expect-error — no such param
    void ctx.params.epochs;
    return ctx.params.lr;
  });
});

// Without a schema there are no params.
dag("noparams", (d) => {
  d.task("use", async (_inputs, ctx) => {
    // @ts-expect-error — no params declared
    void ctx.params.lr;
    return 1;
  });
});

// Mapping: item types come from literal lists and from upstream outputs; the mapped output is a list.
dag("mapping", (d) => {
  const files = d.task("files", async () => ["a.csv", "b.csv"]);
  const nums = d.task("nums", async () => [1, 2, 3]);
  const sizes = d.map("sizes", { over: { file: files, factor: [1, 2] } }, async ({ file, factor }) => {
    assertEqual<typeof file, string>();
    // Literal lists are read as const: the item is the union of their elements.
    assertEqual<typeof factor, 1 | 2>();
    // @ts-expect-error — a literal list of numbers gives numbers
    expectType<string>(factor);
    return { file, size: file.length * factor };
  });
  assertEqual<typeof sizes, TaskRef<{ file: string; size: number }[]>>();

  d.map("mixed", { over: { n: nums }, inputs: { sizes } }, async ({ n, sizes }) => {
    assertEqual<typeof n, number>();
    assertEqual<typeof sizes, { file: string; size: number }[]>();
    return n;
  });

  // @ts-expect-error — "x" is not mapped over
  d.map("unknownItem", { over: { n: nums } }, async ({ x }) => x);

  // @ts-expect-error — over must be lists or handles of tasks returning lists
  d.map("notAList", { over: { n: d.task("scalar", async () => 1) } }, async ({ n }) => n);
});

// Richer mapping: objects, zip, overKwargs, partial and ref.map(fn) keep the types flowing.
dag("richMapping", (d) => {
  const prices = d.task("prices", async () => ({ apple: 3, pear: 5 }));
  d.map("entries", { over: { e: prices } }, async ({ e }) => {
    // an object maps over its [key, value] entries
    assertEqual<typeof e, [string, number]>();
    return e[1];
  });

  const files = d.task("files", async () => ["a.csv", "b.csv"]);
  const sizes = d.task("sizes", async () => [1, 2]);
  const pairs = d.map("pairs", { over: zip({ file: files, size: sizes, tag: ["x", "y"] }) }, async ({ file, size, tag }) => {
    assertEqual<typeof file, string>();
    assertEqual<typeof size, number>();
    assertEqual<typeof tag, "x" | "y">();
    return `${file}:${size}`;
  });
  assertEqual<typeof pairs, TaskRef<string[]>>();
  // @ts-expect-error — "other" is not zipped
  d.map("zipUnknown", { over: zip({ file: files }) }, async ({ other }) => other);
  // @ts-expect-error — zip takes lists too: a number is not one
  d.map("zipScalar", { over: zip({ n: d.task("one", async () => 1) }) }, async ({ n }) => n);

  const configs = d.task("configs", async () => [{ lr: 0.1, depth: 2 }]);
  const trained = d.map("train", { overKwargs: configs, partial: { epochs: 3 } }, async ({ lr, depth, epochs }) => {
    assertEqual<typeof lr, number>();
    assertEqual<typeof depth, number>();
    assertEqual<typeof epochs, 3>();
    return lr * depth * epochs;
  });
  assertEqual<typeof trained, TaskRef<number[]>>();
  d.map("kwLiteral", { overKwargs: [{ a: 1 }, { a: 2 }] }, async ({ a }) => {
    assertEqual<typeof a, 1 | 2>();
    return a;
  });
  // @ts-expect-error — overKwargs needs a list of objects
  d.map("kwNumbers", { overKwargs: sizes }, async () => 1);
  // @ts-expect-error — "nope" is not a key of the argument objects
  d.map("kwUnknown", { overKwargs: configs }, async ({ nope }) => nope);
  // @ts-expect-error — over and overKwargs are exclusive
  d.map("both", { over: { f: files }, overKwargs: configs }, async () => 1);
  d.map("partial", { over: { f: files }, partial: { sep: ";" } }, async ({ f, sep }) => {
    assertEqual<typeof sep, ";">();
    return f + sep;
  });

  const pages = d.task("pages", async () => [{ slug: "home" }]);
  const urls = pages.map((p) => {
    assertEqual<typeof p, { slug: string }>();
    return `https://example.com/${p.slug}`;
  });
  assertEqual<typeof urls, MappedRef<string>>();
  d.map("fetch", { over: { url: urls, n: [1, 2] } }, async ({ url, n }) => {
    assertEqual<typeof url, string>();
    assertEqual<typeof n, 1 | 2>();
    return url.length;
  });
  d.map("fetchKw", { overKwargs: pages.map((p) => ({ name: p.slug })) }, async ({ name }) => {
    assertEqual<typeof name, string>();
    return name;
  });
  prices.map((entry) => assertEqual<typeof entry, [string, number]>());
  // @ts-expect-error — a transformed handle is something to map over, not an input
  d.task("notInput", { inputs: { urls } }, async () => 1);
  // @ts-expect-error — overKwargs through .map(fn) must give objects
  d.map("kwMapScalar", { overKwargs: pages.map((p) => p.slug) }, async () => 1);
  // @ts-expect-error — a task that may return null cannot be mapped over
  d.map("maybeNull", { over: { x: d.task("maybe", async (): Promise<string[] | null> => null) } }, async ({ x }) => x);
  // @ts-expect-error — a string is not mappable (Airflow maps lists and dicts only)
  d.map("aString", { over: { c: d.task("str", async () => "abc") } }, async ({ c }) => c);
});

// A mapped branch: its item is typed like a mapped task's; its output is one list of followed ids per instance.
dag("mappedBranch", (d) => {
  const regions = d.task("regions", async () => ["eu", "us"]);
  const route = d.branch("route", { over: { region: regions }, partial: { fallback: "slow" } }, async ({ region, fallback }) => {
    assertEqual<typeof region, string>();
    assertEqual<typeof fallback, "slow">();
    return region === "eu" ? "fast" : fallback;
  });
  assertEqual<typeof route, TaskRef<string[][]>>();
  const plain = d.branch("plain", {}, async () => "fast");
  assertEqual<typeof plain, TaskRef<string[]>>();
  // @ts-expect-error — a branch returns ids or handles, not numbers
  d.branch("badReturn", { over: { region: regions } }, async () => 42);
  // @ts-expect-error — partial is for mapped tasks
  d.branch("badPartial", { partial: { a: 1 } }, async () => "fast");
});

// Under a rule other than all_success an upstream may not have succeeded: its input may be undefined.
dag("rules", (d) => {
  const a = d.task("a", async () => 1);
  d.task("cleanup", { inputs: { a }, triggerRule: "all_done" }, async ({ a }) => {
    assertEqual<typeof a, number | undefined>();
    // @ts-expect-error — possibly undefined
    return a.toFixed();
  });
  d.task("strict", { inputs: { a }, triggerRule: "all_success" }, async ({ a }) => {
    assertEqual<typeof a, number>();
    return a.toFixed();
  });
  // @ts-expect-error — unknown trigger rule
  d.task("badRule", { inputs: { a }, triggerRule: "sometimes" }, async () => 1);
});

// Shell tasks output a string; python tasks output what their schema says (unknown without one).
dag("programs", (d) => {
  const sh = d.shell("sh", { command: "echo", args: ["hi"] });
  assertEqual<typeof sh, TaskRef<string>>();
  const py = d.python("py", { script: "train.py", output: z.object({ auc: z.number(), tags: z.array(z.string()) }) });
  assertEqual<typeof py, TaskRef<{ auc: number; tags: string[] }>>();
  const raw = d.python("raw", { module: "job" });
  assertEqual<typeof raw, TaskRef<unknown>>();
  d.task("after", { inputs: { sh, py } }, async ({ sh, py }) => {
    assertEqual<typeof sh, string>();
    assertEqual<typeof py, { auc: number; tags: string[] }>();
    return sh.length + py.auc;
  });
  // Shell args computed from inputs get typed inputs.
  d.shell("dyn", {
    command: "echo",
    inputs: { py },
    args: ({ py }) => {
      assertEqual<typeof py, { auc: number; tags: string[] }>();
      return [String(py.auc)];
    },
  });
  // @ts-expect-error — args must be strings
  d.shell("badArgs", { command: "echo", args: [1, 2] });
});

// The Dag carries its params type.
const withParams = dag("carry", { params: z.object({ n: z.number() }) }, (d) => {
  d.task("t", async () => 1);
});
expectType<{ n: number } | undefined>(withParams.__params);

// Sensors: the output type follows what the poke returns.
dag("sensors", (d) => {
  const plain = d.sensor("plain", { poke: async () => Math.random() > 0.5 });
  assertEqual<typeof plain, TaskRef<true>>();
  const valued = d.sensor("valued", {
    pokeInterval: "10s",
    timeout: "1h",
    poke: async () => (Math.random() > 0.5 ? { done: true, value: { rows: 3 } } : false),
  });
  assertEqual<typeof valued, TaskRef<{ rows: number }>>();
  const notYet = d.sensor("not_yet", { poke: async () => (Math.random() > 0.5 ? { done: false } : { done: true, value: "x" }) });
  assertEqual<typeof notYet, TaskRef<string>>();
  const files = d.sensor("files", { poke: fileExists("incoming/*.csv") });
  assertEqual<typeof files, TaskRef<string[]>>();
  const http = d.sensor("http", { poke: httpOk("http://localhost:8080/health", { status: (s) => s < 500 }) });
  assertEqual<typeof http, TaskRef<{ status: number; body: string }>>();
  const row = d.sensor("row", { poke: sqlRow<{ id: number }>({ database: "sqlite:state.db", query: "select id from t" }) });
  assertEqual<typeof row, TaskRef<{ id: number }>>();
  // a poke gets its inputs typed, like a task
  const gated = d.sensor("gated", {
    inputs: { row },
    softFail: true,
    poke: async ({ row }) => {
      assertEqual<typeof row, { id: number }>();
      return row.id > 0;
    },
  });
  d.task("after_all", { inputs: { files, http, gated } }, async ({ files, http, gated }) => {
    assertEqual<typeof gated, true>();
    return files.length + http.status;
  });
  // @ts-expect-error — a poke must return a boolean or { done, value }
  d.sensor("bad_return", { poke: async () => "yes" });
  // @ts-expect-error — a sensor needs a poke
  d.sensor("no_poke", { pokeInterval: "1m" });
  // @ts-expect-error — softFail is a boolean
  d.sensor("bad_soft", { softFail: "yes", poke: async () => true });
});

// Assets and events: the schedule is anyOf or allOf, metadata and payloads are JSON.
dag("assets_and_events", { schedule: { assets: { anyOf: ["s3://lake/orders"] } }, events: ["new_orders"] }, (d) => {
  d.task("load", { produces: ["warehouse.daily_sales"] }, async (_, ctx) => {
    ctx.assetMetadata("warehouse.daily_sales", { rows: 123, partitions: ["2026-01-01"], ok: true, note: null });
    // @ts-expect-error — metadata must be JSON: a Date is not
    ctx.assetMetadata("warehouse.daily_sales", { at: new Date() });
    // @ts-expect-error — metadata is an object, not a bare value
    ctx.assetMetadata("warehouse.daily_sales", 123);
    const payload = ctx.event?.payload;
    // @ts-expect-error — the payload is JSON of unknown shape: narrow or validate it first
    void payload.orderIds;
    expectType<string | undefined>(ctx.event?.name);
    const first = ctx.triggeringAssetEvents[0];
    expectType<string | undefined>(first?.asset);
    expectType<Date | undefined>(first?.createdAt);
    return ctx.triggeringAssetEvents.length;
  });
  // @ts-expect-error — produces is a list of names
  d.task("bad_produces", { produces: "s3://lake/orders" }, async () => 1);
});
dag("all_of", { schedule: { assets: { allOf: ["a", "b"] } } }, (d) => void d.task("t", async () => 1));
// @ts-expect-error — a schedule is anyOf or allOf, not both
dag("both", { schedule: { assets: { anyOf: ["a"], allOf: ["b"] } } }, (d) => void d.task("t", async () => 1));
// @ts-expect-error — events are names
dag("bad_events", { events: "new_orders" }, (d) => void d.task("t", async () => 1));

// Secret params (decision 0016): names of the DAG's params, and only those; the task reads the plain value.
dag("secret_params", { params: z.object({ api_key: z.string(), limit: z.number().default(10) }), secretParams: ["api_key"] }, (d) => {
  d.task("call", async (_, ctx) => {
    expectType<string>(ctx.params.api_key);
    return ctx.params.limit;
  });
});
// @ts-expect-error — not a param of the DAG
dag("secret_typo", { params: z.object({ api_key: z.string() }), secretParams: ["apikey"] }, (d) => void d.task("t", async () => 1));
// @ts-expect-error — a DAG without params has no secret params
dag("secret_none", { secretParams: ["api_key"] }, (d) => void d.task("t", async () => 1));

// Capacity options (decision 0012): typed, and wrong types do not compile.
dag("capacity", { maxActiveTasks: 4, defaults: { pool: "gpu", priority: 2 } }, (d) => {
  d.task("train", { queue: "gpu", pool: "gpu", poolSlots: 2, priority: 10, resources: { cpu: 4, memory: "16Gi", gpu: 1 }, maxActiveTisPerDag: 1 }, async () => 1);
  d.task("bytes", { resources: { memory: 512 * 1024 * 1024 } }, async () => 1);
  // @ts-expect-error — gpu is a number
  d.task("gpuText", { resources: { gpu: "1" } }, async () => 1);
  // @ts-expect-error — no such resource
  d.task("disk", { resources: { disk: 10 } }, async () => 1);
  // @ts-expect-error — priority is a number
  d.task("prioText", { priority: "high" }, async () => 1);
  // @ts-expect-error — poolSlots is a number
  d.task("slotsText", { poolSlots: "2" }, async () => 1);
});

// Callbacks, notifiers and deadlines (decision 0019): the context is typed, wrong shapes do not compile.
dag(
  "callbacks",
  {
    onFailure: (ctx) => void ctx.error?.message.toUpperCase(),
    deadline: { at: "06:00", timezone: "Europe/Berlin" },
    onDeadlineMiss: [(ctx) => ctx.deadline?.at, webhook({ url: "https://example.com/hook", secret: "s" })],
    notify: { onRetry: [slack({ url: "https://hooks.example.com/x" })], onFailure: email({ to: "a@example.com", connection: "smtp" }) },
  },
  (d) => {
    d.task("t", { onSuccess: (ctx) => ctx.task?.id.length, deadline: { from: "start", within: "20m" } }, async () => 1);
    // @ts-expect-error — a callback is a function
    d.task("notFn", { onFailure: "page me" }, async () => 1);
    // @ts-expect-error — the context has no such field
    d.task("typo", { onRetry: (ctx) => ctx.attempts }, async () => 1);
    // @ts-expect-error — a deadline needs "within" with "from"
    d.task("noWithin", { deadline: { from: "start" } }, async () => 1);
  },
);
// @ts-expect-error — notify has no onSkipped
dag("notifyTypo", { notify: { onSkipped: [] } }, (d) => void d.task("t", async () => 1));

// sluice/testing: a run's outputs are typed by the refs that name them (a mapped task's: the list).
declare const testRun: TestRun;
dag("testing", (d) => {
  const n = d.task("n", async () => 1);
  const m = d.map("m", { over: { x: [1, 2] } }, async ({ x }) => String(x));
  assertEqual<ReturnType<typeof testRun.output<number>>, number>();
  expectType<number>(testRun.output(n));
  expectType<string[]>(testRun.output(m));
  // @ts-expect-error — n's output is a number, not a string
  expectType<string>(testRun.output(n));
  // @ts-expect-error — a mapped task's output is the list of its instances' outputs
  expectType<string>(testRun.output(m));
});
// Timetables: a trigger timetable (one cron, several, a delta), runImmediately as a boolean or a duration.
dag("trigger", { schedule: { trigger: "0 6 * * *" } }, (d) => void d.task("t", async () => 1));
dag("triggers", { schedule: { trigger: ["0 6 * * 1-5", "30 9 * * 6"], runImmediately: "10m" } }, (d) => void d.task("t", async () => 1));
dag("deltaTrigger", { schedule: { trigger: "every 3 days", runImmediately: true } }, (d) => void d.task("t", async () => 1));
// @ts-expect-error — runImmediately is a boolean or a duration
dag("runImmediatelyObject", { schedule: { trigger: "@daily", runImmediately: { at: 1 } } }, (d) => void d.task("t", async () => 1));
// @ts-expect-error — a trigger schedule has no other options (a typo is a type error, and a load-time error)
dag("triggerTypo", { schedule: { trigger: "@daily", runImediately: true } }, (d) => void d.task("t", async () => 1));
// @ts-expect-error — a list of crons is a trigger timetable: { trigger: [...] }
dag("bareList", { schedule: ["0 6 * * *"] }, (d) => void d.task("t", async () => 1));
// A user's own timetable: pure functions of epoch milliseconds.
const everyDay: Timetable = {
  name: "every-day",
  nextRun: ({ lastEnd, now }) => {
    const start = lastEnd ?? Math.floor(now / 86_400_000) * 86_400_000 - 86_400_000;
    return { start, end: start + 86_400_000 };
  },
  inferManualDataInterval: (t) => ({ start: t - 86_400_000, end: t }),
};
dag("custom", { schedule: everyDay }, (d) => void d.task("t", async () => 1));
// @ts-expect-error — nextRun returns a data interval of numbers (epoch ms), not Dates
const wrongTimetable: Timetable = { name: "wrong", nextRun: () => ({ start: new Date(), end: new Date() }) };
void wrongTimetable;
// The data interval is always there (a manual run's is inferred): no null check needed.
dag("interval", { schedule: "@daily" }, (d) => void d.task("t", async (_i, ctx) => ctx.dataInterval.end.getTime() - ctx.dataInterval.start.getTime()));
// Depending on the past: booleans.
dag("past", { schedule: "@daily", defaults: { dependsOnPast: true } }, (d) => {
  d.task("a", { waitForDownstream: true, ignoreFirstDependsOnPast: true }, async () => 1);
  // @ts-expect-error — dependsOnPast is a boolean
  d.task("b", { dependsOnPast: "yes" }, async () => 1);
});
// Warm processes (executors/childPool.ts): `fresh` is a boolean option of process-isolated tasks, and a
// DAG default.
dag("fresh", { defaults: { isolation: "process", fresh: true } }, (d) => {
  d.task("own", { isolation: "process", fresh: true }, async () => 1);
  d.task("warm", { isolation: "process", fresh: false }, async () => 1);
  // @ts-expect-error — fresh is a boolean
  d.task("freshText", { isolation: "process", fresh: "yes" }, async () => 1);
  // @ts-expect-error — fresh is a boolean
  d.task("freshNumber", { isolation: "process", fresh: 1 }, async () => 1);
});

// Caching: cacheKey receives the task's inputs typed as its function does, and must return a string.
dag("cache_types", (d) => {
  const data = d.task("data", async () => ({ version: "2026-12", rows: 3 }));
  d.task("fit", { inputs: { data }, cache: true, cacheKey: ({ data }) => {
    assertEqual<typeof data, { version: string; rows: number }>();
    return data.version;
  } }, async ({ data }) => data.rows);
  // @ts-expect-error — the input has no such property
  d.task("fit_wrong", { inputs: { data }, cache: true, cacheKey: ({ data }) => data.checksum }, async () => 1);
  // @ts-expect-error — a key is a string, not a number
  d.task("fit_number", { inputs: { data }, cache: true, cacheKey: ({ data }) => data.rows }, async () => 1);
  // @ts-expect-error — cacheParams is a list of names
  d.task("fit_params", { cache: true, cacheParams: "lr" }, async () => 1);
});

// Mapped task groups (d.mapGroup): the element is typed inside; a handle returned by the group is a list outside.
dag("mappedGroups", (d) => {
  const files = d.task("files", async () => ["a.csv", "b.csv"]);
  const out = d.mapGroup("per_file", { over: { file: files, n: [1, 2] }, partial: { sep: ";" } }, (g, { file, n, sep }) => {
    assertEqual<typeof file, TaskRef<string>>();
    assertEqual<typeof n, TaskRef<1 | 2>>();
    assertEqual<typeof sep, TaskRef<";">>();
    const rows = g.task("parse", { inputs: { file, sep } }, async ({ file, sep }) => {
      assertEqual<typeof file, string>();
      assertEqual<typeof sep, ";">();
      return file.split(sep).length;
    });
    // inside the group, a task's output is its own instance's: one number, not a list
    const score = g.task("score", { inputs: { rows, n } }, async ({ rows, n }) => {
      assertEqual<typeof rows, number>();
      return rows * n;
    });
    // @ts-expect-error — the element is a string, not a number
    g.task("wrongElement", { inputs: { file } }, async ({ file }: { file: number }) => file + 1);
    // @ts-expect-error — "other" is not an element of the group
    g.task("unknownElement", { inputs: { file } }, async ({ other }) => other);
    return { score, rows };
  });
  // outside the group, each handle it returned gives the list of its instances' outputs
  assertEqual<typeof out, { score: TaskRef<number[]>; rows: TaskRef<number[]> }>();
  d.task("total", { inputs: { score: out.score } }, async ({ score }) => {
    assertEqual<typeof score, number[]>();
    return score.reduce((a, b) => a + b, 0);
  });
  // @ts-expect-error — outside the group, the reduce gets a list, not one number
  d.task("wrongReduce", { inputs: { score: out.score } }, async ({ score }: { score: number }) => score);

  const single = d.mapGroup("zipped", { over: zip({ a: [1, 2], b: ["x", "y"] }) }, (g, { a, b }) =>
    g.task("pair", { inputs: { a, b } }, async ({ a, b }) => `${b}${a}`),
  );
  assertEqual<typeof single, TaskRef<string[]>>();
  // @ts-expect-error — a mapped task group needs "over"
  d.mapGroup("noOver", {}, (g) => g.task("t", async () => 1));
  // @ts-expect-error — "over" takes lists: a number is not one
  d.mapGroup("scalar", { over: { n: d.task("one", async () => 1) } }, (g) => g.task("t2", async () => 1));
});
