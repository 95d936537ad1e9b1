/**
 * Backfills (decision 0006): runs of a scheduled DAG for past data intervals, with Airflow 3's semantics —
 * one run per (DAG, logical date) shared with the scheduler (same run keys), reprocess behaviours
 * missing | failed | all, at most `maxActive` of the backfill's runs active at once, run type "backfill".
 *
 * A backfill is a row plus a plan (one row per interval, written in the creating transaction). A driver
 * process starts intervals in plan order — creating (or clearing) the run and recording it in the plan in
 * one transaction, which also checks the backfill is still running and has room — and waits for the runs
 * to end. Runs are created only when there is room, so no backlog of queued runs waits for a driver: a
 * crashed driver leaves only running runs behind (any worker finishes them) and a plan to resume from.
 *
 * Fairness with live runs comes from claim priority (core/backfill): a backfill's task instances always
 * sort after live ones, so a worker shared by both takes live work first.
 */
import { hostname } from "node:os";
import { intervalAction, type IntervalAction, type Reprocess } from "../core/backfill.js";
import type { DagSpec } from "../core/dagSpec.js";
import { describeSchedule, type Schedule } from "../core/schedules.js";
import { runsBetween, scheduleTimezone as zoneOfSchedule, timetableOf } from "../core/timetables.js";
import type { RunState } from "../core/states.js";
import { SluiceError } from "../errors.js";
import type { BackfillCounts, BackfillIntervalRecord, BackfillRecord, BackfillState } from "../store/backfills.js";
import type { AuditHook } from "../store/audit.js";
import type { RunRecord, Store, Tx } from "../store/store.js";
import type { Worker } from "../worker/worker.js";
import type { Engine } from "./engine.js";

/** A typo in a date must not create a million runs. */
export const MAX_BACKFILL_INTERVALS = 10_000;
export const DEFAULT_MAX_ACTIVE = 10;

export interface BackfillRequest {
  dagId: string;
  /** Epoch ms: intervals whose start lies in [from, to]. */
  from: number;
  to: number;
  /** Default "missing". */
  reprocess?: Reprocess;
  /** Runs of the backfill active at once; default 10. */
  maxActive?: number;
  /** Latest intervals first. */
  runBackwards?: boolean;
}

export interface PlannedInterval {
  start: number;
  end: number;
  /** The interval's run before the backfill, if any. */
  existing: { runId: string; state: RunState } | null;
  action: IntervalAction;
}

export interface BackfillPlan {
  dagId: string;
  from: number;
  to: number;
  reprocess: Reprocess;
  /** In run order. */
  intervals: PlannedInterval[];
  /** Intervals in the range that have not ended yet: left to the scheduler. */
  incomplete: number;
}

export interface BackfillSummary {
  backfillId: number;
  dagId: string;
  state: BackfillState;
  stateReason: string | null;
  from: number;
  to: number;
  reprocess: Reprocess;
  maxActive: number;
  counts: BackfillCounts;
  intervals: BackfillIntervalRecord[];
}

export interface BackfillHooks {
  /** The backfill is about to be driven (`resumed`: it existed before this call). */
  onStart?: (b: BackfillRecord, resumed: boolean) => void;
  /** After every change seen (a run started or ended, a poll). */
  onProgress?: (counts: BackfillCounts, b: BackfillRecord) => void;
  /** A run of the backfill ended. */
  onRunFinished?: (run: RunRecord) => void;
  onWorker?: (w: Worker) => void;
  /** The driver, to cancel from the same process (a signal handler). */
  onDriver?: (d: BackfillDriver) => void;
}

function usage(message: string, details: Record<string, unknown> = {}): SluiceError {
  return new SluiceError("USAGE", message, { details });
}

const isoDay = (t: number) => new Date(t).toISOString();

/**
 * The intervals a backfill would run and what it would do with each, from the store as it is now. Checks
 * the request (a DAG with a time schedule, from ≤ to, not in the future, params with defaults) and throws
 * a SluiceError that says what is wrong. Writes nothing: `--dry-run` prints this.
 */
export async function planBackfill(engine: Engine, req: BackfillRequest, rows: Store | Tx = engine.store): Promise<BackfillPlan> {
  const { dag } = engine.getDag(req.dagId);
  const spec = dag.spec;
  const schedule = scheduleOf(spec, req.dagId);
  const reprocess = req.reprocess ?? "missing";
  const maxActive = req.maxActive ?? DEFAULT_MAX_ACTIVE;
  if (!Number.isInteger(maxActive) || maxActive < 1) throw usage(`--max-active must be a whole number ≥ 1, got ${maxActive}`);
  if (req.from > req.to) throw usage(`--from (${isoDay(req.from)}) is after --to (${isoDay(req.to)}); swap them`, { from: req.from, to: req.to });
  const now = engine.clock.now();
  if (req.from > now) throw usage(`--from (${isoDay(req.from)}) is in the future; a backfill runs past intervals (the scheduler runs the rest)`);
  // scheduled runs take the params' defaults; so do backfill runs
  await engine.validateParams(req.dagId, dag.paramsSchema, {}, spec.paramsJsonSchema).catch((e: SluiceError) => {
    throw new SluiceError("INVALID_PARAM", `${e.message} (backfill runs get the params' defaults: give every param a default)`, { details: { dagId: req.dagId } });
  });
  // any timetable: its runs with logical dates in [from, to], on the DAG's grid (a data interval's start,
  // a trigger's tick), each keyed like the scheduled run of that date
  const all = runsBetween(timetableOf(spec, dag.timetable)!, req.from, req.to, now, MAX_BACKFILL_INTERVALS);
  // An interval that has not ended has incomplete data; its run would also take the key of the scheduled
  // run the scheduler creates when it ends (which would then never happen).
  const complete = all.filter((i) => i.end <= now);
  if (complete.length === 0) {
    throw usage(
      all.length === 0
        ? `no interval of ${describeSchedule(schedule)} starts between ${isoDay(req.from)} and ${isoDay(req.to)}; widen the range`
        : `no interval of ${describeSchedule(schedule)} between ${isoDay(req.from)} and ${isoDay(req.to)} has ended yet; the scheduler runs it when it ends`,
      { dagId: req.dagId },
    );
  }
  const existing = await rows.backfills.runsOfIntervals(req.dagId, complete.map((i) => i.start));
  const intervals = complete.map((i) => {
    const run = existing.get(i.start) ?? null;
    return { start: i.start, end: i.end, existing: run, action: intervalAction(run?.state ?? null, reprocess) };
  });
  if (req.runBackwards) intervals.reverse();
  return { dagId: req.dagId, from: req.from, to: req.to, reprocess, intervals, incomplete: all.length - complete.length };
}

/** The DAG's time schedule; a DAG without one cannot be backfilled (a clear error says so). */
export function scheduleOf(spec: DagSpec, dagId: string): Schedule {
  if (!spec.schedule) {
    throw usage(
      `DAG "${dagId}" has no time schedule, and a backfill runs the data intervals of one; give it a schedule (e.g. schedule: "@daily"), or run it once for a date with: sluice run ${dagId} --logical-date <date>`,
      { dagId },
    );
  }
  return spec.schedule;
}

/** The timezone `--from`/`--to` dates are read in: the schedule's (UTC for fixed intervals). */
export function scheduleTimezone(s: Schedule): string {
  return zoneOfSchedule(s);
}

/**
 * Create a backfill (its row and plan, one transaction), or find the DAG's running backfill when it is
 * the same request (a crashed `sluice backfill` run again resumes it). A different running backfill of
 * the DAG is a conflict: one at a time per DAG, as Airflow.
 */
export async function createBackfill(engine: Engine, req: BackfillRequest, audit?: AuditHook): Promise<{ backfill: BackfillRecord; resumed: boolean; plan: BackfillPlan }> {
  await planBackfill(engine, req); // checks the request (outside the transaction: it may load nothing more)
  return engine.store.tx(async (tx) => {
    const running = await tx.backfills.runningOf(req.dagId);
    const plan = await planBackfill(engine, req, tx);
    if (running) {
      const same =
        running.from === req.from &&
        running.to === req.to &&
        running.reprocess === plan.reprocess &&
        running.maxActive === (req.maxActive ?? DEFAULT_MAX_ACTIVE) &&
        running.runBackwards === !!req.runBackwards;
      if (!same) {
        throw new SluiceError(
          "BACKFILL_CONFLICT",
          `DAG "${req.dagId}" already has a running backfill #${running.backfillId} (${describeBackfill(running)}); resume it with \`sluice backfill resume ${running.backfillId}\` or cancel it with \`sluice backfill cancel ${running.backfillId}\``,
          { details: { dagId: req.dagId, backfillId: running.backfillId } },
        );
      }
      // the same request again: it resumes the running backfill, which the entry shows unchanged
      await audit?.(tx, { dagId: req.dagId, target: `backfill ${running.backfillId}`, before: auditedBackfill(running), after: auditedBackfill(running) });
      return { backfill: running, resumed: true, plan };
    }
    const id = await tx.backfills.insert({ dagId: req.dagId, from: req.from, to: req.to, reprocess: plan.reprocess, maxActive: req.maxActive ?? DEFAULT_MAX_ACTIVE, runBackwards: !!req.runBackwards, now: tx.now() },
      plan.intervals,
    );
    const backfill = (await tx.backfills.get(id))!;
    await audit?.(tx, { dagId: req.dagId, target: `backfill ${id}`, before: null, after: { ...auditedBackfill(backfill), intervals: plan.intervals.length } });
    return { backfill, resumed: false, plan };
  });
}

export function describeBackfill(b: Pick<BackfillRecord, "from" | "to" | "reprocess" | "maxActive">): string {
  return `${isoDay(b.from)} to ${isoDay(b.to)}, reprocess ${b.reprocess}, max ${b.maxActive} active`;
}

export async function requireBackfill(store: Store, backfillId: number): Promise<BackfillRecord> {
  const b = await store.backfills.get(backfillId);
  if (!b) throw new SluiceError("BACKFILL_NOT_FOUND", `no backfill with id ${backfillId} (list them with: sluice backfill list)`, { details: { backfillId } });
  return b;
}

/**
 * Cancel a running backfill (from any process): no more of its intervals start; its runs that are running
 * go on to their end (as Airflow), driven by its driver while it lives or by any worker.
 */
export async function cancelBackfill(store: Store, backfillId: number, reason = "cancelled by user", audit?: AuditHook): Promise<BackfillRecord> {
  await requireBackfill(store, backfillId);
  return store.tx(async (tx) => {
    const before = (await tx.backfills.get(backfillId))!;
    if (!(await tx.backfills.end(backfillId, "cancelled", reason, store.now()))) {
      throw new SluiceError("RUN_FINISHED", `backfill ${backfillId} has already ended (${before.state})`, { details: { backfillId } });
    }
    const after = (await tx.backfills.get(backfillId))!;
    await audit?.(tx, { dagId: after.dagId, target: `backfill ${backfillId}`, before: auditedBackfill(before), after: auditedBackfill(after) });
    return after;
  });
}

/** A backfill as its audit entries show it. */
function auditedBackfill(b: BackfillRecord): Record<string, unknown> {
  return { backfillId: b.backfillId, state: b.state, stateReason: b.stateReason, from: isoDay(b.from), to: isoDay(b.to), reprocess: b.reprocess, maxActive: b.maxActive, runBackwards: b.runBackwards };
}

export async function backfillSummary(store: Store, backfillId: number): Promise<BackfillSummary> {
  const b = await requireBackfill(store, backfillId);
  return {
    backfillId,
    dagId: b.dagId,
    state: b.state,
    stateReason: b.stateReason,
    from: b.from,
    to: b.to,
    reprocess: b.reprocess,
    maxActive: b.maxActive,
    counts: await store.backfills.counts(backfillId),
    intervals: await store.backfills.listIntervals(backfillId),
  };
}

/** Backfills driven by this process now (a dead process's driver row may carry our pid: containers reuse pid 1). */
const LOCAL_DRIVERS = new Set<number>();

/** Thrown inside a start transaction to roll it back: the backfill has no room, or is not running. */
class NoStart extends Error {}

export interface DriverOptions {
  /** A worker that runs the backfill's task instances in this process; null: leave them to other workers. */
  newWorker: (() => Worker) | null;
  hooks?: BackfillHooks;
  /** How often to look at the store for changes made by other processes (cancel, runs ended). Default 1 s. */
  pollMs?: number;
  heartbeatMs: number;
  /** A driver whose heartbeat is older than this is gone (other hosts; on this host its pid tells). */
  leaseMs: number;
}

/**
 * Drives one backfill in this process until it ends (or is cancelled and its running runs have ended):
 * starts intervals while it has room, runs their tasks through its worker, reports progress.
 */
export class BackfillDriver {
  private readonly host = hostname();
  private wake: (() => void) | null = null;
  private cancelReason: string | null = null;

  constructor(
    private readonly engine: Engine,
    readonly backfillId: number,
    private readonly opts: DriverOptions,
  ) {}

  /** Cancel the backfill (e.g. on SIGINT): no new runs start; running ones finish. */
  cancel(reason = "cancelled by user"): void {
    this.cancelReason = reason;
    this.kick();
  }

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  async run(): Promise<BackfillSummary> {
    const store = this.engine.store;
    const hooks = this.opts.hooks ?? {};
    hooks.onDriver?.(this);
    const b0 = await this.takeOver();
    let worker: Worker | null = null;
    let workerError: unknown = null;
    const offFinished = this.engine.onRunFinished((runId) => {
      void store.runs.get(runId).then((r) => {
        if (r?.backfillId !== this.backfillId) return;
        hooks.onRunFinished?.(r);
        this.kick();
      });
    });
    const hb = setInterval(() => void store.backfills.heartbeatDriver(this.backfillId, process.pid, this.host, store.now()).catch(() => undefined), this.opts.heartbeatMs);
    hb.unref();
    try {
      const dagInfo = b0.state === "running" ? this.engine.getDag(b0.dagId) : null;
      const params = dagInfo ? await this.engine.validateParams(b0.dagId, dagInfo.dag.paramsSchema, {}, dagInfo.dag.spec.paramsJsonSchema) : {};
      // a crashed driver's attempts get new attempts; its runs' timeouts are watched again
      await this.engine.recoverLostAttempts();
      for (const r of await store.runs.listActive()) if (r.backfillId === this.backfillId) this.engine.watchRunTimeout(r);
      if (b0.state === "running" || (await store.runs.countActive({ backfillId: this.backfillId })) > 0) worker = this.opts.newWorker?.() ?? null;
      if (worker) {
        hooks.onWorker?.(worker);
        await worker.start();
        worker.failed().catch((e: unknown) => {
          workerError = e;
          this.kick();
        });
      }
      for (;;) {
        if (workerError) throw workerError;
        if (this.cancelReason !== null) {
          await store.backfills.end(this.backfillId, "cancelled", this.cancelReason, store.now());
          this.cancelReason = null;
        }
        const b = (await store.backfills.get(this.backfillId))!;
        if (b.state === "running" && dagInfo) await this.startMore(b, dagInfo, params);
        const counts = await store.backfills.counts(this.backfillId);
        const now = (await store.backfills.get(this.backfillId))!;
        hooks.onProgress?.(counts, now);
        if (counts.active === 0 && (now.state !== "running" || counts.pending === 0)) {
          if (now.state === "running") {
            const failed = counts.failed > 0;
            await store.backfills.end(this.backfillId, failed ? "failed" : "success", failed ? `${counts.failed} of ${counts.planned} runs failed` : null, store.now());
          }
          break;
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.opts.pollMs ?? 1000);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
    } finally {
      clearInterval(hb);
      offFinished();
      await worker?.stop().catch(() => undefined);
      await this.release().catch(() => undefined);
    }
    return backfillSummary(store, this.backfillId);
  }

  /** Become the backfill's driver, unless a live process drives it. */
  private async takeOver(): Promise<BackfillRecord> {
    const store = this.engine.store;
    return store.tx(async (tx) => {
      const b = await tx.backfills.get(this.backfillId);
      if (!b) throw new SluiceError("BACKFILL_NOT_FOUND", `no backfill with id ${this.backfillId} (list them with: sluice backfill list)`);
      const d = b.driver;
      if (b.state === "running" && d && this.driverAlive(d, tx.now())) {
        throw new SluiceError(
          "BACKFILL_CONFLICT",
          `backfill ${b.backfillId} of "${b.dagId}" is being driven by process ${d.pid} on ${d.host}; wait for it, or cancel it with \`sluice backfill cancel ${b.backfillId}\``,
          { details: { backfillId: b.backfillId, pid: d.pid, host: d.host } },
        );
      }
      await tx.backfills.setDriver(this.backfillId, { pid: process.pid, host: this.host, now: tx.now() });
      LOCAL_DRIVERS.add(this.backfillId);
      return b;
    });
  }

  private driverAlive(d: { pid: number; host: string; heartbeatAt: number }, now: number): boolean {
    if (d.host !== this.host) return now - d.heartbeatAt < this.opts.leaseMs;
    if (d.pid === process.pid) return LOCAL_DRIVERS.has(this.backfillId);
    try {
      process.kill(d.pid, 0);
      return now - d.heartbeatAt < this.opts.leaseMs;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  }

  private async release(): Promise<void> {
    LOCAL_DRIVERS.delete(this.backfillId);
    const store = this.engine.store;
    await store.tx(async (tx) => {
      const b = await tx.backfills.get(this.backfillId);
      if (b?.driver && b.driver.pid === process.pid && b.driver.host === this.host) await tx.backfills.setDriver(this.backfillId, null);
    });
  }

  /**
   * Start intervals in plan order while the backfill has room. Each start is one transaction that creates
   * (or clears) the run, checks the backfill is running and within maxActive counting the new run, and
   * records the run in the plan — or rolls back. So maxActive holds at every instant, whoever else drives
   * or cancels, and a crash between two starts loses or repeats nothing.
   */
  private async startMore(b: BackfillRecord, dagInfo: ReturnType<Engine["getDag"]>, params: Record<string, unknown>): Promise<void> {
    const store = this.engine.store;
    const dag = { dagId: b.dagId, version: dagInfo.dag.version, spec: dagInfo.dag.spec, file: dagInfo.file };
    for (;;) {
      if (this.cancelReason !== null) return;
      if ((await store.runs.countActive({ backfillId: b.backfillId })) >= b.maxActive) return;
      const next = await store.backfills.nextPendingInterval(b.backfillId);
      if (!next) return;
      const key = `sched:${new Date(next.start).toISOString()}`;
      const then = async (tx: Tx) => {
        const now = await tx.backfills.get(b.backfillId);
        if (now?.state !== "running") throw new NoStart();
        const run = await tx.runs.findByKey(b.dagId, key);
        if (!run) throw new SluiceError("INTERNAL", `the run of ${key} vanished`);
        if (run.backfillId !== b.backfillId) {
          // it was not ours to start: it appeared after the plan, or someone else is running it
          await tx.backfills.skipInterval(b.backfillId, next.start, run.state === "success" || run.state === "failed" ? "skip_exists" : "skip_in_flight");
          return;
        }
        if ((await tx.runs.countActive({ backfillId: b.backfillId })) > b.maxActive) throw new NoStart();
        await tx.backfills.linkRun(b.backfillId, next.start, run.runId);
      };
      try {
        const existing = next.action === "reprocess" ? (await store.backfills.runsOfIntervals(b.dagId, [next.start])).get(next.start) : undefined;
        if (existing) await this.engine.reprocessForBackfill(existing.runId, b.backfillId, then);
        else await this.engine.createBackfillRun(dag, params, next, b.backfillId, then);
      } catch (e) {
        // PostgreSQL's Store.tx wraps what it does not retry in a SluiceError (the NoStart is its cause)
        if (e instanceof NoStart || (e instanceof Error && e.cause instanceof NoStart)) return;
        throw e;
      }
    }
  }
}
