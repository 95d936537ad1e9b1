/**
 * The capacity policy: which of the ready task instances a worker may claim now, and in which order
 * (docs/decisions/0012-workers-and-capacity.md). Pure: the store reads the candidates, the running tasks
 * and the pools inside the claiming transaction, calls `chooseClaims`, and claims what it returns
 * (store/claims.ts) — so the rules hold across all workers at every instant.
 *
 * - queues: a worker claims only task instances of the queues it serves (all of them when it names none:
 *   `sluice dev`, `sluice run`);
 * - pools: the running tasks of a pool hold at most its slots (`poolSlots` each; tasks naming no pool are
 *   in `default_pool`). A task naming a pool that does not exist is let through: its worker fails it at
 *   once with a message naming the pool and the task (store/capacity.ts `requirePool`);
 * - `maxActiveTasks` (per DAG, across its runs) and `maxActiveTisPerDag` (per task, across runs);
 * - resources: the requests of a worker's running tasks fit its declared capacity (an undeclared dimension
 *   is unlimited);
 * - order: higher priority first; among equal priorities the DAG with the fewest running task instances
 *   first (counting the ones just chosen: one DAG's 10,000 ready tasks do not starve another's), then the
 *   longest ready.
 *
 * PostgreSQL adds one rule: a claim may take only candidates that the advisory locks it holds make safe
 * (`HeldLocks`; the reasoning is in store/claims.ts and decision 0013). What the candidates say about the
 * locks the next claim needs comes back as `LockFindings`.
 */
import type { DagSpec } from "./dagSpec.js";
import { fits, NO_RESOURCES, type Capacity, type Resources } from "./resources.js";

/** The pool of the tasks that name none (created by migration 0006 with 128 slots, like Airflow's). */
export const DEFAULT_POOL = "default_pool";

/** What a task asks of the capacity rules while it runs, from its DAG's spec. */
export interface TaskProfile {
  readonly pool: string;
  readonly poolSlots: number;
  readonly resources: Resources;
  /** Per task, across the DAG's runs; null: no limit. */
  readonly maxActiveTisPerDag: number | null;
  /** The DAG's limit, across its runs; null: no limit. */
  readonly maxActiveTasks: number | null;
}

/** A task its DAG version does not list (a spec that could not be read): limited by nothing but the default pool. */
export const DEFAULT_PROFILE: TaskProfile = Object.freeze({ pool: DEFAULT_POOL, poolSlots: 1, resources: NO_RESOURCES, maxActiveTisPerDag: null, maxActiveTasks: null });

/**
 * Each task's profile, by task id. Tasks without resources share one profile object per (pool, slots,
 * per-task limit): a 100,000-task DAG holds a handful of profiles, not 100,000.
 */
export function taskProfiles(spec: DagSpec): Map<string, TaskProfile> {
  const out = new Map<string, TaskProfile>();
  const shared = new Map<string, TaskProfile>();
  for (const t of spec.tasks) {
    const profile: TaskProfile = {
      pool: t.pool ?? DEFAULT_POOL,
      poolSlots: t.poolSlots ?? 1,
      resources: t.resources ?? NO_RESOURCES,
      maxActiveTisPerDag: t.maxActiveTisPerDag ?? null,
      maxActiveTasks: spec.maxActiveTasks ?? null,
    };
    if (t.resources) {
      out.set(t.id, profile);
      continue;
    }
    const key = `${profile.pool}\0${profile.poolSlots}\0${profile.maxActiveTisPerDag}`;
    let same = shared.get(key);
    if (!same) shared.set(key, (same = profile));
    out.set(t.id, same);
  }
  return out;
}

/** Whether a worker serving `queues` (undefined, null or empty: all) takes task instances of `queue`. */
export function servesQueue(queues: readonly string[] | null | undefined, queue: string): boolean {
  return !queues?.length || queues.includes(queue);
}

/** A ready task instance the worker could claim. */
export interface CapacityCandidate {
  dagId: string;
  taskId: string;
  queue: string;
  priority: number;
  /** When it became ready (epoch ms); null counts as 0. */
  readyAt: number | null;
  profile: TaskProfile;
}

/** A task instance running now (any worker's), or one this claim has already chosen. */
export interface RunningTask {
  workerId: string;
  dagId: string;
  taskId: string;
  profile: TaskProfile;
}

/** The claiming worker. */
export interface ClaimingWorker {
  workerId: string;
  /** How many candidates it takes at most (its free slots). */
  limit: number;
  /** Queues it serves; undefined, null or empty: all. */
  queues?: readonly string[] | null;
  /** Its declared capacity; undefined or null: none declared (no resource limit). */
  resources?: Capacity | null;
}

/**
 * PostgreSQL: the advisory locks a claim holds (store/claims.ts). A pool's claims may overlap (the pool
 * locked shared) only while W + X ≤ slots — W the live workers' total concurrency, X what running tasks
 * hold beyond one slot each — and none of them starts a task of more than one slot: then at most W tasks
 * run and the pool cannot overflow. Otherwise they take turns (the pool locked exclusively). A DAG with
 * `maxActiveTasks` or a task with `maxActiveTisPerDag` needs its DAG locked (always exclusively).
 */
export interface HeldLocks {
  /** Pool -> held exclusively. */
  pools: ReadonlyMap<string, boolean>;
  dags: ReadonlySet<string>;
  /** W: the live workers' total concurrency. */
  workerSlots: number;
}

/** What the candidates showed about locks (PostgreSQL): the store keeps it as the next claim's hints. */
export interface LockFindings {
  /** Locks this claim lacked (or held shared where turns are needed) that candidates were turned away for. */
  needed: { pools: Set<string>; dags: Set<string> };
  /** The existing pools, and the DAGs with limits, that the candidates were in. */
  seen: { pools: Set<string>; dags: Set<string> };
  /** Pools held shared whose claims must take turns now (they could overflow, or a candidate takes several slots). */
  exclusive: Set<string>;
  /** Pools held exclusively whose claims could overlap again (W + X ≤ slots, no candidate of several slots). */
  shared: Set<string>;
}

export interface CapacityInput<C extends CapacityCandidate> {
  /** In the order read (the store's: priority desc, then ready_at); ties keep it. */
  candidates: readonly C[];
  /** Every worker's running task instances (they count against pools and DAG limits; the claiming worker's against its resources too). */
  running: readonly RunningTask[];
  /** Slots of the pools that exist. */
  pools: ReadonlyMap<string, number>;
  worker: ClaimingWorker;
  /** PostgreSQL: the locks held; null or absent: none needed (SQLite's single writer serialises claims). */
  locks?: HeldLocks | null;
}

export interface CapacityChoice<C extends CapacityCandidate> {
  /** In claim order. */
  chosen: C[];
  /** Some candidate of the worker's queues was held back by a limit (or a lock) before anything was chosen. */
  blocked: boolean;
  /** With `locks` only. */
  locks: LockFindings | null;
}

/**
 * Choose up to `worker.limit` candidates that the worker may run now without breaking a limit: greedily,
 * in claim order, each choice counting as running for the next. O(candidates × chosen), which the store
 * bounds (a page of ~50 rows on the hot path, 256 when limits block).
 *
 * @example
 * const { chosen } = chooseClaims({
 *   candidates: [{ dagId: "etl", taskId: "load", queue: "default", priority: 1, readyAt: 0, profile }],
 *   running: [],
 *   pools: new Map([["default_pool", 128]]),
 *   worker: { workerId: "w1", limit: 32 },
 * });
 */
export function chooseClaims<C extends CapacityCandidate>(input: CapacityInput<C>): CapacityChoice<C> {
  const { worker, pools } = input;
  const usage = new Usage(worker.workerId);
  const extra = new Map<string, number>();
  for (const r of input.running) {
    usage.take(r.dagId, r.taskId, r.profile, r.workerId);
    if (r.profile.poolSlots > 1) add(extra, r.profile.pool, r.profile.poolSlots - 1);
  }
  const findings: LockFindings | null = input.locks ? { needed: { pools: new Set(), dags: new Set() }, seen: { pools: new Set(), dags: new Set() }, exclusive: new Set(), shared: new Set() } : null;
  const multiSlot = new Set<string>();

  const fitsNow = (c: C): boolean => {
    const p = c.profile;
    const slots = pools.get(p.pool);
    // an unknown pool limits nothing here: the worker fails the task with a clear message (requirePool)
    if (slots !== undefined && usage.poolUsed(p.pool) + p.poolSlots > slots) return false;
    if (p.maxActiveTasks !== null && usage.dagRunning(c.dagId) >= p.maxActiveTasks) return false;
    if (p.maxActiveTisPerDag !== null && usage.taskRunning(c.dagId, c.taskId) >= p.maxActiveTisPerDag) return false;
    if (worker.resources && !fits(p.resources, usage.mine, worker.resources)) return false;
    return true;
  };

  // The locks do not change within a claim: each candidate passes them or not once. Every candidate is
  // looked at (not only the ones that fit now): the next claim's locks are the ones all of them need.
  let blocked = false;
  const left: C[] = [];
  for (const c of input.candidates) {
    if (!servesQueue(worker.queues, c.queue)) continue;
    if (input.locks && !lockAllows(input.locks, pools, input.locks.workerSlots, extra, c, findings!, multiSlot)) blocked = true;
    else if (fitsNow(c)) left.push(c);
    else blocked = true;
  }
  if (input.locks) {
    for (const [pool, exclusive] of input.locks.pools) {
      if (exclusive && pools.has(pool) && roomy(pools, input.locks.workerSlots, extra, pool) && !multiSlot.has(pool)) findings!.shared.add(pool);
    }
  }

  const chosen: C[] = [];
  while (chosen.length < worker.limit && left.length > 0) {
    let best = -1;
    for (let i = 0; i < left.length; i++) {
      const x = left[i]!;
      if (!fitsNow(x)) continue;
      if (best < 0) {
        best = i;
        continue;
      }
      const b = left[best]!;
      if (x.priority !== b.priority) {
        if (x.priority > b.priority) best = i;
        continue;
      }
      const dx = usage.dagRunning(x.dagId);
      const db = usage.dagRunning(b.dagId);
      if (dx < db || (dx === db && (x.readyAt ?? 0) < (b.readyAt ?? 0))) best = i;
    }
    if (best < 0) break;
    const [c] = left.splice(best, 1) as [C];
    usage.take(c.dagId, c.taskId, c.profile, worker.workerId);
    chosen.push(c);
  }
  return { chosen, blocked, locks: findings };
}

/** Slots and counts in use, as running tasks (and the chosen ones) add up. */
class Usage {
  private readonly pools = new Map<string, number>();
  private readonly dags = new Map<string, number>();
  private readonly tasks = new Map<string, number>();
  /** What the claiming worker's own running tasks request. */
  readonly mine: Resources = { cpu: 0, memoryMb: 0, gpu: 0 };

  constructor(private readonly workerId: string) {}

  take(dagId: string, taskId: string, p: TaskProfile, workerId: string): void {
    add(this.pools, p.pool, p.poolSlots);
    add(this.dags, dagId, 1);
    add(this.tasks, `${dagId}\0${taskId}`, 1);
    if (workerId === this.workerId) {
      this.mine.cpu += p.resources.cpu;
      this.mine.memoryMb += p.resources.memoryMb;
      this.mine.gpu += p.resources.gpu;
    }
  }

  poolUsed(pool: string): number {
    return this.pools.get(pool) ?? 0;
  }

  dagRunning(dagId: string): number {
    return this.dags.get(dagId) ?? 0;
  }

  taskRunning(dagId: string, taskId: string): number {
    return this.tasks.get(`${dagId}\0${taskId}`) ?? 0;
  }
}

function add(m: Map<string, number>, k: string, n: number): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

/** Whether a pool cannot overflow however its claims interleave (W + X ≤ slots; see HeldLocks). */
function roomy(pools: ReadonlyMap<string, number>, w: number, extra: ReadonlyMap<string, number>, pool: string): boolean {
  return w + (extra.get(pool) ?? 0) <= pools.get(pool)!;
}

/**
 * Whether the locks held make the candidate safe to claim (see HeldLocks); records in `f` the locks it
 * was turned away for and the pools and DAGs it is in.
 */
function lockAllows(locks: HeldLocks, pools: ReadonlyMap<string, number>, w: number, extra: ReadonlyMap<string, number>, c: CapacityCandidate, f: LockFindings, multiSlot: Set<string>): boolean {
  const p = c.profile;
  const limited = p.maxActiveTasks !== null || p.maxActiveTisPerDag !== null;
  if (limited) f.seen.dags.add(c.dagId);
  if (pools.has(p.pool)) f.seen.pools.add(p.pool);
  if (p.poolSlots > 1) multiSlot.add(p.pool);
  if (limited && !locks.dags.has(c.dagId)) {
    f.needed.dags.add(c.dagId);
    return false;
  }
  if (!pools.has(p.pool)) return true; // an unknown pool limits nothing (see fitsNow)
  const exclusive = locks.pools.get(p.pool);
  if (exclusive) return true;
  if (exclusive === false && p.poolSlots === 1 && roomy(pools, w, extra, p.pool)) return true;
  // a pool this claim did not lock, or one whose claims must take turns
  if (exclusive === false) f.exclusive.add(p.pool);
  f.needed.pools.add(p.pool);
  return false;
}
