/**
 * Which ready task instances a worker may claim: the capacity rules, applied inside the claiming
 * transaction (`Tx.claimReady` calls `selectClaimable`), so they hold across all workers at every instant.
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
 * On PostgreSQL two claiming transactions would each count without seeing the other's uncommitted claims,
 * so the claim first locks the pool rows (`for update`, in name order: one lock order, no deadlock) —
 * capacity-limited claims are serialised, as in Airflow's scheduler critical section. The candidate rows
 * themselves are locked by the dialect's claim (FOR UPDATE SKIP LOCKED), owned by the PostgreSQL dialect.
 */
import { sql, type CompiledQuery, type Kysely } from "kysely";
import type { DagSpec } from "../core/dagSpec.js";
import { fits, NO_RESOURCES, type Capacity, type Resources } from "../core/resources.js";
import { SluiceError } from "../errors.js";
import type { DialectName } from "./migrations.js";
import { preparable } from "./postgres.js";
import type { Database } from "./schema.js";

export const DEFAULT_POOL = "default_pool";
export const DEFAULT_POOL_SLOTS = 128;

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
export interface ClaimableRow {
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  try_base: number;
  state: string;
  attempt_id: number | null;
  poke_count: number;
  dag_id: string;
  dag_version: string;
  logical_date: number;
  params: string;
  data_interval_start: number | null;
  data_interval_end: number | null;
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
 * Ready rows read: first a few more than the claim wants (usually enough: nothing blocks them, and
 * reading hundreds of rows per claim cost fanout-10000 two thirds of its speed), then pages of 256 while
 * blocked rows fill them, up to ~2,000 rows per claim.
 */
const FIRST_EXTRA = 16;
const PAGE = 256;
const MAX_PAGES = 8;
/** Fairness reads each running run's head when at most this many runs are running (else the window only). */
const MAX_HEAD_RUNS = 32;

type Candidate = ClaimableRow & { priority: number; ready_at: number | null };
const rowKey = (c: ClaimableRow) => `${c.run_id}\0${c.task_id}\0${c.map_index}`;

/**
 * Choose up to `claim.limit` ready task instances this worker may run now without breaking a limit.
 * Must run inside the claiming transaction.
 */
export async function selectClaimable(db: Kysely<Database>, dialect: DialectName, claim: CapacityClaim, now: number, pgRowLocks: string): Promise<ClaimableRow[]> {
  if (claim.limit <= 0) return [];
  const queues = claim.queues?.length ? claim.queues : null;
  // Serialise capacity accounting across PostgreSQL transactions (see the header); SQLite's BEGIN
  // IMMEDIATE already did. First, so that no claimer holds candidate rows while it waits here.
  // The locking read returns the slots too (one round trip fewer than locking, then reading them).
  // It also lists the running runs (up to MAX_HEAD_RUNS + 1, as of its start: a hint, not a lock), which
  // the fairness step below would read next: with one running run, the ready page reads that run's own
  // index in order and stops at the page size, where the plan of the global page could join and sort all
  // of its ready rows (10,000 of fanout-10000) on every claim.
  const locked =
    dialect === "postgres"
      ? await (async () => {
          const q = sql<{ name: string; slots: number; runs: string[] | null }>`select name, slots,
              (select array_agg(x.run_id) from (select run_id from runs where state in ('queued', 'running') and state = 'running'
                 ${claim.backfillId !== undefined ? sql`and backfill_id = ${claim.backfillId}` : sql``} limit ${MAX_HEAD_RUNS + 1}) x) as runs
            from pools order by name for update`.compile(db);
          return (await db.executeQuery<{ name: string; slots: number; runs: string[] | null }>({ ...q, sql: preparable(q.sql) })).rows;
        })()
      : null;
  const activeRuns = locked && locked.length > 0 ? (locked[0]!.runs ?? []) : null;
  const onlyRun = !claim.runId && activeRuns?.length === 1 ? activeRuns[0] : undefined;
  // Page through the ready queue in its index order (priority desc, ready_at); the state list is literal
  // so that SQLite can use the partial indexes task_instances_ready(_run) (docs/decisions/0002).
  type RunningRow = { worker_id: string; task_id: string; dag_id: string; dag_version: string };
  /** PostgreSQL: the running attempts, read by the first page's statement (one round trip fewer). */
  let runningRows: RunningRow[] | null = null;
  const page = async (offset: number, size: number, runId = claim.runId ?? onlyRun, withRunning = false): Promise<Candidate[]> => {
    const shape: PageShape = { runId: Boolean(runId), backfill: claim.backfillId !== undefined, queues: queues?.length ?? 0, offset: offset > 0 };
    const q = pageQuery(db, dialect, shape, pgRowLocks);
    const values: Record<Slot, unknown> = { now, runId, backfillId: claim.backfillId, size, offset };
    const parameters = q.slots.map((slot, i) => (slot === null ? q.query.parameters[i] : slot.startsWith("queue") ? queues![Number(slot.slice(5))] : values[slot as Slot]));
    if (!withRunning) return (await db.executeQuery<Candidate>({ ...q.query, sql: dialect === "postgres" ? preparable(q.query.sql) : q.query.sql, parameters })).rows;
    // Both under this statement's snapshot, taken after the pools lock (the previous statement) was granted.
    // The page keeps its order: UNION ALL appends the running attempts after the page's rows.
    const rows = (
      await db.executeQuery<{ k: number; j: Candidate & RunningRow }>({
        ...q.query,
        sql: preparable(`with page as (${q.query.sql}) select 0 as k, to_jsonb(page) as j from page
              union all select 1, to_jsonb(x) from (${RUNNING_SQL}) x`),
        parameters,
      })
    ).rows;
    runningRows = rows.filter((r) => r.k === 1).map((r) => r.j);
    return rows.filter((r) => r.k === 0).map((r) => r.j);
  };

  let size = claim.limit + FIRST_EXTRA;
  let offset = 0;
  let candidates = await page(offset, size, undefined, dialect === "postgres");
  if (candidates.length === 0) return [];
  /** Whether the ready queue may hold more rows past the last page read. */
  let more = candidates.length === size;
  const seen = new Set(candidates.map(rowKey));
  // Fairness beyond the first rows: when they are all taken by older work and other runs are running too,
  // add the head of each running run's own ready queue (index task_instances_ready_run), so a DAG with
  // 10,000 older ready tasks does not hide another DAG's. One small query per run, up to MAX_HEAD_RUNS.
  if (!claim.runId && !onlyRun && candidates.length === size) {
    let runs = db.selectFrom("runs").select("run_id").where(sql<boolean>`state in ('queued', 'running')`).where("state", "=", "running");
    if (claim.backfillId !== undefined) runs = runs.where("backfill_id", "=", claim.backfillId);
    const active = activeRuns ? activeRuns.map((run_id) => ({ run_id })) : await runs.limit(MAX_HEAD_RUNS + 1).execute();
    if (active.length >= 2 && active.length <= MAX_HEAD_RUNS) {
      for (const r of active) {
        for (const c of await page(0, claim.limit, r.run_id)) {
          if (!seen.has(rowKey(c))) {
            seen.add(rowKey(c));
            candidates.push(c);
          }
        }
      }
    }
  }

  const pools = new Map((locked ?? (await db.selectFrom("pools").select(["name", "slots"]).execute())).map((p) => [p.name, p.slots]));
  const running = runningRows ?? await db
    .selectFrom("attempts as a")
    .innerJoin("runs as r", "r.run_id", "a.run_id")
    .select(["a.worker_id", "a.task_id", "r.dag_id", "r.dag_version"])
    .where(sql<boolean>`a.state = 'running'`)
    .execute();

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
  for (const r of running) take(r.dag_id, r.task_id, await profile(r.dag_id, r.dag_version, r.task_id), r.worker_id);

  const allows = (c: ClaimableRow, p: Profile): boolean => {
    const slots = pools.get(p.pool);
    // an unknown pool limits nothing here: the worker fails the task with a clear message (requirePool)
    if (slots !== undefined && (poolUsed.get(p.pool) ?? 0) + p.poolSlots > slots) return false;
    if (p.maxActiveTasks !== null && (dagRunning.get(c.dag_id) ?? 0) >= p.maxActiveTasks) return false;
    if (p.maxActiveTisPerDag !== null && (taskRunning.get(`${c.dag_id}\0${c.task_id}`) ?? 0) >= p.maxActiveTisPerDag) return false;
    if (claim.resources && !fits(p.resources, mine, claim.resources)) return false;
    return true;
  };

  const chosen: ClaimableRow[] = [];
  for (let n = 0; n < MAX_PAGES; n++) {
    const withProfiles: { c: (typeof candidates)[number]; p: Profile }[] = [];
    for (const c of candidates) withProfiles.push({ c, p: await profile(c.dag_id, c.dag_version, c.task_id) });
    // Greedy, in claim order: the highest priority first; among equal priorities the DAG running the
    // fewest task instances (counting the ones just chosen), then the longest ready. O(page × DAGs).
    const left = withProfiles.filter(({ c, p }) => allows(c, p));
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
      const [{ c, p }] = left.splice(best, 1) as [{ c: ClaimableRow & { priority: number; ready_at: number | null }; p: Profile }];
      take(c.dag_id, c.task_id, p, claim.workerId);
      const { priority: _p, ready_at: _r, ...row } = c;
      chosen.push(row);
    }
    if (chosen.length >= claim.limit || !more) break;
    offset += size;
    size = PAGE;
    const next = await page(offset, size);
    more = next.length === size;
    candidates = next.filter((c) => !seen.has(rowKey(c)));
    for (const c of candidates) seen.add(rowKey(c));
  }
  return chosen;
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

/** Forget cached DAG capacity profiles (tests that rewrite a version's spec). */
export function clearCapacityCache(): void {
  profiles.clear();
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

/** Create or change a pool (`sluice pools set`). */
export async function setPool(db: Kysely<Database>, p: { name: string; slots: number; description?: string | null }, now: number): Promise<PoolRecord> {
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(p.name)) throw new SluiceError("USAGE", `pool name "${p.name}" is invalid; use letters, digits, "_", "-" and "."`);
  if (!Number.isInteger(p.slots) || p.slots < 0) throw new SluiceError("USAGE", `pool "${p.name}": --slots must be a whole number ≥ 0, got ${p.slots}`);
  const existing = await getPool(db, p.name);
  const description = p.description === undefined ? (existing?.description ?? null) : p.description;
  await db
    .insertInto("pools")
    .values({ name: p.name, slots: p.slots, description, updated_at: now })
    .onConflict((oc) => oc.column("name").doUpdateSet({ slots: p.slots, description, updated_at: now }))
    .execute();
  return { name: p.name, slots: p.slots, description };
}

export async function deletePool(db: Kysely<Database>, name: string): Promise<void> {
  if (name === DEFAULT_POOL) throw new SluiceError("USAGE", `the pool "${DEFAULT_POOL}" cannot be deleted (tasks that name no pool use it); change its slots with \`sluice pools set ${DEFAULT_POOL} --slots N\``);
  const r = await db.deleteFrom("pools").where("name", "=", name).executeTakeFirst();
  if (Number(r.numDeletedRows) === 0) throw new SluiceError("POOL_NOT_FOUND", `no pool named "${name}"`);
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
