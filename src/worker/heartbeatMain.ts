/**
 * The heartbeat thread's entry (a `worker_threads` Worker started by heartbeatThread.ts). It has its own
 * event loop and its own store connection, so a task that keeps the main thread's loop busy for minutes
 * (CPU-bound user code) does not stop its lease from being renewed. It renews the attempts the main thread
 * told it about and reports back the ones that are no longer this worker's (fenced out): the main thread
 * aborts those with LEASE_LOST.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Store } from "../store/store.js";
import type { HeartbeatInit, ToHeartbeat, FromHeartbeat } from "./heartbeatThread.js";

const init = workerData as HeartbeatInit;
const port = parentPort!;
const post = (m: FromHeartbeat) => port.postMessage(m);

/** Attempt id -> generation: a sensor's next poke reuses its attempt id, so a late "lost" is matched by generation. */
const tracked = new Map<number, number>();
let store: Store | null = null;
let timer: NodeJS.Timeout | null = null;
let beating: Promise<void> | null = null;

async function beat(): Promise<void> {
  if (!store) return;
  const snapshot = new Map(tracked);
  try {
    const lost = await store.heartbeat(init.workerId, [...snapshot.keys()], init.leaseMs);
    // only attempts still tracked under the same generation: others ended or were claimed again meanwhile
    const report = lost.filter((id) => tracked.get(id) === snapshot.get(id));
    for (const id of report) tracked.delete(id);
    if (report.length) post({ type: "lost", attemptIds: report });
  } catch (e) {
    // retried at the next interval; the lease outlives several of them
    post({ type: "warn", message: (e as Error).message });
  }
}

port.on("message", (m: ToHeartbeat) => {
  if (m.type === "track") for (const id of m.attemptIds) tracked.set(id, m.generation);
  else if (m.type === "untrack") for (const id of m.attemptIds) tracked.delete(id);
  else if (m.type === "stop") void stop();
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
} catch (e) {
  post({ type: "failed", message: (e as Error).message });
}
