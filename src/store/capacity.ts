/**
 * Pools (`sluice pools set|list|delete`, `sluice status`): their records, the worker's check that a task's
 * pool exists, and the slots in use. The claim's use of them is in store/claims.ts (the reads and locks)
 * and core/capacity.ts (the policy).
 */
import { sql, type Kysely } from "kysely";
import { DEFAULT_POOL } from "../core/capacity.js";
import { SluiceError } from "../errors.js";
import type { Database } from "./schema.js";
import type { AuditHook } from "./audit.js";
import type { Store } from "./store.js";
import { handleOf } from "./aggregates.js";
import { lockCapacity, ProfileCache, profilesOf } from "./claims.js";

export { DEFAULT_POOL };

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
export async function setPool(store: Store, p: { name: string; slots: number; description?: string | null }, now: number, audit?: AuditHook): Promise<PoolRecord> {
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
    const after = { name: p.name, slots: p.slots, description };
    await audit?.(tx, { target: p.name, before: existing, after });
    return after;
  });
}

export async function deletePool(store: Store, name: string, audit?: AuditHook): Promise<void> {
  if (name === DEFAULT_POOL) throw new SluiceError("USAGE", `the pool "${DEFAULT_POOL}" cannot be deleted (tasks that name no pool use it); change its slots with \`sluice pools set ${DEFAULT_POOL} --slots N\``);
  await store.tx(async (tx) => {
    await lockCapacity(tx, name);
    const before = await getPool(handleOf(tx), name);
    const r = await handleOf(tx).deleteFrom("pools").where("name", "=", name).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw new SluiceError("POOL_NOT_FOUND", `no pool named "${name}"`);
    await audit?.(tx, { target: name, before, after: null });
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
  // Given a connection (store.pools holds only the handle), this cannot reach the store's own cache
  // (Store.claimState.profiles): it parses each DAG version's spec once per call (`sluice status`, `sluice
  // pools list`, GET /status) — ~110 ms for a running 10,000-task DAG's 4 MB spec on this machine under
  // load. Once it is given the Store, it should use the store's cache.
  const profiles = new ProfileCache();
  const count = async (rows: { dag_id: string; dag_version: string; task_id: string }[], into: Map<string, number>) => {
    const profile = await profilesOf(profiles, db, rows);
    for (const r of rows) {
      const p = profile(r);
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
