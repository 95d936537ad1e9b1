/**
 * Live progress: a line per task attempt starting and ending in this process — on stderr as text, or a
 * JSON record with the attempt's fields (logs/processLog.ts).
 */
import { formatDuration } from "../core/duration.js";
import type { AttemptEvent } from "../engine/engine.js";
import { processLog } from "../logs/processLog.js";
import type { Sluice } from "../sluice.js";

/** `withDag`: prefix task names with their DAG id (when several DAGs run at once). */
export function progress(s: Sluice, opts: { withDag?: boolean } = {}): { line(t: string): void; stop(): void } {
  const log = processLog("stderr");
  const line = (t: string) => log.info(t);
  const started = new Map<number, number>();
  const off = s.engine.onAttempt((e: AttemptEvent) => {
    const a = e.attempt;
    const task = a.mapIndex >= 0 ? `${a.taskId}[${a.mapIndex}]` : a.taskId;
    const name = opts.withDag ? `${a.dagId}.${task}` : task;
    const fields = { runId: a.runId, dagId: a.dagId, taskId: a.taskId, mapIndex: a.mapIndex, attempt: a.tryNumber, attemptId: a.attemptId };
    if (e.kind === "started") {
      started.set(a.attemptId, s.engine.clock.now());
      if (a.pokes === 0) log.info(`  ▶ ${name}${a.tryNumber > 1 ? ` (attempt ${a.tryNumber})` : ""}`, { event: "task started", ...fields }); // a sensor's later pokes are quiet
      return;
    }
    const ms = e.result.endedAt - (started.get(a.attemptId) ?? e.result.endedAt);
    started.delete(a.attemptId);
    if (e.result.state === "up_for_reschedule") {
      if (a.pokes === 0) log.info(`  … ${name}: waiting (sensor; it holds no slot between pokes)`, { event: "task waiting", ...fields });
      return;
    }
    if (e.result.state === "success") log.info(`  ✓ ${name} ${formatDuration(ms)}`, { event: "task succeeded", ...fields, durationMs: ms });
    // the task skipped itself (SkipTask, skipOnExitCode): not a failure, with its reason
    else if (e.result.state === "skipped") log.info(`  ↷ ${name}: skipped: ${e.result.errorMessage ?? ""}`, { event: "task skipped", ...fields, durationMs: ms, reason: e.result.errorMessage ?? null });
    else log.warn(`  ✗ ${name}: ${e.result.errorMessage ?? "failed"}`, { event: `task ${e.result.state}`, ...fields, durationMs: ms, errorCode: e.result.errorCode ?? null, error: e.result.errorMessage ?? null });
  });
  return { line, stop: off };
}
