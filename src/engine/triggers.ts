/**
 * Data-aware and event triggers (decision 0005): runs of DAGs scheduled on assets, and runs of DAGs
 * subscribed to external events.
 *
 * Assets. A producing task's success records its asset events and queues every DAG scheduled on those
 * assets, in the attempt's own transaction (transitions.ts). `evaluateAssets` then looks only at queued
 * DAGs: for each it computes which assets have events the DAG has not consumed, applies anyOf/allOf, and
 * creates a run that consumes exactly the events (pointer, latest] per asset. The run key is derived from
 * those ranges and the run's transaction checks that the DAG's pointers are still where they were read
 * (compare-and-set), so any number of engines and schedulers evaluating at once create one run per
 * consumed set. The engine evaluates right after its own commits (in-process signal); schedulers also
 * evaluate on every tick, which covers events recorded by other processes and by processes that died.
 *
 * Events. `sendEvent` records the event (payload, idempotency key unique per event name) together with
 * the DAGs subscribed to it at that moment, then creates one run per DAG with run key `event:<id>`. A
 * repeated idempotency key finds the recorded event and completes whatever runs are still missing, so it
 * never creates a second run.
 */
import type { Clock } from "../core/clock.js";
import { assetRunKey, assetsToConsume, isEventName, type ConsumedRange, type JsonValue } from "../core/assets.js";
import type { DagSpec } from "../core/dagSpec.js";
import type { AssetEvent } from "../dsl/types.js";
import { SluiceError, isSluiceError, toSluiceError } from "../errors.js";
import { type AssetEventRecord, type DagTriggers } from "../store/assets.js";
import type { AuditHook } from "../store/audit.js";
import type { RunRecord, Store, Tx } from "../store/store.js";
import type { RunTriggerInfo } from "../worker/worker.js";

/** A DAG version a trigger can create a run of, with the params its runs get (its schema's defaults). */
export interface TriggerTarget {
  dagId: string;
  version: string;
  spec: DagSpec;
  file: string | null;
  params: Record<string, unknown>;
}

/** What the triggers need from the engine. */
export interface TriggerHost {
  readonly store: Store;
  readonly clock: Clock;
  /** The version a triggered run of `dagId` gets, or why there is none (paused, gone, params without defaults). */
  resolveTriggerTarget(dagId: string): Promise<TriggerTarget | { skip: string }>;
  /** Create (or find, by key) a run; `then` runs in its transaction and may throw to roll it back. */
  createTriggeredRun(
    target: TriggerTarget,
    o: { runKey: string; runType: "asset" | "event"; queued: boolean | "if_busy"; then: (tx: Tx) => Promise<void>; triggeredBy?: string },
  ): Promise<RunRecord>;
}

/** The result of sending an external event. */
export interface EventOutcome {
  eventId: number;
  name: string;
  /** True when the idempotency key had been seen: no new event was recorded. */
  duplicate: boolean;
  receivedAt: number;
  /** One run per subscribed DAG. */
  runs: { dagId: string; runId: string }[];
  /** Subscribed DAGs that got no run (yet): a retry with the same idempotency key creates them. */
  pending: { dagId: string; reason: string }[];
}

/** The JSON shape of an event's outcome (HTTP and `sluice events send --json`). */
export function eventJson(o: EventOutcome): Record<string, unknown> {
  return { eventId: o.eventId, name: o.name, duplicate: o.duplicate, receivedAt: new Date(o.receivedAt).toISOString(), runs: o.runs, pending: o.pending };
}

export interface SendEventOptions {
  idempotencyKey?: string | undefined;
  /** Who sent it: "api", "cli", "runtime". */
  source?: string;
  /**
   * Sent by a person or token (app/events): the audit entry is written in the event's transaction, and
   * the runs it creates record who (`triggeredBy`).
   */
  audit?: AuditHook;
}

/** The asset triggers of a DAG as the store registers them. */
export function triggersOf(dagId: string, spec: DagSpec): DagTriggers {
  return {
    dagId,
    produces: spec.tasks.flatMap((t) => (t.produces ?? []).map((asset) => ({ asset, taskId: t.id }))),
    consumes: spec.assetSchedule?.assets ?? [],
    events: spec.events ?? [],
  };
}

/** Thrown inside a run's transaction when another evaluator consumed the events first: roll back. */
class Superseded extends Error {}

const MAX_KEY_LENGTH = 200;

export class Triggers {
  private evaluating: Promise<RunRecord[]> | null = null;
  private again = false;
  private stopped = false;
  private readonly runInfo = new Map<string, RunTriggerInfo>();
  private readonly errorListeners = new Set<(e: SluiceError) => void>();

  constructor(private readonly host: TriggerHost) {}

  /** Record what these DAGs produce, consume and subscribe to (one transaction). */
  async register(dags: readonly { id: string; spec: DagSpec }[]): Promise<void> {
    if (dags.length === 0) return;
    const now = this.host.clock.now();
    await this.host.store.tx(async (tx) => {
      for (const d of dags) await tx.assets.registerDagTriggers(triggersOf(d.id, d.spec), now);
    });
  }

  onError(cb: (e: SluiceError) => void): () => void {
    this.errorListeners.add(cb);
    return () => this.errorListeners.delete(cb);
  }

  /** Evaluate soon, without waiting (after a commit that recorded asset events). */
  evaluateSoon(): void {
    if (this.stopped) return;
    void this.tick();
  }

  /** Evaluate; errors go to `onError` listeners instead of rejecting (a scheduler's tick goes on). */
  async tick(): Promise<void> {
    if (this.stopped) return;
    await this.evaluateAssets().then(
      () => undefined,
      (e: unknown) => this.report(e),
    );
  }

  /**
   * Create the runs of asset-scheduled DAGs whose condition holds. Concurrent calls coalesce: one pass
   * at a time, and a call during a pass gets one more pass.
   */
  evaluateAssets(): Promise<RunRecord[]> {
    if (this.evaluating) {
      this.again = true;
      return this.evaluating;
    }
    const pass = (async () => {
      const created: RunRecord[] = [];
      try {
        do {
          this.again = false;
          created.push(...(await this.evaluatePass()));
        } while (this.again && !this.stopped);
      } finally {
        this.evaluating = null;
      }
      return created;
    })();
    this.evaluating = pass;
    return pass;
  }

  /** Wait for an evaluation in flight (before closing the store). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.evaluating?.catch(() => undefined);
  }

  private async evaluatePass(): Promise<RunRecord[]> {
    const created: RunRecord[] = [];
    let after: string | null = null;
    for (;;) {
      const dagIds = await this.host.store.assets.queuedAssetDags(100, after);
      if (dagIds.length === 0) return created;
      for (const dagId of dagIds) {
        if (this.stopped) return created;
        try {
          const run = await this.evaluateDag(dagId);
          if (run) created.push(run);
        } catch (e) {
          // one DAG's problem (its code cannot load, the database is busy) must not stop the others
          this.report(e, dagId);
        }
      }
      after = dagIds[dagIds.length - 1]!;
    }
  }

  private async evaluateDag(dagId: string): Promise<RunRecord | null> {
    const store = this.host.store;
    const target = await this.host.resolveTriggerTarget(dagId);
    if ("skip" in target) return null; // stays queued: paused or not loadable now, runs once it is
    const schedule = target.spec.assetSchedule;
    if (!schedule) {
      await store.assets.dropQueuedAssets(dagId); // no longer asset-scheduled
      return null;
    }
    const queued = await store.assets.queuedAssetsOf(dagId);
    const relevant = queued.filter((a) => schedule.assets.includes(a));
    const pointers = await store.assets.consumedThrough(dagId, relevant);
    const latest = await store.assets.latestEventIds(relevant);
    const fresh = relevant.filter((a) => (latest.get(a) ?? 0) > (pointers.get(a) ?? 0));
    const stale = queued.filter((a) => !fresh.includes(a));
    if (stale.length) await store.assets.dropQueuedAssets(dagId, stale);
    const consume = assetsToConsume(schedule, new Set(fresh));
    if (!consume) return null;
    const ranges: ConsumedRange[] = consume.map((asset) => ({ asset, afterId: pointers.get(asset) ?? 0, throughId: latest.get(asset)! }));
    const runKey = assetRunKey(ranges);
    try {
      return await this.host.createTriggeredRun(target, {
        runKey,
        runType: "asset",
        queued: "if_busy",
        then: async (tx) => {
          // compare-and-set: if another evaluator consumed any of these events first, this run must not exist
          const now = await tx.assets.consumedThrough(dagId, consume);
          if (ranges.some((r) => (now.get(r.asset) ?? 0) !== r.afterId)) throw new Superseded();
          const run = await tx.runs.findByKey(dagId, runKey);
          await tx.assets.consumeEvents(dagId, run!.runId, ranges);
        },
      });
    } catch (e) {
      if (e instanceof Superseded) return null;
      throw e;
    }
  }

  /**
   * Record an external event and create a run of every DAG subscribed to it. An unknown event name (no
   * DAG subscribed) records nothing and throws EVENT_NOT_FOUND.
   */
  async sendEvent(name: string, payload: unknown, opts: SendEventOptions = {}): Promise<EventOutcome> {
    if (!isEventName(name)) {
      throw new SluiceError("EVENT_NOT_FOUND", `${JSON.stringify(name)} is not an event name (letters, digits, "_", ".", ":" and "-")`, { details: { event: name } });
    }
    const key = opts.idempotencyKey;
    if (key !== undefined && (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH)) {
      throw new SluiceError("USAGE", `the idempotency key must be 1 to ${MAX_KEY_LENGTH} characters`);
    }
    const json = checkPayload(payload);
    const logged = await this.host.store.tx(async (tx) => {
      if (key !== undefined) {
        const existing = await tx.events.findByKey(name, key);
        if (existing) {
          const runs = await tx.events.runsOf(existing.eventId);
          await opts.audit?.(tx, { target: name, after: { eventId: existing.eventId, duplicate: true, idempotencyKey: key, subscribers: runs.map((r) => r.dagId) } });
          return { eventId: existing.eventId, receivedAt: existing.receivedAt, duplicate: true, runs };
        }
      }
      const subscribers = await tx.events.subscribers(name);
      if (subscribers.length === 0) {
        const known = await tx.events.subscribedNames();
        throw new SluiceError(
          "EVENT_NOT_FOUND",
          `no DAG is subscribed to event "${name}"; ${known.length ? `subscribed events: ${known.join(", ")}` : "no DAG subscribes to any event"} (a DAG subscribes with events: ["${name}"]; a running scheduler registers it)`,
          { details: { event: name } },
        );
      }
      const receivedAt = tx.now();
      const eventId = await tx.events.insert({ name, payload: json, idempotencyKey: key ?? null, source: opts.source ?? "runtime", receivedAt }, subscribers);
      // the payload is the sender's data, possibly large: the entry names the event, not its content
      await opts.audit?.(tx, { target: name, after: { eventId, duplicate: false, idempotencyKey: key ?? null, subscribers } });
      return { eventId, receivedAt, duplicate: false, runs: subscribers.map((dagId) => ({ dagId, runId: null as string | null })) };
    });
    const outcome: EventOutcome = { eventId: logged.eventId, name, duplicate: logged.duplicate, receivedAt: logged.receivedAt, runs: [], pending: [] };
    for (const r of logged.runs) {
      if (r.runId !== null) {
        outcome.runs.push({ dagId: r.dagId, runId: r.runId });
        continue;
      }
      const target = await this.host.resolveTriggerTarget(r.dagId);
      if ("skip" in target) {
        outcome.pending.push({ dagId: r.dagId, reason: target.skip });
        continue;
      }
      const runKey = `event:${logged.eventId}`;
      try {
        const run = await this.host.createTriggeredRun(target, {
          runKey,
          runType: "event",
          queued: false,
          ...(opts.audit ? { triggeredBy: opts.audit.actor } : {}),
          then: async (tx) => {
            const created = await tx.runs.findByKey(r.dagId, runKey);
            await tx.events.setRun(logged.eventId, r.dagId, created!.runId);
          },
        });
        outcome.runs.push({ dagId: r.dagId, runId: run.runId });
      } catch (e) {
        const err = toSluiceError(e);
        outcome.pending.push({ dagId: r.dagId, reason: err.message });
      }
    }
    return outcome;
  }

  /** What triggered a run (cached: it never changes). */
  async forRun(runId: string): Promise<RunTriggerInfo> {
    const cached = this.runInfo.get(runId);
    if (cached) return cached;
    const t = await this.host.store.assets.runTriggers(runId);
    const info: RunTriggerInfo = {
      event: t.event
        ? Object.freeze({ id: t.event.eventId, name: t.event.name, payload: t.event.payload as JsonValue, receivedAt: new Date(t.event.receivedAt) })
        : null,
      assetEvents: t.assetEvents.map(toAssetEvent),
    };
    if (this.runInfo.size >= 1000) this.runInfo.clear();
    this.runInfo.set(runId, info);
    return info;
  }

  private report(e: unknown, dagId?: string): void {
    if (this.stopped) return;
    const err = toSluiceError(e);
    const reported = dagId && !isSluiceError(e) ? new SluiceError(err.code, `asset trigger of DAG "${dagId}": ${err.message}`, { cause: e }) : err;
    for (const cb of this.errorListeners) cb(reported);
  }
}

function toAssetEvent(e: AssetEventRecord): AssetEvent {
  return Object.freeze({
    id: e.eventId,
    asset: e.asset,
    dagId: e.dagId,
    runId: e.runId,
    taskId: e.taskId,
    mapIndex: e.mapIndex,
    attempt: e.tryNumber,
    createdAt: new Date(e.createdAt),
    metadata: e.metadata as Record<string, JsonValue>,
  });
}

const MAX_PAYLOAD_BYTES = 1024 * 1024;

/** The payload as stored: JSON, at most 1 MB. */
function checkPayload(payload: unknown): JsonValue {
  if (payload === undefined) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (e) {
    throw new SluiceError("INVALID_PAYLOAD", `the event payload is not JSON: ${(e as Error).message}`, { cause: e });
  }
  if (text === undefined) throw new SluiceError("INVALID_PAYLOAD", "the event payload is not JSON");
  if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) throw new SluiceError("PAYLOAD_TOO_LARGE", "the event payload is larger than 1 MB");
  return JSON.parse(text) as JsonValue;
}
