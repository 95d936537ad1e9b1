/**
 * What the teardowns' trigger rule (`all_done_setup_success`, core/triggerRules.ts) reads besides the
 * counters a waiting instance keeps: how its upstream setups ended. Read only when every upstream is
 * done, from rows the transaction has (or loads once): a teardown costs O(its setups), never a scan.
 */
import type { TaskSpec } from "../core/dagSpec.js";
import type { UpstreamCounts } from "../core/triggerRules.js";
import type { TaskInstanceRecord, Tx } from "../store/store.js";
import type { Effects } from "./effects.js";
import type { SpecIndex } from "./specIndex.js";

export function allUpstreamDone(ti: Pick<TaskInstanceRecord, "nUpstream">, c: { nSuccess: number; nFailed: number; nSkipped: number }): boolean {
  return c.nSuccess + c.nFailed + c.nSkipped >= ti.nUpstream;
}

/** The states of a task's direct upstream setup instances, counted as the trigger rule needs them. */
export async function setupStates(tx: Tx, fx: Effects, idx: SpecIndex, runId: string, task: TaskSpec): Promise<NonNullable<UpstreamCounts["setups"]>> {
  const ids = task.upstream.filter((u) => idx.byId.get(u)?.setup);
  const out = { total: 0, success: 0, skipped: 0 };
  if (ids.length === 0) return out;
  for (const ti of await fx.tis.load(tx, runId, ids)) {
    out.total++;
    if (ti.state === "success") out.success++;
    else if (ti.state === "skipped") out.skipped++;
  }
  return out;
}
