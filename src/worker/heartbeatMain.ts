/**
 * The heartbeat thread's entry (a `worker_threads` Worker started by heartbeatThread.ts). It has its own
 * event loop and its own store connection, so a task that keeps the main thread's loop busy for minutes
 * (CPU-bound user code) does not stop its lease from being renewed. It renews the attempts listed in the
 * shared slots (written by the main thread, read here without the main thread's help) and reports back
 * the ones that are no longer this worker's (fenced out): the main thread aborts those with LEASE_LOST.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Store } from "../store/store.js";
import { readSlots, slotHolds, type FromHeartbeat, type HeartbeatInit, type ToHeartbeat } from "./heartbeatThread.js";

const init = workerData as HeartbeatInit;
const port = parentPort!;
const post = (m: FromHeartbeat) => port.postMessage(m);

const slots = new BigInt64Array(init.slots);
let store: Store | null = null;
let timer: NodeJS.Timeout | null = null;
let beating: Promise<void> | null = null;

async function beat(): Promise<void> {
  if (!store) return;
  const snapshot = readSlots(slots);
  try {
    const lost = new Set(await store.workers.heartbeat(init.workerId, snapshot.map((s) => s.attemptId), init.leaseMs));
    // only attempts still in their slot under the same generation: others ended or were claimed again meanwhile
    const report = snapshot.filter((s) => lost.has(s.attemptId) && slotHolds(slots, s)).map((s) => s.attemptId);
    if (report.length) post({ type: "lost", attemptIds: report });
  } catch (e) {
    // retried at the next interval; the lease outlives several of them
    post({ type: "warn", message: (e as Error).message });
  }
}

port.on("message", (m: ToHeartbeat) => {
  if (m.type === "stop") void stop();
});

async function stop(): Promise<void> {
  if (timer) clearInterval(timer);
  timer = null;
  await beating;
  await store?.close();
  store = null;
  post({ type: "stopped" });
  port.close();
}

try {
  // one connection: it runs one heartbeat at a time
  store = await Store.open({ url: init.databaseUrl, busyTimeoutMs: init.busyTimeoutMs, poolSize: 1, migrate: false });
  timer = setInterval(() => {
    if (beating) return; // one heartbeat at a time: a slow database must not pile them up
    beating = beat().finally(() => (beating = null));
  }, init.heartbeatMs);
  post({ type: "ready" });
} catch (e) {
  post({ type: "failed", message: (e as Error).message });
}
