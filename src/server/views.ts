/**
 * The JSON shapes of the REST API (docs/api.md), built from store records. Nothing secret is in a store
 * record these take, and every field is named here, so a new column never leaks by accident.
 */
import type { DagSpec } from "../core/dagSpec.js";
import { describeAssetSchedule } from "../core/assets.js";
import { describeSchedule, type Schedule } from "../core/schedules.js";
import { scheduleTimezone } from "../core/timetables.js";
import type { TaskState } from "../core/states.js";
import type { DagRecord } from "../store/dags.js";
import type { AttemptRecord, CallbackRecord, DeadlineMissRecord, RunRecord, Store, TaskInstanceRecord } from "../store/store.js";
import type { BackfillRecord } from "../store/backfills.js";
import { redactSecretParams } from "../secrets/params.js";

/** DAG versions are immutable: their parsed specs are cached (bounded; a 10,000-task spec is megabytes). */
export class SpecCache {
  private readonly specs = new Map<string, Promise<DagSpec | null>>();
  constructor(
    private readonly store: Store,
    private readonly max = 64,
  ) {}

  get(dagId: string, version: string): Promise<DagSpec | null> {
    const key = `${dagId}@${version}`;
    let p = this.specs.get(key);
    if (p) {
      this.specs.delete(key); // re-insert: most recently used last
    } else {
      p = this.store.dags.getVersion(dagId, version).then((v) => v?.spec ?? null);
      p.catch(() => this.specs.delete(key));
    }
    this.specs.set(key, p);
    if (this.specs.size > this.max) this.specs.delete(this.specs.keys().next().value!);
    return p;
  }
}

export function scheduleText(spec: DagSpec | null, row: DagRecord): string | null {
  const s = (spec?.schedule ?? row.schedule) as Schedule | null;
  if (s) return describeSchedule(s);
  if (spec?.assetSchedule) return `assets ${describeAssetSchedule(spec.assetSchedule)}`;
  if (spec?.events?.length) return `events ${spec.events.join(", ")}`;
  return null;
}

export function timezoneOf(spec: DagSpec | null, row: DagRecord): string | null {
  const s = (spec?.schedule ?? row.schedule) as Schedule | null;
  return s ? scheduleTimezone(s) : null;
}

export function dagSummary(
  row: DagRecord,
  spec: DagSpec | null,
  lastRuns: { runId: string; state: string; logicalDate: number }[],
  hasImportError: boolean,
): Record<string, unknown> {
  return {
    dagId: row.dagId,
    description: spec?.description ?? null,
    owner: spec?.owner ?? null,
    tags: spec?.tags ?? [],
    schedule: scheduleText(spec, row),
    timezone: timezoneOf(spec, row),
    paused: row.isPaused,
    active: row.isActive,
    nextRunAt: row.nextIntervalEnd,
    version: row.version,
    file: row.file,
    lastRuns,
    hasImportError,
  };
}

export function dagDetail(base: Record<string, unknown>, row: DagRecord, spec: DagSpec | null): Record<string, unknown> {
  return {
    ...base,
    docs: spec?.doc ?? null,
    params: spec?.paramsJsonSchema ?? null,
    // secret params have no default in a JSON Schema (core/dagSpec.ts); other schema libraries' may: ***
    defaults: row.defaultParams === null ? null : redactSecretParams(row.defaultParams, spec?.secretParams ?? []),
    secretParams: spec?.secretParams ?? [],
    paramsError: row.paramsError,
    maxActiveRuns: spec?.maxActiveRuns ?? null,
    catchup: spec?.catchup ?? null,
    startDate: spec?.startDate ?? null,
    endDate: spec?.endDate ?? null,
    assetSchedule: spec?.assetSchedule ?? null,
    events: spec?.events ?? [],
  };
}

export function structure(version: string, spec: DagSpec): Record<string, unknown> {
  return {
    version,
    tasks: spec.tasks.map((t) => ({
      id: t.id,
      kind: t.kind,
      // in-process or child process: what the graph shows as the task's type
      isolation: t.isolation,
      group: t.group === "" ? null : t.group,
      upstream: t.upstream,
      downstream: t.downstream,
      mapped: t.map !== null,
      triggerRule: t.triggerRule,
      maxTries: t.retry.retries + 1,
      ...(t.description ? { docs: t.description } : {}),
      // setup and teardown tasks (core/setupTeardown.ts): flags for the graph to draw, absent otherwise
      ...(t.setup ? { setup: true } : {}),
      ...(t.teardown ? { teardown: true } : {}),
      ...(t.onFailureFailDagRun ? { onFailureFailDagRun: true } : {}),
    })),
    // group ids are dotted paths ("outer.inner"): the parent is the path without its last part
    groups: spec.groups.map((g) => ({ id: g.id, parent: g.id.includes(".") ? g.id.slice(0, g.id.lastIndexOf(".")) : null, description: g.description })),
  };
}

export function runView(r: RunRecord): Record<string, unknown> {
  return {
    runId: r.runId,
    dagId: r.dagId,
    dagVersion: r.dagVersion,
    state: r.state,
    stateReason: r.stateReason,
    runType: r.runType,
    logicalDate: r.logicalDate,
    dataIntervalStart: r.dataIntervalStart,
    dataIntervalEnd: r.dataIntervalEnd,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    endedAt: r.endedAt,
    params: redactSecretParams(r.params),
    backfillId: r.backfillId,
    // a row the code cannot interpret is shown as broken (what is wrong), not dropped or answered with a 500
    corrupt: r.corrupt,
    triggeredBy: r.triggeredBy,
    // the next deadline the checker looks at (its own or a task's); null: none left
    deadlineAt: r.deadlineAt,
  };
}

/** A deadline a run (taskId null) or a task missed. */
export function deadlineMissView(m: DeadlineMissRecord): Record<string, unknown> {
  return { taskId: m.taskId || null, mapIndex: m.mapIndex, deadlineAt: m.deadlineAt, missedAt: m.missedAt };
}

/** A callback or notifier that fell due, and how its tries went (lastError: masked when it was logged). */
export function callbackView(c: CallbackRecord): Record<string, unknown> {
  return { name: c.name, event: c.event, taskId: c.taskId || null, mapIndex: c.mapIndex, tryNumber: c.tryNumber, state: c.state, tries: c.tries, lastError: c.lastError, createdAt: c.createdAt, endedAt: c.endedAt };
}

export function taskInstanceView(t: TaskInstanceRecord): Record<string, unknown> {
  return {
    taskId: t.taskId,
    mapIndex: t.mapIndex,
    state: t.state,
    tryNumber: t.tryNumber,
    tryBase: t.tryBase,
    startedAt: t.startedAt,
    endedAt: t.endedAt,
    durationMs: t.startedAt !== null && t.endedAt !== null ? t.endedAt - t.startedAt : null,
    lastAttemptId: t.attemptId,
    changedBy: t.changedBy,
  };
}

export function attemptView(a: AttemptRecord): Record<string, unknown> {
  return {
    attemptId: a.attemptId,
    tryNumber: a.tryNumber,
    state: a.state,
    workerId: a.workerId,
    hostname: a.hostname,
    startedAt: a.startedAt,
    endedAt: a.endedAt,
    errorCode: a.errorCode,
    errorMessage: a.errorMessage,
    errorStack: a.errorStack,
    exitCode: a.exitCode,
    outputSize: a.outputSize,
    // a cache hit: the attempt whose output it reused (it ran nothing); null: it ran
    cachedFrom: a.cachedFrom,
  };
}

export function backfillView(b: BackfillRecord, counts?: { planned: number; pending: number; active: number; succeeded: number; failed: number; skipped: number }): Record<string, unknown> {
  return {
    id: b.backfillId,
    dagId: b.dagId,
    from: b.from,
    to: b.to,
    reprocess: b.reprocess,
    maxActive: b.maxActive,
    state: b.state,
    stateReason: b.stateReason,
    createdAt: b.createdAt,
    endedAt: b.endedAt,
    ...(counts
      ? {
          progress: {
            total: counts.planned,
            done: counts.succeeded + counts.failed,
            succeeded: counts.succeeded,
            failed: counts.failed,
            running: counts.active,
            pending: counts.pending,
            skipped: counts.skipped,
          },
        }
      : {}),
  };
}

/**
 * Grid letters, one per task (docs/api.md). A mapped task shows its worst map index: GRID_RANK lists
 * states from worst to best.
 */
export const GRID_LETTERS: Readonly<Record<TaskState, string>> = {
  none: "n",
  scheduled: "q",
  running: "r",
  success: "s",
  failed: "f",
  skipped: "k",
  upstream_failed: "u",
  up_for_retry: "y",
  up_for_reschedule: "w",
  removed: "x",
};
/** The letter of a task that is not in the run (its DAG version had no such task). */
export const GRID_ABSENT = ".";
export const GRID_RANK: readonly TaskState[] = ["failed", "upstream_failed", "up_for_retry", "running", "up_for_reschedule", "scheduled", "none", "skipped", "removed", "success"];
