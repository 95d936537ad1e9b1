/**
 * The spans Sluice records: one per run (`run <dag>`, the trace's root, emitted when the run finishes by
 * whichever process finishes it), one per task attempt (`task <task>`, under the run's), and `withSpan`
 * for anything else worth a span (callbacks, notifications). Attribute names are `sluice.*`.
 */
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from "@opentelemetry/api";
import { NOOP_SPAN } from "./context.js";
import { runSpanContext, runTraceIds } from "./ids.js";
import { activeTracing } from "./tracing.js";

/** What an attempt span is made of (a claimed attempt has all of it). */
export interface AttemptSpanInfo {
  runId: string;
  dagId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
  attemptId: number;
  /** When the task instance became ready and when this attempt claimed it (store time, ms); null: unknown. */
  readyAt: number | null;
  claimedAt: number | null;
}

/**
 * Start the span of one attempt, under its run's span (ids.ts), with the time it waited in the ready
 * queue as `sluice.queue_wait_ms`. Call only when tracing is on (the caller checked `isTracingEnabled`).
 */
export function startAttemptSpan(a: AttemptSpanInfo): Span {
  const t = activeTracing();
  if (!t) return NOOP_SPAN;
  const attributes: Attributes = {
    "sluice.run_id": a.runId,
    "sluice.dag_id": a.dagId,
    "sluice.task_id": a.taskId,
    "sluice.map_index": a.mapIndex,
    "sluice.attempt": a.tryNumber,
    "sluice.attempt_id": a.attemptId,
  };
  if (a.readyAt !== null && a.claimedAt !== null) attributes["sluice.queue_wait_ms"] = Math.max(0, a.claimedAt - a.readyAt);
  return t.tracer.startSpan(`task ${a.taskId}`, { kind: SpanKind.INTERNAL, attributes }, trace.setSpanContext(ROOT_CONTEXT, runSpanContext(a.runId)));
}

/** End an attempt's span with its outcome: `sluice.state`, and an error status for a failed attempt. */
export function endAttemptSpan(span: Span, end: { state: string; errorCode?: string | null; errorMessage?: string | null }): void {
  span.setAttribute("sluice.state", end.state);
  if (end.state === "failed") {
    if (end.errorCode) span.setAttribute("sluice.error_code", end.errorCode);
    span.setStatus({ code: SpanStatusCode.ERROR, message: end.errorMessage ?? end.errorCode ?? "failed" });
  }
  span.end();
}

/** What a run span is made of (a RunRecord has all of it). */
export interface RunSpanInfo {
  runId: string;
  dagId: string;
  state: string;
  stateReason: string | null;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
}

/**
 * Emit the root span of a finished run, with the ids every process derives from its run id. `load` reads
 * the run (its start time is the store's, from whichever process started it); a flush waits for it.
 */
export function emitRunSpan(load: () => Promise<RunSpanInfo | null>): void {
  const t = activeTracing();
  if (!t) return;
  const work = load().then((run) => {
    if (!run) return;
    const ids = runTraceIds(run.runId);
    let span: Span;
    t.ids.next = ids;
    try {
      span = t.tracer.startSpan(
        `run ${run.dagId}`,
        { root: true, kind: SpanKind.INTERNAL, startTime: run.startedAt ?? run.createdAt, attributes: { "sluice.run_id": run.runId, "sluice.dag_id": run.dagId, "sluice.state": run.state } },
        ROOT_CONTEXT,
      );
    } finally {
      t.ids.next = null;
    }
    if (run.state !== "success") span.setStatus({ code: SpanStatusCode.ERROR, message: run.stateReason ?? run.state });
    span.end(run.endedAt ?? Date.now());
    // the run's trace is whole in the collector (as far as this process goes) when the run ends, not a
    // batch delay later; export failures are the SDK's to report
    void t.provider.forceFlush().catch(() => undefined);
  });
  t.pending.add(work);
  void work.catch(() => undefined).finally(() => t.pending.delete(work));
}

/**
 * A span around `fn` (callbacks, notifications): ended when `fn` settles, with an error status and the
 * exception recorded if it throws. With a `sluice.run_id` attribute and no active span it hangs under
 * that run's span. Tracing off: `fn` runs with a span that records nothing.
 *
 * @example
 * await withSpan("callback on_failure", { "sluice.run_id": runId, "sluice.dag_id": dagId }, () => notify(run));
 */
export async function withSpan<T>(name: string, attrs: Attributes, fn: (span: Span) => Promise<T> | T): Promise<T> {
  const t = activeTracing();
  if (!t) return fn(NOOP_SPAN);
  const runId = attrs["sluice.run_id"];
  const parent = typeof runId === "string" && !trace.getSpan(context.active()) ? trace.setSpanContext(context.active(), runSpanContext(runId)) : context.active();
  return t.tracer.startActiveSpan(name, { attributes: attrs }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (e) {
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
      throw e;
    } finally {
      span.end();
    }
  });
}
