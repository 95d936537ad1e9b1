/**
 * Which ready task instances a worker may claim: the capacity rules, applied inside the claiming
 * transaction (`Tx.claimReady` calls `sendClaimReads` and `chooseClaimable`), so they hold across all workers
 * at every instant.
 *
 * - queues: a worker claims only task instances of the queues it serves (all of them when it names none:
 *   `sluice dev`, `sluice run`);
 * - pools: the running tasks of a pool hold at most its slots (`poolSlots` each; tasks naming no pool are
 *   in `default_pool`, 128 slots). A task naming a pool that does not exist is let through: its worker
 *   fails it at once with a message naming the pool and the task (`requirePool`);
 * - `maxActiveTasks` (per DAG, across its runs) and `maxActiveTisPerDag` (per task, across runs);
 * - resources: a worker's running tasks' requests fit its declared capacity;
 * - order: higher priority first; among equal priorities the DAG with the fewest running task instances
 *   first (fairness: one DAG's 10,000 ready tasks do not starve another's), then the longest ready.
 *
 * Usage is computed from the running attempts (the partial index attempts_live; bounded by the number of
 * worker slots, not by history) and the DAG specs (cached by version: a version never changes).
 *
 * Concurrency: SQLite has one writer, so the count and the claim cannot interleave with another worker's.
 * On PostgreSQL two claiming transactions would each count without seeing the other's uncommitted claims.
 * Claims that could break a limit together therefore take turns, on transaction-scoped advisory locks
 * taken before anything is read (`claimLocks`, in one order: no deadlock) — and only those
 * (docs/decisions/0013-concurrent-settles.md):
 *
 * - every claim holds `capacity` shared; registering, stopping, reviving or burying a worker (changing the
 *   total concurrency W of the live workers) holds it exclusively;
 * - a pool's claims hold `pool:<name>` shared while W + X ≤ slots, where X is what running tasks of the
 *   pool hold beyond one slot each: at most W tasks run at once, so the pool cannot overflow whatever the
 *   claimers do, as long as none of them starts a task of more than one slot (X cannot grow) — such a task,
 *   and every claim of a pool that could overflow, holds the lock exclusively, as do `pools set/delete`;
 * - a DAG with `maxActiveTasks` or a task with `maxActiveTisPerDag`: `dag:<id>` exclusively.
 *
 * Which locks a claim takes is decided before it reads (it reads in the same round trip), from what the
 * worker's previous claim found (`hints`): the pools and DAGs its candidates were in, and which pools
 * need turns. A candidate whose lock it did not take, or took shared where the pool needs it exclusively,
 * makes the transaction run again with the right locks: the hints only decide how fast a claim is, never
 * whether a limit holds. The default pool (128 slots) with two workers of 32 slots never needs turns, and
 * a pool that does holds up only the claims of its own tasks. The candidate rows themselves are locked by
 * the dialect's claim (FOR UPDATE SKIP LOCKED), owned by the PostgreSQL dialect.
 */
import { sql, type CompiledQuery, type Kysely } from "kysely";
import type { DagSpec } from "../core/dagSpec.js";
import { fits, NO_RESOURCES, type Capacity, type Resources } from "../core/resources.js";
import { SluiceError } from "../errors.js";
import type { DialectName } from "./migrations.js";
import type { Database, RunContextRow } from "./schema.js";
import type { Store, Tx } from "./store.js";
import { handleOf } from "./aggregates.js";
import { LocksChanged } from "./retry.js";
import { quiet } from "./postgres.js";

export const DEFAULT_POOL = "default_pool";

/** What a claim asks for, beyond the store's own filters. */
export interface CapacityClaim {
  workerId: string;
  limit: number;
  runId?: string;
  backfillId?: number;
  /** Queues this worker serves; undefined or empty: all. */
  queues?: readonly string[] | null;
  /** The worker's declared capacity; undefined or null: none declared (no resource limit). */
  resources?: Capacity | null;
}

/** A ready task instance with what claiming it needs (the columns `Tx.claimReady` reads). */
export interface ClaimableRow extends RunContextRow {
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  try_base: number;
  state: string;
  attempt_id: number | null;
  poke_count: number;
}

/** A task's capacity profile, from its DAG's spec. */
interface Profile {
  pool: string;
  poolSlots: number;
  resources: Resources;
  maxActiveTisPerDag: number | null;
  maxActiveTasks: number | null;
}

/** By DAG and version: a version's spec never changes. Promises, so that concurrent misses load once. */
const profiles = new Map<string, Promise<Map<string, Profile>>>();

function profilesFor(db: Kysely<Database>, dagId: string, version: string): Promise<Map<string, Profile>> {
  const key = `${dagId}\0${version}`;
  let p = profiles.get(key);
  if (!p) {
    if (profiles.size > 1000) profiles.clear();
    p = loadProfiles(db, dagId, version);
    profiles.set(key, p);
    p.catch(() => profiles.delete(key));
  }
  return p;
}

async function loadProfiles(db: Kysely<Database>, dagId: string, version: string): Promise<Map<string, Profile>> {
  const row = await db.selectFrom("dag_versions").select("spec").where("dag_id", "=", dagId).where("version", "=", version).executeTakeFirst();
  const p = new Map<string, Profile>();
  if (!row) return p;
  const spec = JSON.parse(row.spec) as DagSpec;
  for (const t of spec.tasks) {
    p.set(t.id, {
      pool: t.pool ?? DEFAULT_POOL,
      poolSlots: t.poolSlots ?? 1,
      resources: t.resources ?? NO_RESOURCES,
      maxActiveTisPerDag: t.maxActiveTisPerDag ?? null,
      maxActiveTasks: spec.maxActiveTasks ?? null,
    });
  }
  return p;
}

const UNKNOWN_TASK: Profile = { pool: DEFAULT_POOL, poolSlots: 1, resources: NO_RESOURCES, maxActiveTisPerDag: null, maxActiveTasks: null };

/**
 * Ready rows read: first what the claim wants — and a few more when this process's last claim found rows
 * that a limit blocked (`hints.blocked`; reading hundreds of rows per claim cost fanout-10000 two thirds
 * of its speed, and every row read is locked) — then pages of 256 while blocked rows fill them, up to
 * ~2,000 rows per claim.
 */
const FIRST_EXTRA = 16;
const PAGE = 256;
const MAX_PAGES = 8;
/** Fairness reads each running run's head when at most this many runs are running (else the window only). */
const MAX_HEAD_RUNS = 32;

/** A ready task instance with its place in the claim order. */
export type Candidate = ClaimableRow & { priority: number; ready_at: number | null };
const rowKey = (c: ClaimableRow) => `${c.run_id}\0${c.task_id}\0${c.map_index}`;
type RunningRow = { worker_id: string; task_id: string; dag_id: string; dag_version: string };

/** The advisory locks of the capacity rules (see the header), by name within the schema. */
const CAPACITY_LOCK = "capacity";
const poolLock = (pool: string) => `pool:${pool}`;
const dagLock = (dagId: string) => `dag:${dagId}`;

/**
 * Take advisory locks for the rest of the transaction, shared or exclusive, in the order of their keys (one
 * order for every transaction: no deadlock). Keys are per schema: deployments sharing a database do not
 * wait for each other.
 */
const LOCKS_SQL = `select case when k.x then pg_advisory_xact_lock(k.h) else pg_advisory_xact_lock_shared(k.h) end
    from (select hashtextextended(current_schema() || ':' || u.n, 0) as h, u.x from unnest(?::text[], ?::boolean[]) as u(n, x) order by 1) k`;

/**
 * PostgreSQL: the exclusive lock a change of the capacity rules' inputs takes — the live workers (W, with
 * `pool = null`) or a pool's slots — so that no claim counted with the old values is still going on.
 */
export function lockCapacity(tx: Tx, pool: string | null = null): Promise<unknown> {
  if (tx.dialect !== "postgres") return Promise.resolve();
  return tx.send(LOCKS_SQL, [[pool === null ? CAPACITY_LOCK : poolLock(pool)], [true]]);
}

/** What this process's claims found: which locks the next claim takes (PostgreSQL), how many rows it reads. */
const hints = {
  /** Pools whose claims take turns: they could overflow, or multi-slot tasks were among their candidates. */
  exclusive: new Set<string>(),
  /**
   * Per worker, the pools and the DAGs with limits that its last claim's candidates were in: the locks its
   * next claim takes — and only those, so that a pool whose claims take turns holds up only its own.
   */
  wanted: new Map<string, Wanted>(),
  /** The last claim's first rows held some that a limit blocked (any dialect). */
  blocked: false,
};
type Wanted = { pools: Set<string>; dags: Set<string> };

/**
 * The claim's first reads, issued before the claiming transaction records its ends (pipelined on
 * PostgreSQL: they travel in the same round trip); `chooseClaimable` reads their answers.
 */
export interface ClaimReads {
  claim: CapacityClaim;
  now: number;
  pgRowLocks: string;
  /** The pools with their slots; PostgreSQL: the running runs, the live workers' total concurrency and this worker's state too. */
  pools: Promise<{ name: string; slots: number; runs?: string[] | null; worker_slots?: number; me?: string | null }[]>;
  /** PostgreSQL: the locks taken — pool name -> exclusive; DAGs. */
  locked: { pools: Map<string, boolean>; dags: Set<string> } | null;
  /** Set by chooseClaimable: this worker is not registered as live (the sweep buried it); it claimed nothing. */
  notLive?: boolean;
  /** The first page of the ready queue (`size` rows at most), read for `pageRun` (or every run). */
  page: Promise<Candidate[]>;
  pageRun: string | undefined;
  size: number;
  /** The running attempts with their DAGs (PostgreSQL: read by the page's statement). */
  running: Promise<RunningRow[]>;
}

/**
 * The running runs this process's last claim saw (PostgreSQL): the first page is read for the one running
 * run before the pools' statement says which runs run now; when that changed, `chooseClaimable` reads the
 * page again (one round trip, when a run starts or ends).
 */
let lastActiveRuns: readonly string[] = [];

/**
 * Issue the claim's first reads (see ClaimReads). Serialise capacity accounting across PostgreSQL
 * transactions (see the header) — SQLite's BEGIN IMMEDIATE already did: the pools are locked first, so
 * the page and the running attempts are read after every claim that counted before this one committed.
 * The locking read returns the slots and lists the running runs (up to MAX_HEAD_RUNS + 1, as of its
 * start: a hint, not a lock): with one running run, the ready page reads that run's own index in order and
 * stops at the page size, where the plan of the global page could join and sort all of its ready rows
 * (10,000 of fanout-10000) on every claim.
 */
export function sendClaimReads(tx: Tx, claim: CapacityClaim, now: number, pgRowLocks: string): ClaimReads | null {
  if (claim.limit <= 0) return null;
  const pg = tx.dialect === "postgres";
  let locked: ClaimReads["locked"] = null;
  if (pg) {
    const wanted = hints.wanted.get(claim.workerId) ?? { pools: new Set([DEFAULT_POOL]), dags: new Set<string>() };
    locked = { pools: new Map([...wanted.pools].map((p) => [p, hints.exclusive.has(p)])), dags: new Set(wanted.dags) };
    const names = [CAPACITY_LOCK, ...[...locked.pools.keys()].map(poolLock), ...[...locked.dags].map(dagLock)];
    const exclusive = [false, ...locked.pools.values(), ...[...locked.dags].map(() => true)];
    void tx.send(LOCKS_SQL, [names, exclusive]);
  }
  const pools = readPools(tx, claim);
  const pageRun = claim.runId ?? (pg && lastActiveRuns.length === 1 ? lastActiveRuns[0] : undefined);
  const size = claim.limit + (hints.blocked ? FIRST_EXTRA : 0);
  const first = readPage(tx, claim, now, pgRowLocks, 0, size, pageRun, pg);
  // every answer marked handled: a transaction that fails before it reads them must not end the process
  const running = quiet(pg ? first.then((r) => r.running!) : tx.send<RunningRow>(RUNNING_SQL, []).then((r) => r.rows));
  return { claim, now, pgRowLocks, pools, locked, page: quiet(first.then((r) => r.page)), pageRun, size, running };
}

/**
 * The pools with their slots. PostgreSQL: with the running runs (up to MAX_HEAD_RUNS + 1), the live
 * workers' total concurrency, and the claiming worker's own state.
 */
function readPools(tx: Tx, claim: CapacityClaim): ClaimReads["pools"] {
  if (tx.dialect !== "postgres") return quiet(tx.send<{ name: string; slots: number }>("select name, slots from pools", []).then((r) => r.rows));
  const backfill = claim.backfillId !== undefined;
  return quiet(tx
    .send<{ name: string; slots: number; runs: string[] | null; worker_slots: number; me: string | null }>(
      `select name, slots, (select array_agg(x.run_id) from (select run_id from runs where state in ('queued', 'running') and state = 'running'
          ${backfill ? "and backfill_id = ?" : ""} limit ${MAX_HEAD_RUNS + 1}) x) as runs,
          (select coalesce(sum(concurrency), 0) from workers where state in ('running', 'draining')) as worker_slots,
          (select state from workers where worker_id = ?) as me
        from pools order by name`,
      backfill ? [claim.backfillId, claim.workerId] : [claim.workerId],
    )
    .then((r) => r.rows));
}

/**
 * One page of the ready queue in its index order (priority desc, ready_at); the state list is literal so
 * that SQLite can use the partial indexes task_instances_ready(_run) (docs/decisions/0002). PostgreSQL:
 * `withRunning` also reads the running attempts, under the same statement's snapshot (one round trip
 * fewer); UNION ALL keeps the page's order and appends them.
 */
function readPage(tx: Tx, claim: CapacityClaim, now: number, pgRowLocks: string, offset: number, size: number, runId: string | undefined, withRunning = false): Promise<{ page: Candidate[]; running?: RunningRow[] }> {
  const dialect = tx.dialect;
  const queues = claim.queues?.length ? claim.queues : null;
  const shape: PageShape = { runId: Boolean(runId), backfill: claim.backfillId !== undefined, queues: queues?.length ?? 0, offset: offset > 0 };
  const q = pageQuery(handleOf(tx), dialect, shape, pgRowLocks);
  const values: Record<Slot, unknown> = { now, runId, backfillId: claim.backfillId, size, offset };
  const parameters = q.slots.map((slot, i) => (slot === null ? q.query.parameters[i] : slot.startsWith("queue") ? queues![Number(slot.slice(5))] : values[slot as Slot]));
  const pg = dialect === "postgres";
  if (!withRunning) return quiet(tx.send<Candidate>(q.query.sql, parameters, pg).then((r) => ({ page: r.rows })));
  return quiet(tx
    .send<{ k: number; j: Candidate & RunningRow }>(
      `with page as (${q.query.sql}) select 0 as k, to_jsonb(page) as j from page
        union all select 1, to_jsonb(x) from (${RUNNING_SQL}) x`,
      parameters,
      true,
    )
    .then((r) => ({ page: r.rows.filter((x) => x.k === 0).map((x) => x.j), running: r.rows.filter((x) => x.k === 1).map((x) => x.j) })));
}

/**
 * Choose up to `claim.limit` ready task instances this worker may run now without breaking a limit, from
 * the reads `sendClaimReads` issued earlier in this transaction and `fresh`: task instances this
 * transaction made ready itself (invisible to those reads, and to every other claimer until it commits).
 */
export async function chooseClaimable(tx: Tx, reads: ClaimReads, fresh: readonly Candidate[] = []): Promise<ClaimableRow[]> {
  const { chosen, needed } = await choosePass(tx, reads, fresh);
  if (chosen.length < reads.claim.limit && (needed.pools.size > 0 || needed.dags.size > 0)) {
    // Candidates were turned away for locks this claim did not take (the hints were stale: a pool or DAG
    // changed its mode). Taking them now could deadlock (two claims turning a shared lock exclusive): the
    // transaction runs again instead, with the hints this one corrected.
    throw new LocksChanged();
  }
  return chosen;
}

/** One choice from one set of reads; `needed`: the locks that candidates were turned away for. */
async function choosePass(tx: Tx, reads: ClaimReads, fresh: readonly Candidate[]): Promise<{ chosen: ClaimableRow[]; needed: Needed }> {
  const needed: Needed = { pools: new Set(), dags: new Set() };
  const { claim, now, pgRowLocks } = reads;
  const db = handleOf(tx);
  const pg = tx.dialect === "postgres";
  const locked = await reads.pools;
  let candidates = await reads.page;
  let running = await reads.running;
  let activeRuns: readonly string[] | null = null;
  if (pg) {
    const me = locked[0]?.me;
    if (locked.length > 0 && me !== "running" && me !== "draining") {
      reads.notLive = true;
      return { chosen: [], needed };
    }
    activeRuns = locked[0]?.runs ?? [];
    lastActiveRuns = activeRuns;
    const onlyRun = activeRuns.length === 1 ? activeRuns[0] : undefined;
    if (!claim.runId && reads.pageRun !== undefined && reads.pageRun !== onlyRun) {
      // the hint was stale: another run runs now (or none), and its ready rows are not on that page
      const again = await readPage(tx, claim, now, pgRowLocks, 0, reads.size, onlyRun, true);
      candidates = again.page;
      running = again.running!;
    }
  }
  const pageRun = claim.runId ?? (activeRuns?.length === 1 ? activeRuns[0] : undefined);
  let size = reads.size;
  let offset = 0;
  /** Whether the ready queue may hold more rows past the last page read. */
  let more = candidates.length === size;
  const seen = new Set(candidates.map(rowKey));
  for (const c of fresh) {
    if (!seen.has(rowKey(c))) {
      seen.add(rowKey(c));
      candidates.push(c);
    }
  }
  if (candidates.length === 0) return { chosen: [], needed };
  // Fairness beyond the first rows: when they are all taken by older work and other runs are running too,
  // add the head of each running run's own ready queue (index task_instances_ready_run), so a DAG with
  // 10,000 older ready tasks does not hide another DAG's. One small query per run (pipelined), up to
  // MAX_HEAD_RUNS.
  if (!pageRun && more) {
    let runs = db.selectFrom("runs").select("run_id").where(sql<boolean>`state in ('queued', 'running')`).where("state", "=", "running");
    if (claim.backfillId !== undefined) runs = runs.where("backfill_id", "=", claim.backfillId);
    const active = activeRuns ?? (await runs.limit(MAX_HEAD_RUNS + 1).execute()).map((r) => r.run_id);
    if (active.length >= 2 && active.length <= MAX_HEAD_RUNS) {
      const heads = active.map((runId) => readPage(tx, claim, now, pgRowLocks, 0, claim.limit, runId));
      for (const head of heads) {
        for (const c of (await head).page) {
          if (!seen.has(rowKey(c))) {
            seen.add(rowKey(c));
            candidates.push(c);
          }
        }
      }
    }
  }

  const pools = new Map(locked.map((p) => [p.name, p.slots]));
  const poolUsed = new Map<string, number>();
  const dagRunning = new Map<string, number>();
  const taskRunning = new Map<string, number>();
  const mine: Resources = { cpu: 0, memoryMb: 0, gpu: 0 };
  const add = (m: Map<string, number>, k: string, n: number) => m.set(k, (m.get(k) ?? 0) + n);
  const take = (dagId: string, taskId: string, p: Profile, workerId: string) => {
    add(poolUsed, p.pool, p.poolSlots);
    add(dagRunning, dagId, 1);
    add(taskRunning, `${dagId}\0${taskId}`, 1);
    if (workerId === claim.workerId) {
      mine.cpu += p.resources.cpu;
      mine.memoryMb += p.resources.memoryMb;
      mine.gpu += p.resources.gpu;
    }
  };
  const byVersion = new Map<string, Map<string, Profile>>();
  const profile = async (dagId: string, version: string, taskId: string): Promise<Profile> => {
    const key = `${dagId}\0${version}`;
    let m = byVersion.get(key);
    if (!m) byVersion.set(key, (m = await profilesFor(db, dagId, version)));
    return m.get(taskId) ?? UNKNOWN_TASK;
  };
  /** Per pool: what running tasks hold beyond one slot each (X in the header). */
  const extra = new Map<string, number>();
  for (const r of running) {
    const p = await profile(r.dag_id, r.dag_version, r.task_id);
    take(r.dag_id, r.task_id, p, r.worker_id);
    if (p.poolSlots > 1) add(extra, p.pool, p.poolSlots - 1);
  }
  const candidatesIn: Wanted & { multiSlot?: Set<string> } = { pools: new Set(), dags: new Set() };
  const turns = reads.locked ? takesTurns(reads.locked, pools, Number(locked[0]?.worker_slots ?? 0), extra, needed, candidatesIn) : null;

  const allows = (c: ClaimableRow, p: Profile): boolean => {
    const slots = pools.get(p.pool);
    // PostgreSQL: only what the locks this claim took make safe (the header; `takesTurns`)
    if (turns && !turns(c.dag_id, p)) return false;
    // an unknown pool limits nothing here: the worker fails the task with a clear message (requirePool)
    if (slots !== undefined && (poolUsed.get(p.pool) ?? 0) + p.poolSlots > slots) return false;
    if (p.maxActiveTasks !== null && (dagRunning.get(c.dag_id) ?? 0) >= p.maxActiveTasks) return false;
    if (p.maxActiveTisPerDag !== null && (taskRunning.get(`${c.dag_id}\0${c.task_id}`) ?? 0) >= p.maxActiveTisPerDag) return false;
    if (claim.resources && !fits(p.resources, mine, claim.resources)) return false;
    return true;
  };

  const chosen: ClaimableRow[] = [];
  for (let n = 0; n < MAX_PAGES; n++) {
    const withProfiles: { c: Candidate; p: Profile }[] = [];
    for (const c of candidates) withProfiles.push({ c, p: await profile(c.dag_id, c.dag_version, c.task_id) });
    // Greedy, in claim order: the highest priority first; among equal priorities the DAG running the
    // fewest task instances (counting the ones just chosen), then the longest ready. O(page × DAGs).
    const left = withProfiles.filter(({ c, p }) => allows(c, p));
    if (n === 0) {
      hints.blocked = left.length < withProfiles.length;
      if (turns) {
        if (hints.wanted.size > 1000) hints.wanted.clear();
        hints.wanted.set(claim.workerId, candidatesIn);
        settleHints(reads.locked!, pools, Number(locked[0]?.worker_slots ?? 0), extra, candidatesIn);
      }
    }
    while (chosen.length < claim.limit && left.length > 0) {
      let best = -1;
      for (let i = 0; i < left.length; i++) {
        const x = left[i]!;
        if (!allows(x.c, x.p)) continue;
        if (best < 0) {
          best = i;
          continue;
        }
        const b = left[best]!;
        if (x.c.priority !== b.c.priority) {
          if (x.c.priority > b.c.priority) best = i;
          continue;
        }
        const dx = dagRunning.get(x.c.dag_id) ?? 0;
        const db_ = dagRunning.get(b.c.dag_id) ?? 0;
        if (dx < db_ || (dx === db_ && (x.c.ready_at ?? 0) < (b.c.ready_at ?? 0))) best = i;
      }
      if (best < 0) break;
      const [{ c, p }] = left.splice(best, 1) as [{ c: Candidate; p: Profile }];
      take(c.dag_id, c.task_id, p, claim.workerId);
      const { priority: _p, ready_at: _r, ...row } = c;
      chosen.push(row);
    }
    if (chosen.length >= claim.limit || !more) break;
    offset += size;
    size = PAGE;
    const next = (await readPage(tx, claim, now, pgRowLocks, offset, size, pageRun)).page;
    more = next.length === size;
    candidates = next.filter((c) => !seen.has(rowKey(c)));
    for (const c of candidates) seen.add(rowKey(c));
  }
  return { chosen, needed };
}

type Needed = { pools: Set<string>; dags: Set<string> };

/** Whether a pool cannot overflow however its claims interleave (W + X ≤ slots; see the header). */
const roomy = (pools: ReadonlyMap<string, number>, w: number, extra: ReadonlyMap<string, number>, pool: string) => w + (extra.get(pool) ?? 0) <= pools.get(pool)!;

/**
 * PostgreSQL: which candidates the locks a claim took make safe to claim (see the header), given the live
 * workers' total concurrency `w` and what running tasks hold beyond one slot each (`extra`, per pool).
 * Records in `needed` the locks that candidates were turned away for, and in `seen` the pools and the DAGs
 * with limits that the candidates were in.
 */
function takesTurns(locked: NonNullable<ClaimReads["locked"]>, pools: ReadonlyMap<string, number>, w: number, extra: ReadonlyMap<string, number>, needed: Needed, seen: Wanted & { multiSlot?: Set<string> }): (dagId: string, p: Profile) => boolean {
  return (dagId, p) => {
    const limited = p.maxActiveTasks !== null || p.maxActiveTisPerDag !== null;
    if (limited) seen.dags.add(dagId);
    if (pools.has(p.pool)) seen.pools.add(p.pool);
    if (p.poolSlots > 1) (seen.multiSlot ??= new Set()).add(p.pool);
    if (limited && !locked.dags.has(dagId)) {
      needed.dags.add(dagId);
      return false;
    }
    if (!pools.has(p.pool)) return true; // an unknown pool limits nothing (see `allows`)
    const exclusive = locked.pools.get(p.pool);
    if (exclusive) return true;
    if (exclusive === false && p.poolSlots === 1 && roomy(pools, w, extra, p.pool)) return true;
    // a pool this claim did not lock, or one whose claims must take turns
    if (exclusive === false) hints.exclusive.add(p.pool);
    needed.pools.add(p.pool);
    return false;
  };
}

/** After a claim: a pool it held exclusively that could take shared claims now (roomy, no multi-slot task) goes back to shared. */
function settleHints(locked: NonNullable<ClaimReads["locked"]>, pools: ReadonlyMap<string, number>, w: number, extra: ReadonlyMap<string, number>, seen: Wanted & { multiSlot?: Set<string> }): void {
  for (const [pool, exclusive] of locked.pools) {
    if (exclusive && pools.has(pool) && roomy(pools, w, extra, pool) && !seen.multiSlot?.has(pool)) hints.exclusive.delete(pool);
  }
}

/** The running attempts with their DAGs (PostgreSQL, read with the first page). */
const RUNNING_SQL = "select a.worker_id, a.task_id, r.dag_id, r.dag_version from attempts a inner join runs r on r.run_id = a.run_id where a.state = 'running'";

type Slot = "now" | "runId" | "backfillId" | "size" | "offset";
interface PageShape {
  runId: boolean;
  backfill: boolean;
  queues: number;
  offset: boolean;
}
const pages = new Map<string, { query: CompiledQuery<Candidate>; slots: (string | null)[] }>();

/**
 * The ready-queue page query, built with Kysely once per shape (dialect, filters, number of queues) and
 * bound per claim: building it on every claim cost more than running it (~15% of chain-1000; see
 * decision 0002). Each parameter is built from a sentinel value, so its position is found, not assumed.
 */
function pageQuery(db: Kysely<Database>, dialect: DialectName, shape: PageShape, pgRowLocks: string) {
  const key = `${dialect}:${shape.runId ? 1 : 0}${shape.backfill ? 1 : 0}${shape.offset ? 1 : 0}:${shape.queues}`;
  let cached = pages.get(key);
  if (!cached) {
    const sentinel = (name: string) => `\u0000sluice:${name}`;
    let q = db
      .selectFrom("task_instances as ti")
      .innerJoin("runs as r", "r.run_id", "ti.run_id")
      .select([
        "ti.run_id",
        "ti.task_id",
        "ti.map_index",
        "ti.try_number",
        "ti.try_base",
        "ti.state",
        "ti.attempt_id",
        "ti.poke_count",
        "ti.priority",
        "ti.ready_at",
        "r.dag_id",
        "r.dag_version",
        "r.logical_date",
        "r.params",
        "r.data_interval_start",
        "r.data_interval_end",
      ])
      // literal states: SQLite uses the partial indexes task_instances_ready(_run) only then (decision 0002)
      .where(sql<boolean>`ti.state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`)
      .where("ti.ready_at", "<=", sql<number>`${sentinel("now")}`)
      .where(sql<boolean>`r.state = 'running'`);
    if (shape.runId) q = q.where("ti.run_id", "=", sentinel("runId"));
    if (shape.backfill) q = q.where("r.backfill_id", "=", sql<number>`${sentinel("backfillId")}`);
    if (shape.queues) q = q.where("ti.queue", "in", Array.from({ length: shape.queues }, (_, i) => sentinel(`queue${i}`)));
    q = q.orderBy("ti.priority", "desc").orderBy("ti.ready_at").limit(sql<number>`${sentinel("size")}`);
    if (shape.offset) q = q.offset(sql<number>`${sentinel("offset")}`);
    if (dialect === "postgres") q = q.modifyEnd(sql.raw(pgRowLocks));
    const query = q.compile() as CompiledQuery<Candidate>;
    const slots = query.parameters.map((p) => (typeof p === "string" && p.startsWith(sentinel("")) ? p.slice(sentinel("").length) : null));
    cached = { query, slots };
    pages.set(key, cached);
  }
  return cached;
}

// ---- pools ------------------------------------------------------------------------------------------

export interface PoolRecord {
  name: string;
  slots: number;
  description: string | null;
}

export interface PoolUsage extends PoolRecord {
  /** Slots held by running task instances. */
  used: number;
  /** Slots wanted by ready task instances of the pool. */
  queued: number;
}

export async function listPools(db: Kysely<Database>): Promise<PoolRecord[]> {
  return (await db.selectFrom("pools").select(["name", "slots", "description"]).orderBy("name").execute()).map((p) => ({ ...p }));
}

export async function getPool(db: Kysely<Database>, name: string): Promise<PoolRecord | null> {
  const p = await db.selectFrom("pools").select(["name", "slots", "description"]).where("name", "=", name).executeTakeFirst();
  return p ?? null;
}

/** Create or change a pool (`sluice pools set`): after the claims counting with its old slots (lockCapacity). */
export async function setPool(store: Store, p: { name: string; slots: number; description?: string | null }, now: number): Promise<PoolRecord> {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(p.name)) throw new SluiceError("USAGE", `pool name "${p.name}" is invalid; use letters, digits, "_", "-" and "."`);
  if (!Number.isInteger(p.slots) || p.slots < 0) throw new SluiceError("USAGE", `pool "${p.name}": --slots must be a whole number ≥ 0, got ${p.slots}`);
  return store.tx(async (tx) => {
    await lockCapacity(tx, p.name);
    const existing = await getPool(handleOf(tx), p.name);
    const description = p.description === undefined ? (existing?.description ?? null) : p.description;
    await handleOf(tx)
      .insertInto("pools")
      .values({ name: p.name, slots: p.slots, description, updated_at: now })
      .onConflict((oc) => oc.column("name").doUpdateSet({ slots: p.slots, description, updated_at: now }))
      .execute();
    return { name: p.name, slots: p.slots, description };
  });
}

export async function deletePool(store: Store, name: string): Promise<void> {
  if (name === DEFAULT_POOL) throw new SluiceError("USAGE", `the pool "${DEFAULT_POOL}" cannot be deleted (tasks that name no pool use it); change its slots with \`sluice pools set ${DEFAULT_POOL} --slots N\``);
  await store.tx(async (tx) => {
    await lockCapacity(tx, name);
    const r = await handleOf(tx).deleteFrom("pools").where("name", "=", name).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new SluiceError("POOL_NOT_FOUND", `no pool named "${name}"`);
  });
}

/** The worker's check before running a task in a named pool: a missing pool fails it with a clear message. */
export async function requirePool(db: Kysely<Database>, pool: string, dagId: string, taskId: string): Promise<void> {
  if (pool === DEFAULT_POOL || (await getPool(db, pool))) return;
  throw new SluiceError("POOL_NOT_FOUND", `task "${taskId}" of DAG "${dagId}" names the pool "${pool}", which does not exist; create it with \`sluice pools set ${pool} --slots N\``, {
    details: { dagId, taskId, pool },
  });
}

/** Pools with their slots in use and wanted (`sluice status`), from running attempts and ready task instances. */
export async function poolUsage(db: Kysely<Database>, now: number): Promise<PoolUsage[]> {
  const pools = await listPools(db);
  const used = new Map<string, number>();
  const queued = new Map<string, number>();
  const count = async (rows: { dag_id: string; dag_version: string; task_id: string }[], into: Map<string, number>) => {
    for (const r of rows) {
      const p = (await profilesFor(db, r.dag_id, r.dag_version)).get(r.task_id) ?? UNKNOWN_TASK;
      into.set(p.pool, (into.get(p.pool) ?? 0) + p.poolSlots);
    }
  };
  await count(
    await db
      .selectFrom("attempts as a")
      .innerJoin("runs as r", "r.run_id", "a.run_id")
      .select(["a.task_id", "r.dag_id", "r.dag_version"])
      .where(sql<boolean>`a.state = 'running'`)
      .execute(),
    used,
  );
  await count(
    await db
      .selectFrom("task_instances as ti")
      .innerJoin("runs as r", "r.run_id", "ti.run_id")
      .select(["ti.task_id", "r.dag_id", "r.dag_version"])
      .where(sql<boolean>`ti.state in ('scheduled', 'up_for_retry', 'up_for_reschedule')`)
      .where("ti.ready_at", "<=", now)
      .where("r.state", "=", "running")
      .execute(),
    queued,
  );
  const out: PoolUsage[] = pools.map((p) => ({ ...p, used: used.get(p.name) ?? 0, queued: queued.get(p.name) ?? 0 }));
  // tasks naming a pool that does not exist show up too, with 0 slots: that is why they do not run
  for (const name of new Set([...used.keys(), ...queued.keys()])) {
    if (!pools.some((p) => p.name === name)) out.push({ name, slots: 0, description: "(does not exist)", used: used.get(name) ?? 0, queued: queued.get(name) ?? 0 });
  }
  return out;
}
