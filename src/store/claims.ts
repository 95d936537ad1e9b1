/**
 * The claim's reads and locks: what `Tx.claimReady` (and the engine's settle, through `Tx.sendClaimReads`
 * and `Tx.chooseClaims`) reads inside the claiming transaction so that the capacity policy
 * (core/capacity.ts `chooseClaims`: queues, pools, maxActiveTasks, maxActiveTisPerDag, resources,
 * priority, fairness between DAGs) holds across all workers at every instant.
 *
 * Usage is computed from the running attempts (the partial index attempts_live; bounded by the number of
 * worker slots, not by history) and the DAG specs (`ProfileCache`: a version never changes) — no counters
 * on the hot tables to keep in step (docs/decisions/0012-workers-and-capacity.md).
 *
 * Concurrency: SQLite has one writer, so the count and the claim cannot interleave with another worker's.
 * On PostgreSQL two claiming transactions would each count without seeing the other's uncommitted claims.
 * Claims that could break a limit together therefore take turns, on transaction-scoped advisory locks
 * taken before anything is read (`LOCKS_SQL`, in one order: no deadlock) — and only those
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
 * store's previous claims found (`ClaimState.hints`): the pools and DAGs the worker's candidates were in,
 * and which pools need turns. A candidate whose lock it did not take, or took shared where the pool needs
 * it exclusively, makes the transaction run again with the right locks: the hints only decide how fast a
 * claim is, never whether a limit holds. The default pool (128 slots) with two workers of 32 slots never
 * needs turns, and a pool that does holds up only the claims of its own tasks. The candidate rows
 * themselves are locked by the dialect's claim (FOR UPDATE SKIP LOCKED), owned by the PostgreSQL dialect.
 */
import { sql, type CompiledQuery, type Kysely } from "kysely";
import type { DagSpec } from "../core/dagSpec.js";
import { chooseClaims, DEFAULT_POOL, DEFAULT_PROFILE, taskProfiles, type CapacityCandidate, type HeldLocks, type RunningTask, type TaskProfile } from "../core/capacity.js";
import type { Capacity } from "../core/resources.js";
import type { DialectName } from "./migrations.js";
import type { Database, RunContextRow } from "./schema.js";
import type { Tx } from "./store.js";
import { handleOf } from "./aggregates.js";
import { LocksChanged } from "./retry.js";
import { quiet } from "./postgres.js";

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
  /** Kept for the claimed attempt: the worker's queue-wait metric (due since `ready_at`, by queue). */
  ready_at: number | null;
  queue: string;
}

/** A ready task instance with what the capacity policy weighs. */
export type Candidate = ClaimableRow & { priority: number };
const rowKey = (c: ClaimableRow) => `${c.run_id}\0${c.task_id}\0${c.map_index}`;
type RunningRow = { worker_id: string; task_id: string; dag_id: string; dag_version: string };

/**
 * Ready rows read: first what the claim wants — and a few more when this store's last claim found rows
 * that a limit blocked (`hints.blocked`; reading hundreds of rows per claim cost fanout-10000 two thirds
 * of its speed, and every row read is locked) — then pages of 256 while blocked rows fill them, up to
 * ~2,000 rows per claim.
 */
const FIRST_EXTRA = 16;
const PAGE = 256;
const MAX_PAGES = 8;
/** Fairness reads each running run's head when at most this many runs are running (else the window only). */
const MAX_HEAD_RUNS = 32;

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

/**
 * Task profiles (core/capacity.ts) by DAG version: a version's spec never changes. Promises, so that
 * concurrent misses load once; at most ~1,000 versions (then it starts afresh).
 */
export class ProfileCache {
  private readonly versions = new Map<string, Promise<ReadonlyMap<string, TaskProfile>>>();

  /** Know a version's profiles from its spec at hand (a version's spec never changes): no read back. */
  prime(dagId: string, version: string, spec: DagSpec): void {
    const key = `${dagId}\0${version}`;
    if (this.versions.has(key)) return;
    if (this.versions.size > 1000) this.versions.clear();
    this.versions.set(key, Promise.resolve(taskProfiles(spec)));
  }

  /** Loaded through `db`: inside a transaction, its own (SQLite: the store's only) connection. */
  version(db: Kysely<Database>, dagId: string, version: string): Promise<ReadonlyMap<string, TaskProfile>> {
    const key = `${dagId}\0${version}`;
    let p = this.versions.get(key);
    if (!p) {
      if (this.versions.size > 1000) this.versions.clear();
      p = loadProfiles(db, dagId, version);
      this.versions.set(key, p);
      p.catch(() => this.versions.delete(key));
    }
    return p;
  }
}

async function loadProfiles(db: Kysely<Database>, dagId: string, version: string): Promise<ReadonlyMap<string, TaskProfile>> {
  const row = await db.selectFrom("dag_versions").select("spec").where("dag_id", "=", dagId).where("version", "=", version).executeTakeFirst();
  return row ? taskProfiles(JSON.parse(row.spec) as DagSpec) : new Map();
}

/** What one task profile lookup needs: a row's DAG version and task. */
type ProfileKey = { dag_id: string; dag_version: string; task_id: string };

/**
 * The profiles of the rows' DAG versions, from `cache` (loaded where missing): each version awaited once,
 * then looked up at once.
 */
export async function profilesOf(cache: ProfileCache, db: Kysely<Database>, rows: Iterable<ProfileKey>, into = new Map<string, ReadonlyMap<string, TaskProfile>>()): Promise<(r: ProfileKey) => TaskProfile> {
  for (const r of rows) {
    const key = `${r.dag_id}\0${r.dag_version}`;
    if (!into.has(key)) into.set(key, await cache.version(db, r.dag_id, r.dag_version));
  }
  return (r) => into.get(`${r.dag_id}\0${r.dag_version}`)!.get(r.task_id) ?? DEFAULT_PROFILE;
}

/**
 * What a store's claims keep between claims: its own, so that two stores in one process (tests, a bench
 * with two schemas) share nothing.
 */
export class ClaimState {
  readonly profiles = new ProfileCache();
  /** The ready-page query by shape (`pageQuery`). */
  readonly pages = new Map<string, { query: CompiledQuery<Candidate>; slots: (string | null)[] }>();
  /**
   * The running runs the last claim saw (PostgreSQL): the first page is read for the one running run
   * before the pools' statement says which runs run now; when that changed, `chooseClaimable` reads the
   * page again (one round trip, when a run starts or ends).
   */
  activeRuns: readonly string[] = [];
  /** What the claims found: which locks the next claim takes (PostgreSQL), how many rows it reads. */
  readonly hints = {
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
}
type Wanted = { pools: Set<string>; dags: Set<string> };

/**
 * The claim's first reads, issued before the claiming transaction records its ends (pipelined on
 * PostgreSQL: they travel in the same round trip); `chooseClaimable` reads their answers.
 */
export interface ClaimReads {
  state: ClaimState;
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
 * Issue the claim's first reads (see ClaimReads). Serialise capacity accounting across PostgreSQL
 * transactions (see the header) — SQLite's BEGIN IMMEDIATE already did: the locks are taken first, so
 * the page and the running attempts are read after every claim that counted before this one committed.
 * The pools' read returns the slots and lists the running runs (up to MAX_HEAD_RUNS + 1, as of its
 * start: a hint, not a lock): with one running run, the ready page reads that run's own index in order and
 * stops at the page size, where the plan of the global page could join and sort all of its ready rows
 * (10,000 of fanout-10000) on every claim.
 */
export function sendClaimReads(tx: Tx, state: ClaimState, claim: CapacityClaim, now: number, pgRowLocks: string): ClaimReads | null {
  if (claim.limit <= 0) return null;
  const pg = tx.dialect === "postgres";
  const { hints } = state;
  let locked: ClaimReads["locked"] = null;
  if (pg) {
    const wanted = hints.wanted.get(claim.workerId) ?? { pools: new Set([DEFAULT_POOL]), dags: new Set<string>() };
    locked = { pools: new Map([...wanted.pools].map((p) => [p, hints.exclusive.has(p)])), dags: new Set(wanted.dags) };
    const names = [CAPACITY_LOCK, ...[...locked.pools.keys()].map(poolLock), ...[...locked.dags].map(dagLock)];
    const exclusive = [false, ...locked.pools.values(), ...[...locked.dags].map(() => true)];
    void tx.send(LOCKS_SQL, [names, exclusive]);
  }
  const pools = readPools(tx, claim);
  const pageRun = claim.runId ?? (pg && state.activeRuns.length === 1 ? state.activeRuns[0] : undefined);
  const size = claim.limit + (hints.blocked ? FIRST_EXTRA : 0);
  const first = readPage(tx, state, claim, now, pgRowLocks, 0, size, pageRun, pg);
  // every answer marked handled: a transaction that fails before it reads them must not end the process
  const running = quiet(pg ? first.then((r) => r.running!) : tx.send<RunningRow>(RUNNING_SQL, []).then((r) => r.rows));
  return { state, claim, now, pgRowLocks, pools, locked, page: quiet(first.then((r) => r.page)), pageRun, size, running };
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
function readPage(tx: Tx, state: ClaimState, claim: CapacityClaim, now: number, pgRowLocks: string, offset: number, size: number, runId: string | undefined, withRunning = false): Promise<{ page: Candidate[]; running?: RunningRow[] }> {
  const dialect = tx.dialect;
  const queues = claim.queues?.length ? claim.queues : null;
  const shape: PageShape = { runId: Boolean(runId), backfill: claim.backfillId !== undefined, queues: queues?.length ?? 0, offset: offset > 0 };
  const q = pageQuery(state, handleOf(tx), dialect, shape, pgRowLocks);
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
async function choosePass(tx: Tx, reads: ClaimReads, fresh: readonly Candidate[]): Promise<{ chosen: ClaimableRow[]; needed: Wanted }> {
  const needed: Wanted = { pools: new Set(), dags: new Set() };
  const { state, claim, now, pgRowLocks } = reads;
  const { hints } = state;
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
    state.activeRuns = activeRuns;
    const onlyRun = activeRuns.length === 1 ? activeRuns[0] : undefined;
    if (!claim.runId && reads.pageRun !== undefined && reads.pageRun !== onlyRun) {
      // the hint was stale: another run runs now (or none), and its ready rows are not on that page
      const again = await readPage(tx, state, claim, now, pgRowLocks, 0, reads.size, onlyRun, true);
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
      const heads = active.map((runId) => readPage(tx, state, claim, now, pgRowLocks, 0, claim.limit, runId));
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
  const versions = new Map<string, ReadonlyMap<string, TaskProfile>>();
  let profile = await profilesOf(state.profiles, db, [...running, ...candidates], versions);
  // what this claim chooses runs from its COMMIT on: the next page is chosen counting it
  const taken: RunningTask[] = running.map((r) => ({ workerId: r.worker_id, dagId: r.dag_id, taskId: r.task_id, profile: profile(r) }));
  const locks: HeldLocks | null = reads.locked ? { ...reads.locked, workerSlots: Number(locked[0]?.worker_slots ?? 0) } : null;
  let wanted: Wanted | null = null;
  const chosen: ClaimableRow[] = [];
  for (let n = 0; n < MAX_PAGES; n++) {
    const choice = chooseClaims<CapacityCandidate & { row: Candidate }>({
      candidates: candidates.map((c) => ({ dagId: c.dag_id, taskId: c.task_id, queue: c.queue, priority: c.priority, readyAt: c.ready_at, profile: profile(c), row: c })),
      running: taken,
      pools,
      worker: { workerId: claim.workerId, limit: claim.limit - chosen.length, queues: claim.queues, resources: claim.resources },
      locks,
    });
    // the hints: how many rows the next claim reads, and (PostgreSQL) which locks it takes
    if (n === 0) hints.blocked = choice.blocked;
    const found = choice.locks;
    if (found) {
      for (const p of found.exclusive) hints.exclusive.add(p);
      for (const p of found.needed.pools) needed.pools.add(p);
      for (const d of found.needed.dags) needed.dags.add(d);
      if (!wanted) {
        wanted = found.seen;
        if (hints.wanted.size > 1000) hints.wanted.clear();
        hints.wanted.set(claim.workerId, wanted);
        // from the first page only: what later pages see adds locks, it does not give them back
        for (const p of found.shared) hints.exclusive.delete(p);
      } else {
        for (const p of found.seen.pools) wanted.pools.add(p);
        for (const d of found.seen.dags) wanted.dags.add(d);
      }
    }
    for (const c of choice.chosen) {
      taken.push({ workerId: claim.workerId, dagId: c.dagId, taskId: c.taskId, profile: c.profile });
      const { priority: _p, ...row } = c.row;
      chosen.push(row);
    }
    if (chosen.length >= claim.limit || !more) break;
    offset += size;
    size = PAGE;
    const next = (await readPage(tx, state, claim, now, pgRowLocks, offset, size, pageRun)).page;
    more = next.length === size;
    candidates = next.filter((c) => !seen.has(rowKey(c)));
    for (const c of candidates) seen.add(rowKey(c));
    profile = await profilesOf(state.profiles, db, candidates, versions);
  }
  return { chosen, needed };
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

/**
 * The ready-queue page query, built with Kysely once per shape (dialect, filters, number of queues) and
 * bound per claim: building it on every claim cost more than running it (~15% of chain-1000; see
 * decision 0002). Each parameter is built from a sentinel value, so its position is found, not assumed.
 * The queue filter is the policy's (core/capacity.ts `servesQueue`), applied by the read too so that a
 * page holds only rows this worker may take.
 */
function pageQuery(state: ClaimState, db: Kysely<Database>, dialect: DialectName, shape: PageShape, pgRowLocks: string) {
  const key = `${dialect}:${shape.runId ? 1 : 0}${shape.backfill ? 1 : 0}${shape.offset ? 1 : 0}:${shape.queues}`;
  let cached = state.pages.get(key);
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
        "ti.queue",
        "r.dag_id",
        "r.dag_version",
        "r.code_hash",
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
    state.pages.set(key, cached);
  }
  return cached;
}
