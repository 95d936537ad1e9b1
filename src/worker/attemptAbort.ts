/**
 * How an attempt is stopped (its timeout, a cancel, a lost lease, a hand-back). The worker and the
 * in-process executor wait on it through `onAbort`, a plain list, instead of an AbortSignal listener per
 * attempt: in `fanout-100000` the EventTarget listeners and their bookkeeping were among the largest
 * sources of garbage promoted to the old generation (peak RSS per task 2.5 KB before this and the leaner
 * initial task instances, 1.6–1.7 KB after). The standard `signal` (the task's `ctx.signal`, executors that
 * kill processes) follows it. It is read when ctx is built: a getter on that object literal made every ctx
 * a slow dictionary-mode object and cost more than the signal saved.
 */
export class AttemptAbort {
  #aborted = false;
  #reason: unknown = undefined;
  #controller: AbortController | null = null;
  #listeners: (() => void)[] | null = null;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** The first reason wins, as with AbortController. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    const listeners = this.#listeners;
    this.#listeners = null;
    if (listeners) for (const fn of listeners) fn();
  }

  /** Call `fn` once when aborted (at once if it is already); returns a function that forgets it. */
  onAbort(fn: () => void): () => void {
    if (this.#aborted) {
      fn();
      return () => undefined;
    }
    (this.#listeners ??= []).push(fn);
    return () => {
      const i = this.#listeners?.indexOf(fn) ?? -1;
      if (i >= 0) this.#listeners!.splice(i, 1);
    };
  }

  /** A standard AbortSignal following this one. */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }
}
