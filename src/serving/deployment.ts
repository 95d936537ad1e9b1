/**
 * One served model alias (`name@alias`) and its hot swap. The alias's current version is loaded (a
 * "slot": its predictor, its batcher, its signature's validator); a request takes the slot current when
 * it arrives and is answered by it, whatever happens meanwhile. When the alias moves (promotion, rollback)
 * the new version is loaded in the background while the old one goes on answering; then `current` is
 * switched in one assignment (atomic for the event loop): requests from then on go to the new version,
 * requests already holding the old slot finish on it, and the old predictor is closed once its last one
 * has answered. No restart, nothing dropped, and every answer names the version that produced it.
 *
 * Moves are noticed by `check()`: called on PostgreSQL's notifications (the store's LISTEN connection,
 * debounced) and every `pollMs` (default 1 s) as the fallback — SQLite has no cross-process
 * notification, and a missed notification costs one interval. A version that fails to load is logged and
 * tried again after `retryFailedMs` (30 s), while the old version goes on serving. An alias that no longer
 * exists leaves the last version serving (logged once): taking a model down is `sluice models serve`'s
 * owner's decision, not a side effect of removing an alias.
 */
import type { ModelVersionRecord, Predictor } from "../core/models.js";
import { SluiceError } from "../errors.js";
import { Batcher, DEFAULT_BATCH, type BatchOptions } from "./batcher.js";
import type { InferenceLogWriter } from "./inferenceLogWriter.js";
import { rowValidator, type RowValidator } from "./signature.js";

/** Where versions come from: the registry (store.models), narrowed to what serving needs. */
export interface ModelSource {
  /** The version `alias` points at now, or null if the model or alias does not exist. */
  resolve(name: string, alias: string): Promise<ModelVersionRecord | null>;
}

export interface DeploymentOptions {
  name: string;
  alias: string;
  source: ModelSource;
  load: (v: ModelVersionRecord) => Promise<Predictor>;
  batch?: BatchOptions;
  log?: InferenceLogWriter | null;
  /** Fallback check interval (ms; default 1000; 0: none). */
  pollMs?: number;
  /** Subscribe to "the store may have changed" (PostgreSQL notifications); returns an unsubscribe. */
  subscribe?: ((cb: () => void) => () => void) | null;
  /** Current time in ms (inference log timestamps). */
  now?: () => number;
  /** Swaps, failed loads, lost aliases. */
  onEvent?: (message: string, level: "info" | "warn" | "error") => void;
  retryFailedMs?: number;
}

/** A predict answer: every answer names the version that produced it. */
export interface PredictAnswer {
  model: string;
  version: number;
  predictions: unknown[];
}

interface Slot {
  record: ModelVersionRecord;
  predictor: Predictor;
  batcher: Batcher;
  validate: RowValidator;
  inflight: number;
  retired: boolean;
  closed: boolean;
}

export const DEFAULT_POLL_MS = 1000;
/** Notifications come with every state change of the store: at most one check per this interval. */
const NOTIFY_DEBOUNCE_MS = 50;

export class ModelDeployment {
  private slot: Slot;
  private checking: Promise<void> | null = null;
  private again = false;
  private pollTimer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private failed: { version: number; at: number } | null = null;
  private aliasLost = false;
  private closed = false;
  /** Versions switched to, in order (the first is the one started with). */
  readonly history: number[] = [];

  private constructor(
    private readonly o: DeploymentOptions,
    first: Slot,
  ) {
    this.slot = first;
    this.history.push(first.record.version);
  }

  /** Resolve `name@alias`, load its version, start watching the alias. */
  static async start(o: DeploymentOptions): Promise<ModelDeployment> {
    const v = await o.source.resolve(o.name, o.alias);
    if (!v) throw new SluiceError("NOT_FOUND", `model "${o.name}" has no alias "${o.alias}" (sluice models show ${o.name})`, { details: { model: o.name, alias: o.alias } });
    const d = new ModelDeployment(o, await makeSlot(v, o));
    const poll = o.pollMs ?? DEFAULT_POLL_MS;
    if (poll > 0) {
      d.pollTimer = setInterval(() => void d.check().catch(() => undefined), poll);
      d.pollTimer.unref();
    }
    if (o.subscribe) {
      d.unsubscribe = o.subscribe(() => {
        d.debounce ??= setTimeout(() => {
          d.debounce = null;
          d.check().catch(() => undefined);
        }, NOTIFY_DEBOUNCE_MS);
      });
    }
    return d;
  }

  get name(): string {
    return this.o.name;
  }
  get alias(): string {
    return this.o.alias;
  }
  /** The version answering new requests. */
  get current(): ModelVersionRecord {
    return this.slot.record;
  }
  get predictor(): Predictor {
    return this.slot.predictor;
  }
  /** predict calls of the current version's batcher. */
  get batchCalls(): number {
    return this.slot.batcher.calls;
  }

  /** Validate `rows` against the current version's signature and predict them (batched with others). */
  async predict(rows: readonly unknown[]): Promise<PredictAnswer> {
    if (this.closed) throw new SluiceError("MODEL_UNAVAILABLE", `model server of "${this.o.name}@${this.o.alias}" is closing`);
    const slot = this.slot;
    slot.validate(rows);
    slot.inflight++;
    try {
      const predictions = await slot.batcher.submit(rows);
      this.o.log?.record(this.o.name, slot.record.version, this.o.alias, rows, predictions, (this.o.now ?? Date.now)());
      return { model: this.o.name, version: slot.record.version, predictions };
    } finally {
      slot.inflight--;
      if (slot.retired && slot.inflight === 0) void this.closeSlot(slot);
    }
  }

  /** Look the alias up and swap if it moved. Concurrent calls share one check (and ask for one more after). */
  check(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        await this.checkOnce();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    const v = await this.o.source.resolve(this.o.name, this.o.alias).catch((e: Error) => {
      this.event(`checking ${this.o.name}@${this.o.alias} failed (serving version ${this.slot.record.version} meanwhile): ${e.message}`, "warn");
      return undefined;
    });
    if (v === undefined) return;
    if (v === null) {
      if (!this.aliasLost) this.event(`alias ${this.o.name}@${this.o.alias} no longer exists; version ${this.slot.record.version} goes on serving`, "warn");
      this.aliasLost = true;
      return;
    }
    this.aliasLost = false;
    if (v.version === this.slot.record.version) return;
    if (this.failed?.version === v.version && (this.o.now ?? Date.now)() - this.failed.at < (this.o.retryFailedMs ?? 30_000)) return;
    let next: Slot;
    try {
      next = await makeSlot(v, this.o);
    } catch (e) {
      this.failed = { version: v.version, at: (this.o.now ?? Date.now)() };
      this.event(`${this.o.name}@${this.o.alias} moved to version ${v.version}, which failed to load (version ${this.slot.record.version} goes on serving): ${(e as Error).message}`, "error");
      return;
    }
    if (this.closed) return void (await closePredictor(next, this.o));
    const old = this.slot;
    this.slot = next;
    this.failed = null;
    this.history.push(v.version);
    this.event(`${this.o.name}@${this.o.alias}: now serving version ${v.version} (was ${old.record.version})`, "info");
    old.retired = true;
    if (old.inflight === 0) await this.closeSlot(old);
  }

  private async closeSlot(slot: Slot): Promise<void> {
    if (slot.closed) return;
    slot.closed = true;
    await closePredictor(slot, this.o);
  }

  private event(message: string, level: "info" | "warn" | "error"): void {
    this.o.onEvent?.(message, level);
  }

  /** Stop watching, let in-flight requests finish, close the predictor and flush the log. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.debounce) clearTimeout(this.debounce);
    this.unsubscribe?.();
    await this.checking?.catch(() => undefined);
    const slot = this.slot;
    slot.retired = true;
    for (let i = 0; i < 500 && slot.inflight > 0; i++) await new Promise((r) => setTimeout(r, 10));
    await this.closeSlot(slot);
  }
}

async function makeSlot(v: ModelVersionRecord, o: DeploymentOptions): Promise<Slot> {
  const validate = rowValidator(v.name, v.signature);
  const predictor = await o.load(v);
  const batcher = new Batcher((rows) => Promise.resolve(predictor.predict(rows)), `model "${v.name}" version ${v.version}`, o.batch ?? DEFAULT_BATCH);
  return { record: v, predictor, batcher, validate, inflight: 0, retired: false, closed: false };
}

async function closePredictor(slot: Pick<Slot, "predictor" | "record">, o: DeploymentOptions): Promise<void> {
  try {
    await slot.predictor.close?.();
  } catch (e) {
    o.onEvent?.(`closing model "${slot.record.name}" version ${slot.record.version} failed: ${(e as Error).message}`, "warn");
  }
}
