/**
 * `ctx.track` of one attempt: params, metric points, tags and files are buffered and written in batches
 * (store/tracking.ts), one transaction per batch — a task logging 10,000 points of a learning curve costs a
 * handful of transactions, not 10,000. A batch is written when 1,000 points are waiting, every 2 s while
 * the task runs (a long training shows its curve live), and when the attempt ends; the attempt does not
 * end before its last batch is stored, and a batch that cannot be stored fails the attempt.
 */
import { readFile } from "node:fs/promises";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { JsonValue } from "../core/assets.js";
import type { Clock } from "../core/clock.js";
import { checkMetric, checkTrackName, paramJson } from "../core/tracking.js";
import type { Tracker } from "../dsl/types.js";
import { SluiceError } from "../errors.js";
import type { Masker } from "../secrets/mask.js";
import type { Store } from "../store/store.js";
import type { TrackBatch, TrackedPoint } from "../store/tracking.js";

const BATCH_POINTS = 1000;
const FLUSH_EVERY_MS = 2000;

export interface TrackedAttempt {
  runId: string;
  dagId: string;
  taskId: string;
  mapIndex: number;
  attemptId: number;
}

export class AttemptTracker implements Tracker {
  private paramRows: { key: string; value: string }[] = [];
  private points: TrackedPoint[] = [];
  private tags: { key: string; value: string }[] = [];
  private files: TrackBatch["artifacts"] = [];
  private seq = 0;
  private readonly lastStep = new Map<string, number>();
  /** Batches are written one after another, in recording order. */
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  /** Files being stored: close() waits for them (a child's artifact arrives without an await). */
  private readonly storing = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly where: string;
  /** Batches written (tests check that points are batched). */
  batches = 0;

  constructor(
    private readonly deps: { store: Store; artifacts: ArtifactStore; clock: Clock; masker: Masker },
    private readonly a: TrackedAttempt,
    private readonly experiment: string,
  ) {
    this.where = `task "${a.taskId}"${a.mapIndex >= 0 ? `[${a.mapIndex}]` : ""}`;
  }

  param(name: string, value: JsonValue): void {
    checkTrackName(this.where, "param", name);
    // a param holding a secret the attempt can reach is stored as ***
    this.paramRows.push({ key: name, value: paramJson(this.where, name, this.deps.masker.maskJson(value)) });
    this.soon();
  }

  params(values: Record<string, JsonValue>): void {
    for (const [k, v] of Object.entries(values)) this.param(k, v);
  }

  metric(name: string, value: number, opts: { step?: number } = {}): void {
    checkTrackName(this.where, "metric", name);
    checkMetric(this.where, name, value, opts.step);
    const step = opts.step ?? (this.lastStep.has(name) ? this.lastStep.get(name)! + 1 : 0);
    this.lastStep.set(name, Math.max(step, this.lastStep.get(name) ?? step));
    this.points.push({ name, step, seq: this.seq++, value, at: this.deps.clock.now() });
    if (this.points.length >= BATCH_POINTS) this.write();
    else this.soon();
  }

  metrics(values: Record<string, number>, opts: { step?: number } = {}): void {
    for (const [k, v] of Object.entries(values)) this.metric(k, v, opts);
  }

  tag(name: string, value: string): void {
    checkTrackName(this.where, "tag", name);
    if (typeof value !== "string") throw new SluiceError("INVALID_INPUT", `${this.where}: tag "${name}" must be a string`);
    this.tags.push({ key: name, value: this.deps.masker.mask(value) });
    this.soon();
  }

  artifact(name: string, data: Uint8Array | string, opts: { mediaType?: string } = {}): Promise<void> {
    const p = this.storeArtifact(name, data, opts);
    const tracked = p.catch(() => undefined);
    this.storing.add(tracked);
    void tracked.finally(() => this.storing.delete(tracked));
    return p;
  }

  private async storeArtifact(name: string, data: Uint8Array | string, opts: { mediaType?: string }): Promise<void> {
    checkTrackName(this.where, "artifact", name);
    let bytes: Buffer;
    if (typeof data === "string") {
      try {
        bytes = await readFile(data);
      } catch (e) {
        throw new SluiceError("INVALID_INPUT", `${this.where}: artifact "${name}": cannot read ${data}: ${(e as Error).message}`);
      }
    } else if (data instanceof Uint8Array) bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    else throw new SluiceError("INVALID_INPUT", `${this.where}: artifact "${name}" must be bytes (a Buffer or Uint8Array) or a file path`);
    const ref = await this.deps.artifacts.put(bytes);
    this.files.push({ name, ref, size: bytes.length, mediaType: opts.mediaType ?? null });
    this.soon();
  }

  /** Write what is buffered and wait for every batch; throws the first batch that could not be stored. */
  async close(): Promise<void> {
    await Promise.all([...this.storing]);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.write();
    await this.writing;
    if (this.failure) throw new SluiceError("INTERNAL", `${this.where}: tracked values could not be stored: ${(this.failure as Error).message}`, { cause: this.failure });
  }

  private soon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write();
    }, FLUSH_EVERY_MS);
    this.timer.unref();
  }

  private write(): void {
    if (this.paramRows.length + this.points.length + this.tags.length + this.files.length === 0) return;
    const batch: TrackBatch = {
      ...this.a,
      experiment: this.experiment,
      at: this.deps.clock.now(),
      params: this.paramRows,
      metrics: this.points,
      tags: this.tags,
      artifacts: this.files,
    };
    this.paramRows = [];
    this.points = [];
    this.tags = [];
    this.files = [];
    this.writing = this.writing.then(async () => {
      if (this.failure) return;
      try {
        await this.deps.store.tx((tx) => tx.tracking.record(batch));
        this.batches++;
      } catch (e) {
        this.failure = e;
      }
    });
  }
}
