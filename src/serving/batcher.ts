/**
 * Dynamic batching: requests that arrive together go to the model in one `predict` call. A batch leaves
 * when it holds `maxBatch` rows, or `windowMs` after its first request — and only when the previous batch
 * of this model version has answered: while the model works, new requests gather, so under load batches
 * grow by themselves and an idle model adds at most `windowMs` to a request. One request larger than
 * `maxBatch` rows goes alone, whole.
 *
 * A failed batch of several requests is retried request by request, so that one request whose rows make
 * the model throw fails alone instead of taking its neighbours with it.
 */
import { SluiceError, toSluiceError } from "../errors.js";

export interface BatchOptions {
  /** How long the first request of a batch waits for others (ms; default 2). */
  windowMs: number;
  /** Rows per predict call at most (default 64). */
  maxBatch: number;
}

export const DEFAULT_BATCH: BatchOptions = { windowMs: 2, maxBatch: 64 };

interface Pending {
  rows: readonly unknown[];
  resolve(predictions: unknown[]): void;
  reject(e: unknown): void;
}

export class Batcher {
  private queue: Pending[] = [];
  private queuedRows = 0;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  /** predict calls made (tests and the bench read it: fewer calls than requests means batching worked). */
  calls = 0;

  constructor(
    /** What one call predicts: `what` names the model version in errors. */
    private readonly predict: (rows: readonly unknown[]) => Promise<unknown[]>,
    private readonly what: string,
    private readonly opts: BatchOptions = DEFAULT_BATCH,
  ) {}

  /** The predictions for `rows`, in order, once the batch holding them has been predicted. */
  submit(rows: readonly unknown[]): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.queuedRows += rows.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.busy || this.queue.length === 0) return;
    if (this.queuedRows >= this.opts.maxBatch || this.opts.windowMs <= 0) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.busy || this.queue.length === 0) return;
    const batch: Pending[] = [this.queue.shift()!];
    let n = batch[0]!.rows.length;
    while (this.queue.length && n + this.queue[0]!.rows.length <= this.opts.maxBatch) {
      const p = this.queue.shift()!;
      n += p.rows.length;
      batch.push(p);
    }
    this.queuedRows -= n;
    this.busy = true;
    void this.run(batch).finally(() => {
      this.busy = false;
      this.schedule();
    });
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      const out = await this.call(batch.flatMap((p) => p.rows));
      let at = 0;
      for (const p of batch) {
        p.resolve(out.slice(at, at + p.rows.length));
        at += p.rows.length;
      }
    } catch (e) {
      if (batch.length === 1 || (e instanceof SluiceError && e.code === "MODEL_UNAVAILABLE")) {
        for (const p of batch) p.reject(e);
        return;
      }
      for (const p of batch) {
        await this.call(p.rows).then(
          (out) => p.resolve(out),
          (err: unknown) => p.reject(err),
        );
      }
    }
  }

  private async call(rows: readonly unknown[]): Promise<unknown[]> {
    this.calls++;
    let out: unknown;
    try {
      out = await this.predict(rows);
    } catch (e) {
      const err = toSluiceError(e);
      if (err.code === "MODEL_UNAVAILABLE" || err.code === "PREDICT_FAILED") throw err;
      throw new SluiceError("PREDICT_FAILED", `${this.what}: predict failed: ${err.message}`, { cause: e });
    }
    if (!Array.isArray(out) || out.length !== rows.length) {
      const got = Array.isArray(out) ? `${out.length} predictions` : typeof out;
      throw new SluiceError("PREDICT_FAILED", `${this.what}: predict returned ${got} for ${rows.length} rows (one prediction per row, in order)`);
    }
    return out as unknown[];
  }

  /** Fail what is still queued (the server is closing). */
  rejectQueued(why: SluiceError): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const p of this.queue.splice(0)) p.reject(why);
    this.queuedRows = 0;
  }
}
