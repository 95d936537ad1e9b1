/**
 * In-process signals from the engine to this process's workers and waiters: work may be ready, attempts
 * must abort, a run finished, an attempt started or ended. Other processes' commits are heard through the
 * store's notifier (PostgreSQL LISTEN/NOTIFY) and turned into wake-ups here; SQLite has none (workers poll).
 */
import { EventEmitter } from "node:events";
import type { RunState } from "../core/states.js";
import type { SluiceError } from "../errors.js";
import type { ClaimedAttempt, Store } from "../store/store.js";
import type { AttemptResult } from "../worker/worker.js";

export type AttemptEvent =
  | { kind: "started"; attempt: ClaimedAttempt }
  | { kind: "ended"; attempt: ClaimedAttempt; result: AttemptResult };

export class Signals {
  private readonly events = new EventEmitter();
  private remoteOff: (() => void) | null = null;

  constructor(private readonly store: Store) {
    this.events.setMaxListeners(0);
  }

  /** Work may be ready; `except` names a worker that needs no wake-up (it caused it), or null. */
  wake(except: string | null = null): void {
    this.events.emit("wake", except);
  }

  abort(attemptIds: number[], reason: SluiceError): void {
    this.events.emit("abort", attemptIds, reason);
  }

  runFinished(runId: string, state: RunState): void {
    this.events.emit("runFinished", runId, state);
  }

  /** Progress events cost a lookup per attempt: emitted only while someone listens. */
  get observingAttempts(): boolean {
    return this.events.listenerCount("attempt") > 0;
  }

  attempt(e: AttemptEvent): void {
    this.events.emit("attempt", e);
  }

  onWake(cb: (except: string | null) => void): () => void {
    this.listenToOtherProcesses();
    return this.on("wake", (except: string | null = null) => cb(except));
  }

  onAbort(cb: (attemptIds: number[], reason: SluiceError) => void): () => void {
    return this.on("abort", cb);
  }

  onRunFinished(cb: (runId: string, state: RunState) => void): () => void {
    return this.on("runFinished", cb);
  }

  onAttempt(cb: (e: AttemptEvent) => void): () => void {
    return this.on("attempt", cb);
  }

  /** Another process committed something (PostgreSQL only); starts listening on first use. */
  onRemote(cb: () => void): () => void {
    this.listenToOtherProcesses();
    return this.on("remote", cb);
  }

  close(): void {
    this.remoteOff?.();
    this.remoteOff = null;
    this.events.removeAllListeners();
  }

  private on<A extends unknown[]>(name: string, cb: (...args: A) => void): () => void {
    this.events.on(name, cb);
    return () => this.events.off(name, cb);
  }

  /**
   * PostgreSQL: wake this process's workers and waiters when another process's commit may have made work
   * ready or finished a run (LISTEN/NOTIFY, store/notifier.ts). Once per engine; SQLite: nothing.
   */
  private listenToOtherProcesses(): void {
    if (this.remoteOff || !this.store.notifier) return;
    this.remoteOff = this.store.notifier.subscribe(() => {
      this.events.emit("wake", null);
      this.events.emit("remote");
    });
  }
}
