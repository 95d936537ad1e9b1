/**
 * Heartbeats off the task's event loop. A `worker_threads` Worker (heartbeatMain.ts) renews the leases
 * of this worker's running attempts from its own event loop and its own store connection: an in-process
 * task that busy-loops for minutes keeps its lease. Attempts it finds fenced out (cancelled, expired and
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
  databaseUrl: string;
  busyTimeoutMs: number;
  workerId: string;
  leaseMs: number;
  heartbeatMs: number;
}

export type ToHeartbeat =
  | { type: "track"; attemptIds: number[]; generation: number }
  | { type: "untrack"; attemptIds: number[] }
  | { type: "stop" };

export type FromHeartbeat =
  | { type: "failed"; message: string }
  | { type: "lost"; attemptIds: number[] }
  | { type: "warn"; message: string }
  | { type: "stopped" };

export class HeartbeatThread {
  private generation = 0;
  private stopped: Promise<void> | null = null;

  private constructor(
    private readonly thread: Thread,
    onLost: (attemptIds: number[]) => void,
    onFailed: (e: SluiceError) => void,
  ) {
    let stopping = false;
    thread.on("message", (m: FromHeartbeat) => {
      if (m.type === "lost") onLost(m.attemptIds);
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
  static start(init: HeartbeatInit, onLost: (attemptIds: number[]) => void, onFailed: (e: SluiceError) => void): HeartbeatThread {
    const thread = new Thread(MAIN, { workerData: init, ...(FROM_SOURCE ? { execArgv: ["--import", "tsx"] } : {}) });
    return new HeartbeatThread(thread, onLost, onFailed);
  }

  /**
   * Changes are sent once per turn of the event loop, in order: a message per attempt cost fanout-10000
   * a few percent (two postMessages per task).
   */
  private pending: ToHeartbeat[] = [];

  track(attemptIds: number[]): void {
    const last = this.pending.at(-1);
    if (last?.type === "track") last.attemptIds.push(...attemptIds);
    else this.queue({ type: "track", attemptIds: [...attemptIds], generation: ++this.generation });
  }

  untrack(attemptIds: number[]): void {
    const last = this.pending.at(-1);
    if (last?.type === "untrack") last.attemptIds.push(...attemptIds);
    else this.queue({ type: "untrack", attemptIds: [...attemptIds] });
  }

  private queue(m: ToHeartbeat): void {
    if (this.pending.length === 0) setImmediate(() => this.flush());
    this.pending.push(m);
  }

  private flush(): void {
    for (const m of this.pending.splice(0)) this.post(m);
  }

  /** Stop heartbeating and close the thread's store connection. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      if (this.thread.threadId === -1) return resolve(); // already exited
      this.flush();
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
