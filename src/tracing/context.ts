/**
 * The span a task sees and runs under, with the OpenTelemetry API only (no SDK): what process-isolated
 * children need too, which receive their attempt's span as a `traceparent`.
 */
import { context, INVALID_SPAN_CONTEXT, trace, type Span } from "@opentelemetry/api";
import { parseTraceparent } from "./ids.js";

/** What tasks see as `ctx.span` when tracing is off: one shared span that records nothing. */
export const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * The span a `traceparent` names (another process's: it records nothing here, it carries the ids for
 * spans to hang under), or NOOP_SPAN for none.
 */
export function spanOfTraceparent(text: string | null | undefined): Span {
  const sc = parseTraceparent(text);
  return sc ? trace.wrapSpanContext(sc) : NOOP_SPAN;
}

/** Run `fn` with `span` as the active span: a task's own spans (`tracer.startActiveSpan`) nest under it. */
export function withActiveSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}
