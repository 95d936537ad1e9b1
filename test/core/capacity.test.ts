/**
 * The capacity policy (core/capacity.ts), case by case: what a worker claims from a set of candidates
 * given the running tasks, the pools, its queues and resources — and, for PostgreSQL, the locks it holds.
 * No database: each case runs in microseconds. The claim's reads and locks are tested against real
 * databases in test/worker/claims.test.ts.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  chooseClaims,
  DEFAULT_POOL,
  DEFAULT_PROFILE,
  servesQueue,
  taskProfiles,
  type CapacityCandidate,
  type ClaimingWorker,
  type HeldLocks,
  type RunningTask,
  type TaskProfile,
} from "../../src/core/capacity.js";
import type { DagSpec, TaskSpec } from "../../src/core/dagSpec.js";

type ProfileOpts = Partial<Omit<TaskProfile, "resources">> & { cpu?: number; memoryMb?: number; gpu?: number };
type CandOpts = ProfileOpts & { task?: string; queue?: string; priority?: number; readyAt?: number | null };
type Cand = CapacityCandidate & { id: string };

function profile(o: ProfileOpts): TaskProfile {
  return {
    pool: o.pool ?? DEFAULT_POOL,
    poolSlots: o.poolSlots ?? 1,
    resources: { cpu: o.cpu ?? 0, memoryMb: o.memoryMb ?? 0, gpu: o.gpu ?? 0 },
    maxActiveTisPerDag: o.maxActiveTisPerDag ?? null,
    maxActiveTasks: o.maxActiveTasks ?? null,
  };
}

/** A candidate `id` of DAG `dag` (its task is `id` unless given); readyAt is set from its place in the list. */
const c = (id: string, dag: string, o: CandOpts = {}) => ({ id, dag, o });
/** A running task instance, on worker w2 unless told. */
const r = (dag: string, task: string, o: ProfileOpts & { worker?: string } = {}): RunningTask => ({ workerId: o.worker ?? "w2", dagId: dag, taskId: task, profile: profile(o) });

interface Case {
  name: string;
  /** In the order read: their readyAt is their index unless given. */
  candidates: ReturnType<typeof c>[];
  running?: RunningTask[];
  /** Slots per existing pool; default: default_pool with 128. */
  pools?: Record<string, number>;
  /** Default: w1, limit 10, every queue, no declared resources. */
  worker?: Partial<ClaimingWorker>;
  locks?: { pools: Record<string, boolean>; dags?: string[]; workerSlots: number };
  /** Ids of the chosen candidates, in claim order. */
  want: string[];
  /** Default false. */
  blocked?: boolean;
  /** Expected lock findings (with `locks`), as sorted lists. */
  findings?: { needed?: { pools?: string[]; dags?: string[] }; seen?: { pools?: string[]; dags?: string[] }; exclusive?: string[]; shared?: string[] };
}

const CASES: Case[] = [
  // ---- nothing to choose, and the worker's free slots -------------------------------------------------
  { name: "no candidates: nothing chosen, nothing blocked", candidates: [], running: [r("a", "x")], want: [] },
  {
    name: "the worker's limit: at most its free slots, the first in claim order",
    candidates: [c("a1", "a"), c("a2", "a"), c("a3", "a")],
    worker: { limit: 2 },
    want: ["a1", "a2"],
  },

  // ---- pools --------------------------------------------------------------------------------------------
  {
    name: "pool: running tasks of every worker hold its slots",
    candidates: [c("p1", "a", { pool: "two" }), c("p2", "a", { pool: "two" }), c("p3", "a", { pool: "two" })],
    running: [r("b", "x", { pool: "two" })],
    pools: { two: 2, [DEFAULT_POOL]: 128 },
    want: ["p1"],
  },
  {
    name: "full pool: nothing of it is chosen, and the claim says it was blocked",
    candidates: [c("p1", "a", { pool: "two" }), c("p2", "a", { pool: "two" })],
    running: [r("b", "x", { pool: "two" }), r("b", "y", { pool: "two", worker: "w1" })],
    pools: { two: 2, [DEFAULT_POOL]: 128 },
    want: [],
    blocked: true,
  },
  {
    name: "poolSlots > 1: a running 2-slot task leaves 2 of 4; a 3-slot task does not fit, a 2-slot one does, then nothing",
    candidates: [c("w3", "a", { pool: "four", poolSlots: 3 }), c("w2", "a", { pool: "four", poolSlots: 2 }), c("one", "a", { pool: "four" })],
    running: [r("b", "x", { pool: "four", poolSlots: 2 })],
    pools: { four: 4 },
    want: ["w2"],
    blocked: true,
  },
  {
    name: "poolSlots > 1: the slots of the tasks just chosen count for the next choice",
    candidates: [c("w2a", "a", { pool: "four", poolSlots: 2 }), c("w2b", "a", { pool: "four", poolSlots: 2 }), c("one", "a", { pool: "four" })],
    pools: { four: 4 },
    want: ["w2a", "w2b"],
  },
  {
    name: "default pool: tasks naming no pool hold its slots",
    candidates: [c("d1", "a"), c("d2", "a"), c("d3", "a")],
    running: [r("b", "x")],
    pools: { [DEFAULT_POOL]: 2 },
    want: ["d1"],
  },
  {
    name: "a pool that does not exist limits nothing (its worker fails the task); an existing full one does",
    candidates: [c("t1", "a", { pool: "two" }), c("g1", "a", { pool: "ghost" }), c("g2", "a", { pool: "ghost" })],
    running: [r("b", "x", { pool: "two" }), r("b", "y", { pool: "two" }), r("b", "z", { pool: "ghost" })],
    pools: { two: 2 },
    want: ["g1", "g2"],
    blocked: true,
  },

  // ---- queues -------------------------------------------------------------------------------------------
  {
    name: "queues: only the worker's; other queues' candidates are not 'blocked'",
    candidates: [c("d", "a", { queue: "default" }), c("g", "a", { queue: "gpu" }), c("h", "a", { queue: "high" })],
    worker: { queues: ["gpu", "high"] },
    want: ["g", "h"],
    blocked: false,
  },
  {
    name: "queues: a worker naming none serves every queue",
    candidates: [c("d", "a", { queue: "default", priority: 1 }), c("g", "a", { queue: "gpu", priority: 5 })],
    worker: { queues: [] },
    want: ["g", "d"],
  },

  // ---- resources ----------------------------------------------------------------------------------------
  {
    name: "resources: requests fit the declared capacity minus the worker's own running tasks",
    candidates: [c("cpu3", "a", { cpu: 3 }), c("cpu2", "a", { cpu: 2 }), c("cpu1", "a", { cpu: 1 })],
    running: [r("b", "x", { cpu: 2, worker: "w1" })],
    worker: { resources: { cpu: 4 } },
    want: ["cpu2"],
    blocked: true,
  },
  {
    name: "resources: other workers' running tasks do not count against this worker's capacity",
    candidates: [c("cpu4", "a", { cpu: 4 }), c("cpu1", "a", { cpu: 1 })],
    running: [r("b", "x", { cpu: 4, worker: "w2" })],
    worker: { resources: { cpu: 4 } },
    want: ["cpu4"],
  },
  {
    name: "resources: memory adds up across the chosen tasks",
    candidates: [c("m2048", "a", { memoryMb: 2048 }), c("m512a", "a", { memoryMb: 512 }), c("m512b", "a", { memoryMb: 512 }), c("m256", "a", { memoryMb: 256 })],
    worker: { resources: { memoryMb: 1024 } },
    want: ["m512a", "m512b"],
    blocked: true,
  },
  {
    name: "resources: an undeclared dimension is unlimited; a declared one is not",
    candidates: [c("cpu64", "a", { cpu: 64 }), c("g1", "a", { gpu: 1 }), c("g2", "a", { gpu: 1 })],
    worker: { resources: { gpu: 1 } },
    want: ["cpu64", "g1"],
  },
  {
    name: "resources: gpu=0 declared turns away every GPU request",
    candidates: [c("g", "a", { gpu: 1 }), c("cpu", "a", { cpu: 1 })],
    worker: { resources: { gpu: 0 } },
    want: ["cpu"],
    blocked: true,
  },

  // ---- order --------------------------------------------------------------------------------------------
  {
    name: "priority: higher first, whatever the order read and the DAGs' running tasks",
    candidates: [c("low", "a", { priority: 1 }), c("high", "busy", { priority: 9 }), c("mid", "a", { priority: 5 })],
    running: [r("busy", "x"), r("busy", "y")],
    want: ["high", "mid", "low"],
  },
  {
    name: "fairness: at equal priority the DAG running fewer first, though its tasks are ready later",
    candidates: [c("a1", "a"), c("a2", "a"), c("b1", "b")],
    running: [r("a", "x"), r("a", "y")],
    worker: { limit: 2 },
    want: ["b1", "a1"],
  },
  {
    name: "fairness: the tasks just chosen count, so two DAGs alternate",
    candidates: [c("a1", "a"), c("a2", "a"), c("a3", "a"), c("b1", "b"), c("b2", "b")],
    worker: { limit: 4 },
    want: ["a1", "b1", "a2", "b2"],
  },
  {
    name: "order: at equal priority and equal running tasks, the longest ready first (null counts as 0)",
    candidates: [c("late", "a", { readyAt: 50 }), c("early", "b", { readyAt: 10 }), c("never", "c", { readyAt: null })],
    want: ["never", "early", "late"],
  },

  // ---- maxActiveTasks and maxActiveTisPerDag ------------------------------------------------------------
  {
    name: "maxActiveTasks: a DAG's running tasks across its runs stop at its limit; other DAGs go on",
    candidates: [c("c1", "capped", { maxActiveTasks: 2 }), c("c2", "capped", { maxActiveTasks: 2 }), c("o1", "other")],
    running: [r("capped", "x", { maxActiveTasks: 2 })],
    want: ["o1", "c1"],
    blocked: false,
  },
  {
    name: "maxActiveTasks: a DAG at its limit gets nothing",
    candidates: [c("c1", "capped", { maxActiveTasks: 1 }), c("c2", "capped", { maxActiveTasks: 1 })],
    running: [r("capped", "x", { maxActiveTasks: 1 })],
    want: [],
    blocked: true,
  },
  {
    name: "maxActiveTisPerDag: one instance of the task across runs; the DAG's other tasks go on",
    candidates: [c("only#1", "d", { task: "only", maxActiveTisPerDag: 1 }), c("only#2", "d", { task: "only", maxActiveTisPerDag: 1 }), c("other", "d")],
    want: ["only#1", "other"],
  },
  {
    name: "maxActiveTisPerDag: counts the running instances, and only of that DAG's task",
    candidates: [c("only#2", "d", { task: "only", maxActiveTisPerDag: 2 }), c("only#3", "d", { task: "only", maxActiveTisPerDag: 2 }), c("e-only", "e", { task: "only", maxActiveTisPerDag: 2 })],
    running: [r("d", "only", { maxActiveTisPerDag: 2 }), r("e", "other")],
    want: ["only#2", "e-only"],
  },

  // ---- several limits at once ---------------------------------------------------------------------------
  {
    name: "several limits: pool, maxActiveTasks and cpu each turn a candidate away; fairness orders the rest",
    candidates: [
      c("e1", "etl", { pool: "three", cpu: 1, maxActiveTasks: 3 }),
      c("e2", "etl", { pool: "three", maxActiveTasks: 3 }), // the pool is full by then
      c("e3", "etl", { maxActiveTasks: 3 }),
      c("o1", "other", { pool: "three" }),
      c("o2", "other", { cpu: 1 }), // this worker's cpu is taken by then
      c("o3", "other"),
      c("e4", "etl", { maxActiveTasks: 3 }), // etl runs 3 by then
    ],
    running: [r("etl", "x", { pool: "three", cpu: 1, maxActiveTasks: 3, worker: "w1" })],
    pools: { three: 3, [DEFAULT_POOL]: 128 },
    worker: { resources: { cpu: 2 } },
    want: ["o1", "e1", "o3", "e3"],
  },
  {
    name: "several limits: the first that fails turns the candidate away (pool free, DAG capped; DAG free, pool full)",
    candidates: [c("a1", "a", { maxActiveTasks: 1 }), c("b1", "b", { pool: "one" }), c("b2", "b")],
    running: [r("a", "x", { maxActiveTasks: 1 }), r("c", "y", { pool: "one" })],
    pools: { one: 1, [DEFAULT_POOL]: 128 },
    want: ["b2"],
    blocked: true,
  },

  // ---- PostgreSQL: the locks held -------------------------------------------------------------------------
  {
    name: "locks: a pool held shared with W + X ≤ slots takes one-slot tasks; nothing changes mode",
    candidates: [c("d1", "a"), c("d2", "a")],
    pools: { [DEFAULT_POOL]: 128 },
    locks: { pools: { [DEFAULT_POOL]: false }, workerSlots: 64 },
    worker: { limit: 1 },
    want: ["d1"],
    findings: { seen: { pools: [DEFAULT_POOL] } },
  },
  {
    name: "locks: a pool held shared that could overflow (W > slots) takes nothing and must take turns",
    candidates: [c("t1", "a", { pool: "two" }), c("d1", "a")],
    pools: { two: 2, [DEFAULT_POOL]: 128 },
    locks: { pools: { two: false, [DEFAULT_POOL]: false }, workerSlots: 64 },
    want: ["d1"],
    blocked: true,
    findings: { needed: { pools: ["two"] }, seen: { pools: [DEFAULT_POOL, "two"] }, exclusive: ["two"] },
  },
  {
    name: "locks: X counts what running tasks hold beyond one slot (W 60 + X 5 > 64)",
    candidates: [c("t1", "a", { pool: "p64" })],
    running: [r("b", "x", { pool: "p64", poolSlots: 6 })],
    pools: { p64: 64 },
    locks: { pools: { p64: false }, workerSlots: 60 },
    want: [],
    blocked: true,
    findings: { needed: { pools: ["p64"] }, seen: { pools: ["p64"] }, exclusive: ["p64"] },
  },
  {
    name: "locks: a multi-slot task in a pool held shared needs turns, though the pool is roomy",
    candidates: [c("wide", "a", { poolSlots: 2 }), c("d1", "a")],
    pools: { [DEFAULT_POOL]: 128 },
    locks: { pools: { [DEFAULT_POOL]: false }, workerSlots: 64 },
    want: ["d1"],
    blocked: true,
    findings: { needed: { pools: [DEFAULT_POOL] }, seen: { pools: [DEFAULT_POOL] }, exclusive: [DEFAULT_POOL] },
  },
  {
    name: "locks: a pool held exclusively takes anything that fits; roomy again with no multi-slot candidate, it can go back to shared",
    candidates: [c("t1", "a", { pool: "two" }), c("t2", "a", { pool: "two" }), c("t3", "a", { pool: "two" })],
    pools: { two: 2, big: 128 },
    locks: { pools: { two: true, big: true }, workerSlots: 64 },
    want: ["t1", "t2"],
    findings: { seen: { pools: ["two"] }, shared: ["big"] },
  },
  {
    name: "locks: a pool not locked at all is needed (not switched to turns); an unknown pool needs no lock",
    candidates: [c("t1", "a", { pool: "two" }), c("g1", "a", { pool: "ghost" })],
    pools: { two: 2, [DEFAULT_POOL]: 128 },
    locks: { pools: { [DEFAULT_POOL]: false }, workerSlots: 1 },
    want: ["g1"],
    blocked: true,
    findings: { needed: { pools: ["two"] }, seen: { pools: ["two"] } },
  },
  {
    name: "locks: a DAG with limits takes nothing without its lock; with it, its limits apply",
    candidates: [c("c1", "capped", { maxActiveTasks: 5 }), c("s1", "single", { task: "only", maxActiveTisPerDag: 1 }), c("s2", "single", { task: "only", maxActiveTisPerDag: 1 })],
    pools: { [DEFAULT_POOL]: 128 },
    locks: { pools: { [DEFAULT_POOL]: false }, dags: ["single"], workerSlots: 2 },
    want: ["s1"],
    blocked: true,
    findings: { needed: { dags: ["capped"] }, seen: { pools: [DEFAULT_POOL], dags: ["capped", "single"] } },
  },
];

function run(k: Case) {
  const candidates: Cand[] = k.candidates.map(({ id, dag, o }, i) => ({
    id,
    dagId: dag,
    taskId: o.task ?? id,
    queue: o.queue ?? "default",
    priority: o.priority ?? 0,
    readyAt: o.readyAt === undefined ? i : o.readyAt,
    profile: profile(o),
  }));
  const locks: HeldLocks | null = k.locks ? { pools: new Map(Object.entries(k.locks.pools)), dags: new Set(k.locks.dags ?? []), workerSlots: k.locks.workerSlots } : null;
  return chooseClaims({
    candidates,
    running: k.running ?? [],
    pools: new Map(Object.entries(k.pools ?? { [DEFAULT_POOL]: 128 })),
    worker: { workerId: "w1", limit: 10, ...k.worker },
    locks,
  });
}

const sorted = (s: Iterable<string>) => [...s].sort();

describe("chooseClaims", () => {
  for (const k of CASES) {
    test(k.name, () => {
      const got = run(k);
      assert.deepEqual(got.chosen.map((x) => x.id), k.want);
      assert.equal(got.blocked, k.blocked ?? false, "blocked");
      if (!k.locks) {
        assert.equal(got.locks, null);
        return;
      }
      const f = got.locks!;
      assert.deepEqual(
        {
          needed: { pools: sorted(f.needed.pools), dags: sorted(f.needed.dags) },
          seen: { pools: sorted(f.seen.pools), dags: sorted(f.seen.dags) },
          exclusive: sorted(f.exclusive),
          shared: sorted(f.shared),
        },
        {
          needed: { pools: k.findings?.needed?.pools ?? [], dags: k.findings?.needed?.dags ?? [] },
          seen: { pools: k.findings?.seen?.pools ?? [], dags: k.findings?.seen?.dags ?? [] },
          exclusive: k.findings?.exclusive ?? [],
          shared: k.findings?.shared ?? [],
        },
        "lock findings",
      );
    });
  }

  // A case whose answer is every candidate in the order read would pass against a policy that checks
  // nothing: each case must be able to fail.
  test("every case (but the empty one) tells the policy from taking every candidate in the order read", () => {
    for (const k of CASES) {
      if (k.candidates.length === 0) continue;
      assert.notDeepEqual(k.want, k.candidates.map((x) => x.id), k.name);
    }
  });

  test("the input is left as it was (the store reads its candidates again for the next page)", () => {
    const k = CASES.find((x) => x.name.startsWith("fairness: the tasks just chosen"))!;
    const candidates = k.candidates.map(({ id, dag }, i) => ({ id, dagId: dag, taskId: id, queue: "default", priority: 0, readyAt: i, profile: DEFAULT_PROFILE }));
    const running = [r("a", "x")];
    const before = JSON.stringify({ candidates, running });
    const got = chooseClaims({ candidates, running, pools: new Map([[DEFAULT_POOL, 128]]), worker: { workerId: "w1", limit: 4 } });
    assert.equal(got.chosen.length, 4);
    assert.equal(JSON.stringify({ candidates, running }), before);
  });
});

describe("servesQueue", () => {
  const cases: [readonly string[] | null | undefined, string, boolean][] = [
    [undefined, "default", true],
    [null, "gpu", true],
    [[], "gpu", true],
    [["default"], "default", true],
    [["default"], "gpu", false],
    [["gpu", "high"], "high", true],
  ];
  for (const [queues, queue, want] of cases) {
    test(`${JSON.stringify(queues)} serves ${queue}: ${want}`, () => assert.equal(servesQueue(queues, queue), want));
  }
});

describe("taskProfiles", () => {
  const task = (t: Partial<TaskSpec> & { id: string }) => ({ pool: null, ...t }) as TaskSpec;
  test("defaults: the default pool, one slot, no resources, no limits; the DAG's maxActiveTasks on every task", () => {
    const spec = {
      maxActiveTasks: 4,
      tasks: [task({ id: "plain" }), task({ id: "gpu", pool: "gpus", poolSlots: 2, resources: { cpu: 1, memoryMb: 512, gpu: 1 }, maxActiveTisPerDag: 1 })],
    } as unknown as DagSpec;
    const p = taskProfiles(spec);
    assert.deepEqual(p.get("plain"), { ...DEFAULT_PROFILE, maxActiveTasks: 4 });
    assert.deepEqual(p.get("gpu"), { pool: "gpus", poolSlots: 2, resources: { cpu: 1, memoryMb: 512, gpu: 1 }, maxActiveTisPerDag: 1, maxActiveTasks: 4 });
  });
  test("a DAG without maxActiveTasks: null", () => {
    const p = taskProfiles({ maxActiveTasks: null, tasks: [task({ id: "t" })] } as unknown as DagSpec);
    assert.deepEqual(p.get("t"), DEFAULT_PROFILE);
  });
});
