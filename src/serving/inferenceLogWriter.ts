/**
 * The inference log's writer: what a model server answered, sampled per row (`sampleRate`), kept in memory
 * and written in one transaction per flush (every `flushMs`, or sooner once `flushRows` rows wait) — never
 * on the request path. After each flush the models it wrote to are pruned to their newest `limit` rows
 * (store/inferenceLog.ts: one indexed read and one range delete per model per flush, not per request).
 *
 * A failed write never fails a request: the batch is dropped and the failure logged (with how many rows
 * were lost). If the database is slower than the traffic, at most `maxBuffered` rows wait; beyond, the
 * oldest waiting rows are dropped (counted in `dropped`) rather than growing the heap without bound.
 */
import type { NewInferenceRow } from "../store/inferenceLog.js";
import type { Store } from "../store/store.js";

export interface InferenceLogOptions {
  /** Fraction of rows logged, 0 to 1 (default 1). */
  sampleRate: number;
  /** Rows kept per model (default 10,000). */
  limit: number;
  /** Longest a sampled row waits before it is written (ms; default 1000). */
  flushMs: number;
  /** Write as soon as this many rows wait (default 500). */
  flushRows: number;
  /** Rows waiting at most; beyond, the oldest are dropped (default 50,000). */
  maxBuffered: number;
  /** Random numbers in [0, 1) (tests inject a sequence). */
  random: () => number;
}

export const DEFAULT_INFERENCE_LOG: InferenceLogOptions = { sampleRate: 1, limit: 10_000, flushMs: 1000, flushRows: 500, maxBuffered: 50_000, random: Math.random };

export class InferenceLogWriter {
  private buffer: NewInferenceRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private closed = false;
  readonly opts: InferenceLogOptions;
  /** Rows written, rows dropped (buffer full or a failed write), writes that failed: for /metadata and tests. */
  written = 0;
  dropped = 0;
  failures = 0;

  constructor(
    private readonly store: Store,
    opts: Partial<InferenceLogOptions>,
    private readonly onError: (message: string) => void,
  ) {
    this.opts = { ...DEFAULT_INFERENCE_LOG, ...opts };
  }

  /** Sample and queue one request's rows and predictions (cheap: no I/O, no serialisation beyond JSON.stringify). */
  record(model: string, version: number, alias: string | null, rows: readonly unknown[], predictions: readonly unknown[], at: number): void {
    if (this.closed || this.opts.sampleRate <= 0) return;
    for (let i = 0; i < rows.length; i++) {
      if (this.opts.sampleRate < 1 && this.opts.random() >= this.opts.sampleRate) continue;
      this.buffer.push({ model, version, alias, at, input: JSON.stringify(rows[i]), prediction: JSON.stringify(predictions[i] ?? null) });
    }
    if (this.buffer.length > this.opts.maxBuffered) {
      const over = this.buffer.length - this.opts.maxBuffered;
      this.buffer.splice(0, over);
      this.dropped += over;
    }
    if (this.buffer.length >= this.opts.flushRows) void this.flush();
    else if (this.buffer.length > 0 && !this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.opts.flushMs);
      this.timer.unref();
    }
  }

  /** Write what waits now (one flush at a time; a flush asked for meanwhile follows it). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const run = async (): Promise<void> => {
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, this.buffer.length);
        try {
          await this.store.inTx(async (tx) => {
            await tx.inferenceLog.append(batch);
          });
          this.written += batch.length;
        } catch (e) {
          this.failures++;
          this.dropped += batch.length;
          this.onError(`inference log: writing ${batch.length} rows failed (they are dropped; requests were answered): ${(e as Error).message}`);
          return;
        }
        for (const model of new Set(batch.map((r) => r.model))) {
          await this.store.inferenceLog.prune(model, this.opts.limit).catch((e: Error) => this.onError(`inference log: pruning model "${model}" to ${this.opts.limit} rows failed: ${e.message}`));
        }
      }
    };
    this.flushing ??= run().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Write what is left and stop taking rows. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }
}
