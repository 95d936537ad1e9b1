/**
 * Pools (`sluice pools`): their rows, the check a worker makes before running a task in a named pool, and
 * their usage for `sluice status`. `store.pools`, or `tx.pools` inside a transaction. Creating and
 * changing a pool lock the capacity the claims count with (`setPool`/`deletePool` in capacity.ts).
 */
import type { Kysely } from "kysely";
import { getPool, listPools, poolUsage, requirePool, type PoolRecord, type PoolUsage } from "./capacity.js";
import type { Database } from "./schema.js";

/** @internal Constructed by the Store (`store.pools`) and by each transaction (`tx.pools`). */
export class PoolRows {
  constructor(private readonly db: Kysely<Database>) {}

  list(): Promise<PoolRecord[]> {
    return listPools(this.db);
  }

  get(name: string): Promise<PoolRecord | null> {
    return getPool(this.db, name);
  }

  /** The worker's check before running a task in a named pool: a missing pool fails it with a clear message. */
  require(pool: string, dagId: string, taskId: string): Promise<void> {
    return requirePool(this.db, pool, dagId, taskId);
  }

  /** Pools with their slots in use and wanted, from running attempts and ready task instances. */
  usage(now: number): Promise<PoolUsage[]> {
    return poolUsage(this.db, now);
  }
}
