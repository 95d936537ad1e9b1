/**
 * Heartbeats off the task's event loop. A `worker_threads` Worker (heartbeatMain.ts) renews the leases
 * of this worker's running attempts from its own event loop and its own store connection: an in-process
 * task that busy-loops for minutes keeps its lease. The running attempts are shared through a
 * SharedArrayBuffer of slots, not messages: the thread reads them whenever it beats, even while the main
 * thread is blocked, and a claim or an end costs two atomic stores instead of two postMessages. Attempts it finds fenced out (cancelled, expired and
 * taken over by a sweep elsewhere) are reported back through `onLost`, and the worker aborts them.
 */
import { fileURLToPath } from "node:url";
import { Worker as Thread } from "node:worker_threads";
import { SluiceError } from "../errors.js";

// Built: dist/worker/heartbeatMain.js. From source under tsx (tests): heartbeatMain.ts, with tsx loaded
// in the thread too (as childProcess.ts does for childMain).
const FROM_SOURCE = import.meta.url.endsWith(".ts");
const MAIN = fileURLToPath(new URL(FROM_SOURCE ? "./heartbeatMain.ts" : "./heartbeatMain.js", import.meta.url));

export interface HeartbeatInit {
  /** Pairs of BigInt64 (attempt id, 0: free; generation), one per slot (see `readSlots`). */
  slots: SharedArrayBuffer;
  databaseUrl: string;
  busyTimeoutMs: number;
  workerId: string;
  leaseMs: number;
  heartbeatMs: number;
}

export type ToHeartbeat = { type: "stop" };

export interface SlotEntry {
  slot: number;
  attemptId: number;
  generation: bigint;
}

/** The attempts in the slots now; an entry changed while it was read is skipped (it is being freed or reused). */
export function readSlots(slots: BigInt64Array): SlotEntry[] {
  const out: SlotEntry[] = [];
  for (let i = 0; i < slots.length; i += 2) {
    const id = Atomics.load(slots, i);
    if (id === 0n) continue;
    const generation = Atomics.load(slots, i + 1);
    if (Atomics.load(slots, i) === id) out.push({ slot: i, attemptId: Number(id), generation });
  }
  return out;
}

/** Whether a slot still holds the attempt as it was read (same id, same generation). */
export function slotHolds(slots: BigInt64Array, e: SlotEntry): boolean {
  return Atomics.load(slots, e.slot) === BigInt(e.attemptId) && Atomics.load(slots, e.slot + 1) === e.generation;
}

export type FromHeartbeat =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "lost"; attemptIds: number[] }
  | { type: "warn"; message: string }
  | { type: "stopped" };

export class HeartbeatThread {
  private generation = 0;
  private stopped: Promise<void> | null = null;
  /** The thread opened its store and beats: before that, stopping it means ending it (nothing to close). */
  private ready = false;
  private readonly bySlot = new Map<number, number>();
  private readonly free: number[];

  private constructor(
    private readonly thread: Thread,
    private readonly slots: BigInt64Array,
    onLost: (attemptIds: number[]) => void,
    onFailed: (e: SluiceError) => void,
  ) {
    this.free = Array.from({ length: slots.length / 2 }, (_, i) => (slots.length / 2 - 1 - i) * 2);
    let stopping = false;
    thread.on("message", (m: FromHeartbeat) => {
      if (m.type === "ready") this.ready = true;
      else if (m.type === "lost") onLost(m.attemptIds);
      else if (m.type === "failed") onFailed(new SluiceError("CONFIG", `the heartbeat thread cannot open the store: ${m.message}`));
      else if (m.type === "stopped") stopping = true;
    });
    thread.on("error", (e) => onFailed(new SluiceError("INTERNAL", `the heartbeat thread failed: ${e.message}`, { cause: e })));
    thread.on("exit", (code) => {
      if (!stopping && this.stopped === null) onFailed(new SluiceError("INTERNAL", `the heartbeat thread exited (code ${code})`));
    });
  }

  /**
   * Start the thread. It opens its store connection in the background (the worker starts claiming
   * meanwhile: the lease of a claim outlasts the thread's start); attempts tracked before are queued.
   * `onFailed`: the thread could not start or died — leases would expire, so the worker must stop.
   */
  static start(
    init: Omit<HeartbeatInit, "slots"> & { maxRunning: number },
    onLost: (attemptIds: number[]) => void,
    onFailed: (e: SluiceError) => void,
  ): HeartbeatThread {
    const { maxRunning, ...rest } = init;
    const buffer = new SharedArrayBuffer(maxRunning * 2 * BigInt64Array.BYTES_PER_ELEMENT);
    const workerData: HeartbeatInit = { ...rest, slots: buffer };
    const thread = new Thread(MAIN, { workerData, ...(FROM_SOURCE ? { execArgv: ["--import", "tsx"] } : {}) });
    return new HeartbeatThread(thread, new BigInt64Array(buffer), onLost, onFailed);
  }

  /** An attempt this worker now runs: its lease is renewed from now on. */
  track(attemptId: number): void {
    const slot = this.free.pop();
    if (slot === undefined) throw new SluiceError("INTERNAL", "more running attempts than heartbeat slots");
    this.bySlot.set(attemptId, slot);
    // generation first, id last: the thread reads the id, the generation, and the id again
    Atomics.store(this.slots, slot + 1, BigInt(++this.generation));
    Atomics.store(this.slots, slot, BigInt(attemptId));
  }

  /** The attempt ended (or was handed back): no more renewals. */
  untrack(attemptId: number): void {
    const slot = this.bySlot.get(attemptId);
    if (slot === undefined) return;
    this.bySlot.delete(attemptId);
    Atomics.store(this.slots, slot, 0n);
    this.free.push(slot);
  }

  /**
   * Stop heartbeating and close the thread's store connection. A thread still starting (importing the
   * store, opening its connection: ~0.4 s) is ended at once: it has beaten nothing and holds nothing, and
   * a run shorter than that must not wait for it (a one-task `sluice run` did, every time).
   */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      if (this.thread.threadId === -1) return resolve(); // already exited
      if (!this.ready) {
        this.thread.once("exit", () => resolve());
        void this.thread.terminate();
        return;
      }
      this.thread.once("exit", () => resolve());
      this.thread.on("message", (m: FromHeartbeat) => m.type === "stopped" && void this.thread.terminate());
      this.post({ type: "stop" });
    });
    return this.stopped;
  }

  private post(m: ToHeartbeat): void {
    this.thread.postMessage(m);
  }
}
