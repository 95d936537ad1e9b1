/**
 * Run timeouts (a DAG's `runTimeout`): one timer per active run this process created, cleared, promoted
 * or took over. The deadline itself is the run's `timeoutAt` in the store, so another process that takes
 * the run over arms the same deadline.
 */
import type { Clock } from "../core/clock.js";
import { formatDuration } from "../core/duration.js";
import { FINISHED_RUN_STATES } from "../core/states.js";
import type { RunRecord } from "../store/store.js";

export class RunTimeouts {
  private readonly timers = new Map<string, () => void>();

  /** `expire` ends the run (Engine: cancel it with code TIMEOUT). */
  constructor(
    private readonly clock: Clock,
    private readonly expire: (runId: string, reason: string) => void,
  ) {}

  /** Arm the timeout of an active run; a no-op for a finished run, one without a limit, or one armed. */
  watch(run: RunRecord): void {
    if (run.timeoutAt === null || FINISHED_RUN_STATES.has(run.state) || this.timers.has(run.runId)) return;
    const limit = run.timeoutAt - run.startedAt!;
    const cancel = this.clock.setTimer(run.timeoutAt - this.clock.now(), () => {
      this.timers.delete(run.runId);
      this.expire(run.runId, `run timed out after ${formatDuration(limit)}`);
    });
    this.timers.set(run.runId, cancel);
  }

  /** The run has finished: its timer goes. */
  disarm(runId: string): void {
    this.timers.get(runId)?.();
    this.timers.delete(runId);
  }

  close(): void {
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }
}
