/**
 * Run timeouts (a DAG's `runTimeout`): one timer per active run this process created, cleared, promoted
 * or took over. The deadline itself is the run's `timeoutAt` in the store: the recovery sweep of every
 * scheduler and worker (Engine.expireRunTimeouts) ends runs past it and arms the next one, so a run
 * created by `sluice trigger`, or whose scheduler died, still times out.
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
    if (run.timeoutAt === null || FINISHED_RUN_STATES.has(run.state)) return;
    this.watchDeadline(run.runId, run.timeoutAt, run.startedAt);
  }

  /** Arm a deadline the store's sweep found (Engine.expireRunTimeouts): the next one to come, exactly on time. */
  watchDeadline(runId: string, timeoutAt: number, startedAt: number | null): void {
    if (this.timers.has(runId)) return;
    const cancel = this.clock.setTimer(timeoutAt - this.clock.now(), () => {
      this.timers.delete(runId);
      this.expire(runId, timedOutReason(timeoutAt, startedAt));
    });
    this.timers.set(runId, cancel);
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

export function timedOutReason(timeoutAt: number, startedAt: number | null): string {
  return startedAt === null ? "run timed out" : `run timed out after ${formatDuration(timeoutAt - startedAt)}`;
}
