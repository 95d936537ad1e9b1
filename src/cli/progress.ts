/** Live progress on stderr: a line per task attempt starting and ending in this process. */
import { formatDuration } from "../core/duration.js";
import type { AttemptEvent } from "../engine/engine.js";
import type { Sluice } from "../sluice.js";

/** `withDag`: prefix task names with their DAG id (when several DAGs run at once). */
export function progress(s: Sluice, opts: { withDag?: boolean } = {}): { line(t: string): void; stop(): void } {
  const line = (t: string) => process.stderr.write(`${t}\n`);
  const started = new Map<number, number>();
  const off = s.engine.onAttempt((e: AttemptEvent) => {
    const a = e.attempt;
    const task = a.mapIndex >= 0 ? `${a.taskId}[${a.mapIndex}]` : a.taskId;
    const name = opts.withDag ? `${a.dagId}.${task}` : task;
    if (e.kind === "started") {
      started.set(a.attemptId, s.engine.clock.now());
      if (a.pokes === 0) line(`  ▶ ${name}${a.tryNumber > 1 ? ` (attempt ${a.tryNumber})` : ""}`); // a sensor's later pokes are quiet
      return;
    }
    const took = formatDuration(e.result.endedAt - (started.get(a.attemptId) ?? e.result.endedAt));
    started.delete(a.attemptId);
    if (e.result.state === "up_for_reschedule") {
      if (a.pokes === 0) line(`  … ${name}: waiting (sensor; it holds no slot between pokes)`);
      return;
    }
    line(e.result.state === "success" ? `  ✓ ${name} ${took}` : `  ✗ ${name}: ${e.result.errorMessage ?? "failed"}`);
  });
  return { line, stop: off };
}
