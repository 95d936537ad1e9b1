/**
 * The timeline's data: one row per task instance that has started, with every attempt as a segment —
 * the time it waited (queued) and the time it ran. Pure, so that it is computed once per poll.
 *
 * The store does not record when an attempt was queued, so the wait is derived from what it does record
 * (decision 0027): a first attempt waited from the end of its last upstream instance (or the run's start
 * when it has none); a later attempt waited from the end of the attempt before it (the retry delay and
 * the queue together).
 */
import type { RunAttempt, TaskInstance } from "../api";

export interface Segment {
  attemptId: string | number;
  tryNumber: number;
  state: string;
  queuedAt: number;
  startedAt: number;
  /** null: still running. */
  endedAt: number | null;
  workerId: string | null;
  hostname: string | null;
  error: string | null;
}

export interface TimelineRow {
  taskId: string;
  mapIndex: number;
  label: string;
  state: string;
  segments: Segment[];
}

export function timelineRows(
  instances: TaskInstance[],
  attempts: RunAttempt[],
  upstreamOf: (taskId: string) => readonly string[],
  runStart: number | null,
): TimelineRow[] {
  const key = (taskId: string, mapIndex: number) => `${taskId}\0${mapIndex}`;
  const byInstance = new Map<string, RunAttempt[]>();
  for (const a of attempts) {
    if (a.startedAt === null) continue;
    const k = key(a.taskId, a.mapIndex);
    let l = byInstance.get(k);
    if (!l) byInstance.set(k, (l = []));
    l.push(a);
  }
  // when each task's last instance ended (a mapped task: its last map index), for its downstream's wait
  const taskEnd = new Map<string, number>();
  for (const t of instances) if (t.endedAt !== null) taskEnd.set(t.taskId, Math.max(taskEnd.get(t.taskId) ?? 0, t.endedAt));

  const rows: TimelineRow[] = [];
  for (const t of instances) {
    const list = (byInstance.get(key(t.taskId, t.mapIndex)) ?? []).sort((a, b) => a.startedAt! - b.startedAt! || Number(a.attemptId) - Number(b.attemptId));
    if (list.length === 0) {
      // an instance whose attempts are not loaded yet (or were pruned) still shows its last run
      if (t.startedAt === null) continue;
      list.push({ attemptId: Number(t.lastAttemptId ?? -1), taskId: t.taskId, mapIndex: t.mapIndex, tryNumber: t.tryNumber, state: t.state, workerId: "", hostname: "", startedAt: t.startedAt, endedAt: t.endedAt, errorCode: null, errorMessage: null, errorStack: null, exitCode: null, outputSize: null, cachedFrom: null });
    }
    const upstreamEnd = Math.max(runStart ?? 0, ...upstreamOf(t.taskId).map((u) => taskEnd.get(u) ?? 0));
    const segments: Segment[] = [];
    let prevEnd: number | null = null;
    for (const a of list) {
      const started = a.startedAt!;
      const from = prevEnd ?? (upstreamEnd > 0 ? upstreamEnd : started);
      segments.push({
        attemptId: a.attemptId,
        tryNumber: a.tryNumber,
        state: a.state === "interrupted" ? "failed" : a.state,
        queuedAt: Math.min(from, started),
        startedAt: started,
        endedAt: a.endedAt,
        workerId: a.workerId,
        hostname: a.hostname,
        error: a.errorMessage,
      });
      prevEnd = a.endedAt ?? started;
    }
    rows.push({ taskId: t.taskId, mapIndex: t.mapIndex, label: t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId, state: t.state, segments });
  }
  return rows.sort((a, b) => a.segments[0]!.startedAt - b.segments[0]!.startedAt || (a.label < b.label ? -1 : 1));
}

/** Round tick steps (ms) for a time axis. */
const STEPS = [10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3];

/** Ticks at a round step, about `count` of them across [t0, t1], as offsets from t0. */
export function timeTicks(t0: number, t1: number, count: number): number[] {
  const span = Math.max(1, t1 - t0);
  const step = STEPS.find((s) => span / s <= count) ?? Math.ceil(span / count / 86400e3) * 86400e3;
  const out: number[] = [];
  for (let t = 0; t <= span; t += step) out.push(t);
  return out;
}
