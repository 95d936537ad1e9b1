/**
 * Operations on pools: create or resize, delete. Operators may do both, as Airflow's Op role manages
 * pools: they decide how runs share capacity, not who may do what.
 */
import { deletePool as deleteInStore, setPool as setInStore, type PoolRecord } from "../store/capacity.js";
import type { Sluice } from "../sluice.js";
import { operation } from "./actor.js";

/** Create a pool or change its slots (and description; absent: kept). */
export const setPool = operation("pools.set", "operator", async (s: Sluice, _actor, input: { name: string; slots: number; description?: string }, audit): Promise<PoolRecord> => {
  return setInStore(s.store, { name: input.name, slots: input.slots, ...(input.description !== undefined ? { description: input.description } : {}) }, s.store.now(), audit);
});

/** Delete a pool; tasks that name it fail until it exists again. The default pool stays. */
export const deletePool = operation("pools.delete", "operator", async (s: Sluice, _actor, input: { name: string }, audit): Promise<void> => {
  await deleteInStore(s.store, input.name, audit);
});
