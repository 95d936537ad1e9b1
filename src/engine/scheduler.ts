/**
 * The scheduler: keeps the DAGs folder parsed (DAG processor in child processes, only changed files again)
 * and creates the runs of scheduled data intervals when they are due — exactly one per (DAG, interval),
 * enforced by the store, so several schedulers may run at once. It sleeps until the next due time (plus
 * a 1 s safety poll), never scanning all DAGs per tick: due DAGs come from an index on their due time.
 */
import { relative, resolve, sep } from "node:path";
import type { AssetSchedule } from "../core/assets.js";
import type { Clock } from "../core/clock.js";
import type { DagSpec } from "../core/dagSpec.js";
import type { DataInterval, Schedule } from "../core/schedules.js";
import { timetableOf, type Timetable } from "../core/timetables.js";
import { type DagRecord } from "../store/dags.js";
import type { Store } from "../store/store.js";
import { toSluiceError } from "../errors.js";
import { metrics } from "../metrics/registry.js";
import { parseDagFiles, type ParsedDag } from "./dagProcessor.js";
import { DagWatcher } from "./dagWatcher.js";
import type { Engine } from "./engine.js";
import { triggersOf } from "./triggers.js";
import { processLog } from "../logs/processLog.js";

export interface SchedulerOptions {
  dagsDir: string;
  /** A DAG file taking longer than this to import is an import error. Default 30 s. */
  parseTimeoutMs?: number;
  /** Where DAG processors keep compiled DAG modules (executors/dagModuleCache.ts); default: the per-user temp folder. */
  moduleCacheDir?: string;
  /** New DAGs start paused (SLUICE_DAGS_PAUSED_AT_CREATION, Airflow's dags_are_paused_at_creation). */
  pausedAtCreation?: boolean;
  /** Safety poll (other processes pausing, triggering, …). Default 1 s. */
  pollMs?: number;
  /** Called after every parse with what changed (for progress output). */
  onParsed?: (e: { file: string; dags: string[]; error: string | null; codeError?: string }) => void;
  /**
   * A tick or a background parse failed (the database locked past its busy timeout, a disk error): the
   * work is retried by the next poll or rescan. Default: a line on stderr. Never an unhandled rejection,
   * which would end the process.
   */
  onError?: (e: unknown) => void;
}

/** Due DAGs taken (and their runs created in one transaction) at a time. */
const DUE_PAGE = 100;

/** An error of the store as a whole (not of one DAG's run): retrying DAG by DAG would only repeat it. */
function storeWide(e: unknown): boolean {
  const code = toSluiceError(e).code;
  const sqlite = (e as { code?: unknown } | null)?.code;
  return code === "DB_LOCKED" || code === "DB_CORRUPT" || (typeof sqlite === "string" && /^SQLITE_(IOERR|FULL|READONLY|CANTOPEN|NOMEM)/.test(sqlite));
}

interface Known extends ParsedDag {
  file: string;
}

export class Scheduler {
  /** The latest good parse of each DAG. */
  private readonly known = new Map<string, Known>();
  private readonly fileDags = new Map<string, string[]>();
  private readonly watcher: DagWatcher;
  private wake: (() => void) | null = null;
  private poll: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private offFinished: (() => void) | null = null;
  /** Promotions of queued runs in flight (awaited by whenIdle). */
  private readonly promoting = new Set<Promise<void>>();

  constructor(
    private readonly engine: Engine,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly opts: SchedulerOptions,
  ) {
    this.watcher = new DagWatcher(opts.dagsDir, (c) => this.serial(() => this.apply(c.changed, c.removed)), { onError: (e) => this.report(e) });
  }

  /** Parse every DAG file, then schedule until stopped. */
  async start(): Promise<void> {
    await this.watcher.start();
    await this.serial(() => this.deactivateVanished());
    this.offFinished = this.engine.onRunFinished((runId) => {
      const p = this.promoteAfter(runId).catch(() => undefined).finally(() => this.promoting.delete(p));
      this.promoting.add(p);
    });
    this.poll = setInterval(() => this.tick(), this.opts.pollMs ?? 1000);
    this.tick();
    await this.ticking;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher.stop();
    if (this.poll) clearInterval(this.poll);
    this.wake?.();
    this.offFinished?.();
    await this.ticking;
    await this.chain;
  }

  /** DAGs parsed so far (for `dev`'s banner). */
  dags(): { dagId: string; file: string; schedule: Schedule | null; assetSchedule: AssetSchedule | null; events: string[] }[] {
    return [...this.known.values()].map((k) => ({
      dagId: k.dagId,
      file: k.file,
      schedule: k.spec.schedule,
      assetSchedule: k.spec.assetSchedule ?? null,
      events: k.spec.events ?? [],
    }));
  }

  /**
   * Resolves once no parse, tick or promotion is in flight: what tests await after moving a ManualClock
   * (its timers start the work; this waits for it to end).
   */
  async whenIdle(): Promise<void> {
    for (;;) {
      const chain = this.chain;
      await Promise.allSettled([chain, this.ticking, ...this.promoting]);
      if (chain === this.chain && this.ticking === null && this.promoting.size === 0) return;
    }
  }

  /** Rescan the folder now (tests, and callers who just wrote a file). */
  rescan(): Promise<void> {
    return this.watcher.scan();
  }

  private chain: Promise<void> = Promise.resolve();

  /** Parsing results and ticks change the same rows: one at a time. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async apply(changed: string[], removed: string[]): Promise<void> {
    // codeError: the file imports but does not bundle, so its runs import it as it is (not one code version)
    const parsed = changed.length ? await parseDagFiles(changed, { ...(this.opts.parseTimeoutMs ? { timeoutMs: this.opts.parseTimeoutMs } : {}), ...(this.opts.moduleCacheDir ? { cacheDir: this.opts.moduleCacheDir } : {}) }) : [];
    const now = this.clock.now();
    const events: { file: string; dags: string[]; error: string | null }[] = [];
    const knownBefore = [...this.known];
    const filesBefore = [...this.fileDags];
    await this.store.tx(async (tx) => {
      // a transaction may run again (PostgreSQL conflicts, a lost connection): start from the state before
      events.length = 0;
      restore(this.known, knownBefore);
      restore(this.fileDags, filesBefore);
      for (const p of parsed) {
        const rel = relative(this.watcher.dir, p.file);
        if (p.error) {
          // a broken edit keeps the last good version scheduled
          await tx.dags.setImportError(rel, p.error.line, p.error.message, now);
          events.push({ file: rel, dags: [], error: p.error.message });
          continue;
        }
        const mine: string[] = [];
        const problems: string[] = [];
        for (const d of p.dags) {
          const other = this.known.get(d.dagId);
          if (other && other.file !== p.file && this.fileDags.get(other.file)?.includes(d.dagId)) {
            problems.push(`DAG id "${d.dagId}" is already defined in ${relative(this.watcher.dir, other.file)}`);
            continue;
          }
          const runsBy = d.spec.schedule ? "scheduled" : d.spec.assetSchedule ? "scheduled on assets" : d.spec.events?.length ? "triggered by events" : null;
          if (runsBy && d.defaultParams === null) {
            problems.push(`DAG "${d.dagId}" is ${runsBy}, but ${d.paramsError}: give every param a default`);
          }
          mine.push(d.dagId);
          if (p.code) await tx.dagCode.put(p.code.hash, p.code.code, now);
          await tx.dags.saveVersion(d.dagId, d.version, d.spec, p.file, p.code === undefined ? undefined : (p.code?.hash ?? null));
          await tx.dags.upsert({ dagId: d.dagId, file: p.file, version: d.version, schedule: d.spec.schedule, defaultParams: d.defaultParams, paramsError: d.paramsError, now, pausedAtCreation: this.opts.pausedAtCreation === true });
          const row = (await tx.dags.get(d.dagId))!;
          // a DAG's own timetable is its code, loaded outside this transaction: due now, the tick computes it
          const next = d.spec.schedule?.kind === "custom" ? { start: now, end: now } : this.nextInterval(timetableOf(d.spec), d.spec, row, now);
          await tx.dags.setNextInterval(d.dagId, next, undefined);
          this.known.set(d.dagId, { ...d, file: p.file });
          await tx.assets.registerDagTriggers(triggersOf(d.dagId, d.spec), now);
        }
        const gone = (this.fileDags.get(p.file) ?? []).filter((id) => !mine.includes(id));
        await tx.dags.deactivate(gone, now);
        await tx.assets.unregisterDagTriggers(gone);
        for (const id of gone) this.known.delete(id);
        this.fileDags.set(p.file, mine);
        if (problems.length) await tx.dags.setImportError(rel, null, problems.join("; "), now);
        else await tx.dags.clearImportErrors([rel]);
        events.push({ file: rel, dags: mine, error: problems.length ? problems.join("; ") : null, ...(p.codeError ? { codeError: p.codeError } : {}) });
      }
      for (const f of removed) {
        const ids = this.fileDags.get(f) ?? [];
        await tx.dags.deactivate(ids, now);
        await tx.assets.unregisterDagTriggers(ids);
        for (const id of ids) this.known.delete(id);
        this.fileDags.delete(f);
        await tx.dags.clearImportErrors([relative(this.watcher.dir, f)]);
        events.push({ file: relative(this.watcher.dir, f), dags: [], error: null });
      }
    });
    // a file that did not import keeps the imports it had: fixing the helper that broke it parses it again
    for (const p of parsed) if (p.code) this.watcher.setImports(p.file, p.code.imports);
    for (const e of events) this.opts.onParsed?.(e);
    this.tick();
  }

  /**
   * After the first scan: a DAG of this folder that no file defines any more — its file was deleted, or
   * it was renamed, while no scheduler ran — is deactivated, as the watcher does for a file deleted while
   * it runs. A file that exists but does not import keeps its DAGs (a broken edit keeps the last good
   * version). Its runs and history stay readable.
   */
  private async deactivateVanished(): Promise<void> {
    const dir = resolve(this.watcher.dir) + sep;
    const now = this.clock.now();
    await this.store.tx(async (tx) => {
      const broken = new Set((await tx.dags.listImportErrors()).map((e) => resolve(this.watcher.dir, e.file)));
      const vanished = (await tx.dags.list({ activeOnly: true }))
        .filter((d) => d.file !== null && d.file.startsWith(dir) && !this.known.has(d.dagId) && !broken.has(d.file))
        .map((d) => d.dagId);
      await tx.dags.deactivate(vanished, now);
      await tx.assets.unregisterDagTriggers(vanished);
    });
  }

  private nextInterval(timetable: Timetable | null, spec: DagSpec, row: Pick<DagRecord, "lastIntervalEnd">, now: number): DataInterval | null {
    if (!timetable) return null;
    return timetable.nextRun({ lastEnd: row.lastIntervalEnd, startDate: spec.startDate, endDate: spec.endDate, catchup: spec.catchup, now });
  }

  /** The DAG's timetable: built in, or its own code (loaded in this process through the engine's code loader). */
  private async timetable(dagId: string, spec: DagSpec): Promise<Timetable | null> {
    if (spec.schedule?.kind !== "custom") return timetableOf(spec);
    await this.engine.ensureDag(dagId);
    return timetableOf(spec, this.engine.getDag(dagId).dag.timetable);
  }

  /** Create due runs; then sleep until the next due time. Re-entrant calls coalesce. */
  tick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = this.serial(async () => {
      // the loop's latency, timed once it has its turn (not while a parse held the chain)
      const t0 = performance.now();
      do {
        this.again = false;
        await this.createDueRuns();
        // runs of asset-scheduled DAGs: also for asset events other processes recorded
        await this.engine.triggers.tick();
      } while (this.again && !this.stopped);
      await this.arm();
      metrics.schedulerLoop.observe((performance.now() - t0) / 1000);
    })
      .catch((e: unknown) => this.report(e)) // the safety poll ticks again
      .finally(() => {
        this.ticking = null;
      });
  }

  private report(e: unknown): void {
    if (this.opts.onError) this.opts.onError(e);
    else processLog("stderr").error(`scheduler: ${e instanceof Error ? e.message : String(e)} (retrying)`, { event: "scheduler error", error: e instanceof Error ? e.message : String(e) });
  }

  /**
   * Create the runs that are due, a page of due DAGs at a time, each page's runs in one transaction
   * (group commit: bench schedule-1000 creates 1,000 runs in about half the time of one commit each). A
   * DAG whose run cannot be created is reported and stays due (the next tick retries it) without holding
   * back the others; a store-wide failure (database locked, disk full) ends the tick at once.
   */
  private async createDueRuns(): Promise<void> {
    const failed = new Set<string>();
    let firstError: unknown = null;
    for (let pass = 0; ; pass++) {
      // SQLite calls are synchronous: without a pause a burst of 1,000 due runs held this process's event
      // loop for a second or more (no heartbeat, no HTTP request, no other timer in between).
      if (pass > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const now = this.clock.now();
      const due = (await this.store.dags.due(now, DUE_PAGE + failed.size)).filter((d) => !failed.has(d.dagId));
      if (due.length === 0) break;
      const batch: Parameters<Engine["createScheduledRuns"]>[0][number][] = [];
      for (const d of due) {
        const k = this.known.get(d.dagId) ?? (await this.storedSpec(d));
        if (!k?.spec.schedule || d.defaultParams === null) {
          await this.store.dags.setNextInterval(d.dagId, null, undefined);
          continue;
        }
        let timetable: Timetable | null;
        let interval: DataInterval | null;
        try {
          timetable = await this.timetable(d.dagId, k.spec);
          // Recomputed now, not taken from the row: after downtime, catchup=false skips to the latest interval.
          interval = this.nextInterval(timetable, k.spec, d, now);
        } catch (e) {
          // a DAG's own timetable that cannot load or answers wrong: that DAG stays due, the others go on
          if (storeWide(e)) throw e;
          failed.add(d.dagId);
          firstError ??= e;
          continue;
        }
        if (!interval || interval.end > now) {
          await this.store.dags.setNextInterval(d.dagId, interval, undefined);
          continue;
        }
        batch.push({
          dag: { dagId: d.dagId, version: k.version, spec: k.spec, file: k.file },
          params: d.defaultParams,
          interval,
          then: async (tx) => {
            const next = this.nextInterval(timetable, k.spec, { lastIntervalEnd: interval.end }, now);
            await tx.dags.setNextInterval(d.dagId, next, interval.end);
          },
        });
      }
      if (batch.length === 0) continue;
      try {
        await this.engine.createScheduledRuns(batch);
      } catch (e) {
        if (storeWide(e)) throw e;
        // one DAG's problem must not hold back the others: one transaction each, to find it
        for (const one of batch) {
          try {
            await this.engine.createScheduledRuns([one]);
          } catch (e1) {
            if (storeWide(e1)) throw e1;
            failed.add(one.dag.dagId);
            firstError ??= e1;
          }
        }
      }
    }
    if (firstError !== null) throw firstError; // reported by tick(); the safety poll retries
  }

  /** A DAG another scheduler parsed: its latest version's spec from the store. */
  private async storedSpec(d: DagRecord): Promise<Known | null> {
    const v = await this.store.dags.getVersion(d.dagId, d.version);
    return v ? { dagId: d.dagId, version: d.version, spec: v.spec, defaultParams: d.defaultParams, paramsError: d.paramsError, file: v.file ?? d.file ?? "" } : null;
  }

  private async arm(): Promise<void> {
    this.wake?.();
    this.wake = null;
    if (this.stopped) return;
    const at = await this.store.dags.nextDueAt();
    if (at === null) return;
    this.wake = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.wake = null;
      this.tick();
    });
  }

  private async promoteAfter(runId: string): Promise<void> {
    const run = await this.store.runs.get(runId).catch(() => null);
    if (!run) return;
    const k = this.known.get(run.dagId);
    await this.engine.promoteQueuedRuns(run.dagId, k?.spec.maxActiveRuns ?? 16).catch(() => undefined);
  }
}

function restore<K, V>(map: Map<K, V>, entries: readonly (readonly [K, V])[]): void {
  map.clear();
  for (const [k, v] of entries) map.set(k, v);
}
