/**
 * Why a ready task instance cannot start anywhere (issue 11): no live worker serves its queue, none
 * declares the resources it asks for, or its pool can never hold it. Waiting for a free slot is normal and
 * has no reason here; these are the waits that last forever unless someone acts, so the CLI, the API and
 * the UI say which (Airflow leaves such tasks "scheduled" without a word).
 *
 * A task instance held by the past (dependsOnPast, waitForDownstream) has a reason too, before it is
 * ready: "waiting for the past: …", worded by core/pastDeps.ts and kept with the hold (Engine.waitingReasons).
 */
import { formatRequest, type Capacity, type Resources } from "./resources.js";

export interface LiveWorker {
  /** The queues it serves; null: every queue (`sluice dev`). */
  queues: readonly string[] | null;
  /** What it declared (`--resources`); null: no limit. */
  resources: Capacity | null;
}

export interface WaitingTask {
  queue: string;
  pool: string | null;
  poolSlots?: number;
  resources?: Resources;
}

/** `pools`: the slots of each pool that exists (a task's missing pool fails it when it starts: not here). */
export function whyWaiting(t: WaitingTask, workers: readonly LiveWorker[], pools: ReadonlyMap<string, number>): string | null {
  const need = t.poolSlots ?? 1;
  if (t.pool !== null) {
    const slots = pools.get(t.pool);
    if (slots !== undefined && slots < need) return `waiting: pool ${t.pool} has ${slots} slot${slots === 1 ? "" : "s"} and this task needs ${need} (sluice pools set ${t.pool} --slots ${need})`;
  }
  if (workers.length === 0) return "waiting: no live worker (start one: sluice worker)";
  const serving = workers.filter((w) => w.queues === null || w.queues.length === 0 || w.queues.includes(t.queue));
  if (serving.length === 0) return `waiting: no live worker serves queue ${t.queue} (sluice worker --queues ${t.queue})`;
  const r = t.resources;
  if (r && !serving.some((w) => fitsEmpty(r, w.resources))) {
    return `waiting: needs ${formatRequest(r)}; no live worker serving queue ${t.queue} declares that much (sluice worker --resources …)`;
  }
  return null;
}

/** Whether the request fits an idle worker's capacity (a dimension it does not declare is unlimited). */
function fitsEmpty(req: Resources, cap: Capacity | null): boolean {
  if (cap === null) return true;
  return (cap.cpu === undefined || req.cpu <= cap.cpu + 1e-9) && (cap.memoryMb === undefined || req.memoryMb <= cap.memoryMb + 1e-9) && (cap.gpu === undefined || req.gpu <= cap.gpu);
}
