/**
 * Run creation. Every way a run comes to be — a person's trigger (`createRun`), a schedule tick, an asset
 * update or external event, a backfill — describes it as a `RunRequest` and goes through `createRuns`:
 * one transaction for the runs and all their task instances, idempotent by run key (the same key never
 * creates a second run of a DAG; the request gets the existing run).
 */
import { randomBytes } from "node:crypto";
import { backfillPriority } from "../core/backfill.js";
import type { Clock } from "../core/clock.js";
import type { DagSpec } from "../core/dagSpec.js";
import type { DataInterval } from "../core/schedules.js";
import { FINISHED_RUN_STATES } from "../core/states.js";
import { manualDataInterval, timetableOf, type Timetable } from "../core/timetables.js";
import { SluiceError } from "../errors.js";
import { Keyring, type KeySource } from "../secrets/keyring.js";
import { encryptSecretParams, hasSecretParams } from "../secrets/params.js";
import type { AuditHook } from "../store/audit.js";
import type { RunRecord, Store, Tx } from "../store/store.js";
import type { DagCode } from "./dagCode.js";
import { validateParams } from "./params.js";
import type { RunSpecs } from "./runSpecs.js";
import type { Transitions } from "./transaction.js";
import { Deadlines } from "./deadlines.js";
import { firstDeadline } from "../core/deadlines.js";
import { clearTasks, initialTaskInstances, startRun, type TransitionEnv } from "./transitions.js";
import type { TriggerTarget } from "./triggers.js";

export interface TriggerOptions {
  params?: Record<string, unknown>;
  /** Default: now. */
  logicalDate?: Date;
  /** The same key never creates a second run of the DAG. */
  idempotencyKey?: string;
  runType?: "manual" | "scheduled" | "backfill" | "event";
  /**
   * A person's trigger (app/runs): its audit entry is written in the run's transaction, and the run
   * records who (`triggeredBy`).
   */
  audit?: AuditHook;
  /** Reuse no cache entry: every cached task runs, and its success replaces the entry (`--no-cache`). */
  noCache?: boolean;
}

/** The DAG version a run is created with. */
export interface RunDag {
  dagId: string;
  version: string;
  spec: DagSpec;
  file: string | null;
}

/** One run to create (or to find by its key). */
interface RunRequest {
  dag: RunDag;
  params: Record<string, unknown>;
  /** Unique per DAG: a request with a key that exists gets that run. Null: a key of its own (`run:<id>`). */
  runKey: string | null;
  runType: string;
  logicalDate: number;
  dataInterval: DataInterval;
  /** Wait as "queued" instead of starting: always, never, or while the DAG has `maxActiveRuns` active runs. */
  queued: boolean | "if_busy";
  /** Runs in the same transaction, whether the run was created or found by key; throws to roll it back. */
  then?: (tx: Tx) => Promise<void>;
  /** A backfill's run: its task instances get backfill claim priorities (core/backfill). */
  backfillId?: number;
  /** Who triggered it (a person or token); absent: the scheduler, an asset, a backfill. */
  triggeredBy?: string;
  /** A person's trigger: the audit entry, written in the run's transaction (created or found by key). */
  audit?: AuditHook;
  /** Reuse no cache entry (TriggerOptions.noCache). */
  noCache?: boolean;
}

/**
 * A DAG's built-in timetable, null for one without a time schedule or with its own (a run triggered by an
 * asset or an event has the DAG's spec, not always its code: such a run gets [logicalDate, logicalDate]).
 */
function builtinTimetable(spec: DagSpec): Timetable | null {
  return spec.schedule?.kind === "custom" ? null : timetableOf(spec);
}

/** A data interval's run key: the scheduler and backfills share it, so an interval has one run. */
const intervalKey = (interval: { start: number }) => `sched:${new Date(interval.start).toISOString()}`;

export class RunCreation {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly env: TransitionEnv,
    private readonly specs: RunSpecs,
    private readonly code: DagCode,
    private readonly transitions: Transitions,
    /** Where the keys that encrypt secret params come from; null: none configured (such a run is refused). */
    private readonly secretKey: KeySource | null = null,
  ) {}

  private keyring: Keyring | null = null;

  /**
   * `params` as stored for run `runId`: the DAG's secret params encrypted (docs/decisions/0016-secrets.md).
   * The first secret written creates the key file when none is configured, as the first admin's password is.
   */
  private storedParams(spec: DagSpec, runId: string, params: Record<string, unknown>): Record<string, unknown> {
    const names = spec.secretParams ?? [];
    if (!hasSecretParams(params, names)) return params;
    if (!this.secretKey) throw new SluiceError("SECRET_KEY", `DAG "${spec.id}" has secret params (${names.join(", ")}) but this process has no secret key configured`);
    this.keyring ??= Keyring.load(this.secretKey, { create: true });
    return encryptSecretParams(params, names, runId, this.keyring!);
  }

  /** Validate params and create a run with all its task instances, in one transaction. */
  async createRun(dagId: string, opts: TriggerOptions = {}): Promise<RunRecord> {
    await this.code.ensure(dagId);
    const { dag, file } = this.code.get(dagId);
    const params = await validateParams(dagId, dag.paramsSchema, opts.params ?? {}, dag.spec.paramsJsonSchema);
    const logicalDate = (opts.logicalDate ?? new Date(this.clock.now())).getTime();
    const [run] = await this.createRuns([
      {
        dag: { dagId, version: dag.version, spec: dag.spec, file },
        params,
        runKey: opts.idempotencyKey ? `key:${opts.idempotencyKey}` : null,
        runType: opts.runType ?? "manual",
        logicalDate,
        // Airflow's infer_manual_data_interval: a daily DAG triggered on the 25th covers the 24th
        dataInterval: manualDataInterval(timetableOf(dag.spec, dag.timetable), logicalDate),
        queued: false,
        ...(opts.audit ? { audit: opts.audit, triggeredBy: opts.audit.actor } : {}),
        ...(opts.noCache ? { noCache: true } : {}),
      },
    ]);
    return run!;
  }

  /**
   * Scheduled runs of data intervals, in one transaction (group commit: a tick with many due DAGs pays
   * for one commit instead of one per run; bench schedule-1000: the burst of 1,000 runs took half the
   * time). Exactly one run per (DAG, interval start), whoever asks and however often; it waits `queued`
   * while the DAG has `maxActiveRuns` active runs. Each `then` runs in the same transaction (the scheduler
   * advances the DAG's next interval there).
   */
  createScheduledRuns(
    items: readonly { dag: RunDag; params: Record<string, unknown>; interval: { start: number; end: number }; then: (tx: Tx) => Promise<void> }[],
  ): Promise<RunRecord[]> {
    return this.createRuns(
      items.map((it) => ({
        dag: it.dag,
        params: it.params,
        runKey: intervalKey(it.interval),
        runType: "scheduled",
        logicalDate: it.interval.start,
        dataInterval: it.interval,
        queued: "if_busy",
        then: it.then,
      })),
    );
  }

  /** A run created by a trigger (engine/triggers: asset updates, external events), with its run key. */
  async createTriggeredRun(
    target: TriggerTarget,
    o: { runKey: string; runType: "asset" | "event"; queued: boolean | "if_busy"; then: (tx: Tx) => Promise<void>; triggeredBy?: string },
  ): Promise<RunRecord> {
    const logicalDate = this.clock.now();
    const dataInterval = manualDataInterval(builtinTimetable(target.spec), logicalDate);
    const [run] = await this.createRuns([
      { dag: target, params: target.params, runKey: o.runKey, runType: o.runType, logicalDate, dataInterval, queued: o.queued, then: o.then, ...(o.triggeredBy !== undefined ? { triggeredBy: o.triggeredBy } : {}) },
    ]);
    return run!;
  }

  /**
   * The version a triggered run of `dagId` gets: the code loaded in this process, else the version the
   * scheduler registered last. Paused DAGs, DAGs that are gone and DAGs with a param without a default
   * get none (`skip` says why).
   */
  async resolveTriggerTarget(dagId: string): Promise<TriggerTarget | { skip: string }> {
    const row = await this.store.dags.get(dagId);
    if (row?.isPaused) return { skip: `DAG "${dagId}" is paused` };
    const local = this.code.local(dagId);
    if (local) {
      const { dag, file } = local;
      try {
        const params = await validateParams(dagId, dag.paramsSchema, {}, dag.spec.paramsJsonSchema);
        return { dagId, version: dag.version, spec: dag.spec, file: file || null, params };
      } catch (e) {
        return { skip: (e as Error).message };
      }
    }
    if (!row || !row.isActive) return { skip: `DAG "${dagId}" is not in the DAGs folder any more` };
    if (row.defaultParams === null) return { skip: `DAG "${dagId}": ${row.paramsError ?? "a param has no default"}` };
    const stored = await this.store.dags.getVersion(dagId, row.version);
    if (!stored) return { skip: `DAG "${dagId}": version ${row.version} is not in the database` };
    return { dagId, version: row.version, spec: stored.spec, file: stored.file, params: row.defaultParams };
  }

  /**
   * A backfill's run of a data interval: the same key as the scheduled run of that interval, so there is
   * one run per (DAG, logical date) whoever creates it first. When it already exists nothing is created;
   * `then` runs in the same transaction either way (the backfill records or skips the interval there, and
   * throws to roll back when it must not start another run).
   */
  async createBackfillRun(dag: RunDag, params: Record<string, unknown>, interval: { start: number; end: number }, backfillId: number, then: (tx: Tx) => Promise<void>): Promise<RunRecord> {
    const [run] = await this.createRuns([{ dag, params, runKey: intervalKey(interval), runType: "backfill", logicalDate: interval.start, dataInterval: interval, queued: false, backfillId, then }]);
    return run!;
  }

  /**
   * Reprocess a finished run for a backfill (Airflow's backfill "clear"): every task instance is cleared,
   * the run becomes the backfill's (run type "backfill", backfill claim priorities, a fresh start time and
   * run timeout) and runs again. A run that is still active is left alone. `then` runs in the same
   * transaction either way. Not a new run, so not a RunRequest: the run keeps its id, key and params.
   */
  async reprocessForBackfill(runId: string, backfillId: number, then: (tx: Tx) => Promise<void>): Promise<RunRecord> {
    const idx = await this.specs.of(runId);
    const priorities = new Map<number, string[]>();
    for (const t of idx.spec.tasks) {
      const p = backfillPriority(t.priority);
      priorities.set(p, [...(priorities.get(p) ?? []), t.id]);
    }
    const { value: run } = await this.transitions.run(async (tx, fx) => {
      await tx.lockRuns([runId]);
      const before = await tx.runs.get(runId);
      if (!before) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}"`);
      if (FINISHED_RUN_STATES.has(before.state)) {
        const now = tx.now();
        // priorities first: the clear below reads the task instances and schedules the roots
        for (const [priority, taskIds] of priorities) await tx.taskInstances.setPriority(runId, taskIds, priority);
        fx.abort(await clearTasks(tx, this.env, fx, runId, idx.spec.tasks.map((t) => t.id), false), new SluiceError("CANCELLED", "the task was cleared"));
        await tx.runs.adoptForBackfill(runId, backfillId, now, idx.spec.runTimeoutMs === null ? null : now + idx.spec.runTimeoutMs);
        await fx.flush(tx, this.env);
        fx.notifyOthers = true;
      }
      await then(tx);
      const run = (await tx.runs.get(runId))!;
      fx.watchTimeout(run);
      return run;
    });
    return run;
  }

  /** The one path that creates runs: each with all its task instances, all in one transaction. */
  private async createRuns(requests: readonly RunRequest[]): Promise<RunRecord[]> {
    // a run made from code this process loaded keeps that code (DagCode.localBundle); the others get the
    // bundle their version was last parsed with (RunRows.insert)
    const bundles = await Promise.all(requests.map((r) => this.code.localBundle(r.dag.dagId, r.dag.version)));
    const now = this.clock.now();
    const prepared = requests.map((r, i) => {
      const idx = this.specs.index(r.dag.dagId, r.dag.version, () => r.dag.spec);
      const runId = newRunId(now);
      const instances = initialTaskInstances(idx, now);
      if (r.backfillId !== undefined) for (const i of instances) i.priority = backfillPriority(i.priority);
      this.specs.remember(runId, r.dag.dagId, r.dag.version);
      // encrypted before the transaction: a wrong key fails the request with nothing written
      const params = this.storedParams(r.dag.spec, runId, r.params);
      return { r, idx, runId, runKey: r.runKey ?? `run:${runId}`, instances, params, bundle: bundles[i]! };
    });
    const { value: runs } = await this.transitions.run(async (tx, fx) => {
      const out: RunRecord[] = [];
      for (const { r, idx, runId, runKey, instances, params, bundle } of prepared) {
        const { dagId, version, spec, file } = r.dag;
        const existing = await tx.runs.findByKey(dagId, runKey);
        if (existing) {
          await r.then?.(tx);
          // the same key again: nothing changes, but the request is recorded (before and after alike)
          await r.audit?.(tx, { dagId, runId: existing.runId, before: auditedRun(existing), after: auditedRun(existing) });
          fx.watchTimeout(existing);
          out.push(existing);
          continue;
        }
        const unfinished = instances.filter((i) => i.state !== "skipped").length;
        const queued = r.queued === "if_busy" ? (await tx.runs.countActive({ dagId })) >= spec.maxActiveRuns : r.queued;
        await tx.dags.saveVersion(dagId, version, spec, file);
        if (bundle) await tx.dagCode.put(bundle.hash, bundle.code, tx.now());
        await tx.runs.insert(
          {
            runId,
            dagId,
            dagVersion: version,
            runKey,
            runType: r.runType,
            state: unfinished === 0 ? "success" : queued ? "queued" : "running",
            logicalDate: r.logicalDate,
            dataIntervalStart: r.dataInterval.start,
            dataIntervalEnd: r.dataInterval.end,
            params,
            unfinished,
            createdAt: now,
            startedAt: queued ? null : now,
            timeoutAt: queued || spec.runTimeoutMs === null ? null : now + spec.runTimeoutMs,
            // the first deadline to check (decision 0019): none for a DAG without deadlines
            ...(Deadlines.has(idx) ? { deadlineAt: firstDeadline(Deadlines.of(idx), { logicalDate: r.logicalDate, queuedAt: now }) } : {}),
            ...(r.backfillId !== undefined ? { backfillId: r.backfillId } : {}),
            triggeredBy: r.triggeredBy ?? null,
            ...(bundle ? { codeHash: bundle.hash } : {}),
            ...(r.noCache ? { noCache: true } : {}),
          },
          instances,
        );
        await startRun(tx, this.env, fx, idx, runId);
        // its roots are ready to claim: wake the workers (other processes' through NOTIFY, not their poll)
        if (!queued && instances.some((i) => i.state === "scheduled")) fx.readyRuns.add(runId);
        await fx.flush(tx, this.env);
        await r.then?.(tx);
        const run = (await tx.runs.get(runId))!;
        await r.audit?.(tx, { dagId, runId, before: null, after: auditedRun(run) });
        fx.watchTimeout(run);
        if (run.deadlineAt !== null) fx.deadlineAt(run.deadlineAt);
        out.push(run);
      }
      if (fx.readyRuns.size > 0 || fx.finishedRuns.size > 0) fx.notifyOthers = true;
      fx.wakeWorkers = true;
      return out;
    });
    // runs found by key may be of another version than the one requested
    for (const run of runs) this.specs.remember(run.runId, run.dagId, run.dagVersion);
    return runs;
  }
}

/** A run as a trigger's audit entry shows it (params redacted by the entry's writer, app/auditEntry). */
function auditedRun(run: RunRecord): Record<string, unknown> {
  return { state: run.state, runType: run.runType, runKey: run.runKey, logicalDate: new Date(run.logicalDate).toISOString(), params: run.params, triggeredBy: run.triggeredBy };
}

/**
 * Sortable and readable: 20261122T040249-3f9a2c1be4d0. The random part has 48 bits: a scheduler creates
 * 1,000 runs within one second (bench schedule-1000), and with the 20 bits it had, two of them drew the
 * same id in about four bursts of ten (birthday bound n²/2^21); with 48 bits, once in ~5·10^8 bursts.
 */
function newRunId(now: number): string {
  const iso = new Date(now).toISOString();
  const stamp = iso.slice(0, 19).replace(/[-:]/g, "");
  return `${stamp}-${randomBytes(6).toString("hex")}`;
}
