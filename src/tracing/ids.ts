/**
 * Trace ids derived from run ids. A run is created in one process and its tasks run in others (workers on
 * other hosts), which share nothing but the store: each derives the run's trace id and the run span's id
 * from the run id, so every process's spans of a run land in one trace under one root, and whichever
 * process finishes the run emits that root with the same ids.
 */
import { createHash } from "node:crypto";
import { isSpanContextValid, TraceFlags, type Span, type SpanContext } from "@opentelemetry/api";

/** The trace of run `runId` (bytes 0–15 of sha256(runId)) and its run span (bytes 16–23), as hex. */
export function runTraceIds(runId: string): { traceId: string; spanId: string } {
  const hex = createHash("sha256").update(runId).digest("hex");
  return { traceId: hex.slice(0, 32), spanId: hex.slice(32, 48) };
}

/** The run span as a remote parent: what attempt spans in any process hang under. */
export function runSpanContext(runId: string): SpanContext {
  return { ...runTraceIds(runId), traceFlags: TraceFlags.SAMPLED, isRemote: true };
}

/** The W3C `traceparent` header of a span (what TRACEPARENT carries to task processes). */
export function traceparentOf(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags & TraceFlags.SAMPLED ? "01" : "00"}`;
}

/** The `traceparent` of a span, or null for one that is not traced (the no-op span of tracing off). */
export function traceparentOfSpan(span: Span): string | null {
  const sc = span.spanContext();
  return isSpanContextValid(sc) ? traceparentOf(sc) : null;
}

/** A `traceparent` back into a span context; null for anything malformed (or the all-zero ids). */
export function parseTraceparent(text: string | null | undefined): SpanContext | null {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(text?.trim() ?? "");
  if (!m || m[1] === "ff" || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return null;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & TraceFlags.SAMPLED, isRemote: true };
}
