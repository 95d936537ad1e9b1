/**
 * A waiting task instance's counters recounted from its upstream task instances' states (mark, clear):
 * one grouped count in the store, so that a join after 100,000 tasks loads a handful of numbers, not
 * 100,000 rows (the counters themselves are kept in place as tasks end: engine/transitions).
 */
import type { Tx } from "../store/store.js";
import type { TaskInstanceCache } from "./taskInstanceCache.js";

export interface UpstreamCounts {
  nSuccess: number;
  nFailed: number;
  nUpstreamFailed: number;
  nSkipped: number;
  /** Upstream instances in all (every map index of a mapped upstream task). */
  instances: number;
}

export async function upstreamCounts(tx: Tx, tis: TaskInstanceCache, runId: string, upstream: readonly string[]): Promise<UpstreamCounts> {
  const out: UpstreamCounts = { nSuccess: 0, nFailed: 0, nUpstreamFailed: 0, nSkipped: 0, instances: 0 };
  if (upstream.length === 0) return out;
  // the store counts this transaction's changes too: write the pending ones first
  await tis.flush(tx);
  for (const { state, count } of await tx.taskInstances.countStates(runId, upstream)) {
    out.instances += count;
    if (state === "success") out.nSuccess += count;
    else if (state === "failed" || state === "upstream_failed") out.nFailed += count;
    else if (state === "skipped" || state === "removed") out.nSkipped += count;
    if (state === "upstream_failed") out.nUpstreamFailed += count;
  }
  return out;
}
