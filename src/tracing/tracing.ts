/**
 * This process's OpenTelemetry tracer: off unless config.ts found the standard OTEL_* variables asking for
 * it (docs/operations.md, Tracing). Off, nothing of the SDK is constructed and the hot path checks one
 * boolean (`isTracingEnabled`); on, spans go through a batch processor (OTEL_BSP_* settings) to OTLP/HTTP
 * as JSON, and are flushed when the process's Sluice closes and when the program ends. The SDK is
 * imported when tracing starts, not before: every command (and every process-isolated task) would
 * otherwise load it for nothing.
 */
import { context, propagation, trace, type Tracer } from "@opentelemetry/api";
import type { IdGenerator, NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import type { TracingConfig } from "../config.js";

/**
 * Random ids, except for the one span whose ids are derived (a run's root span, ids.ts): the SDK asks its
 * generator for a root span's trace and span ids synchronously inside `startSpan`, so setting `next` just
 * before and clearing it just after gives that span exactly those ids.
 */
class DerivableIds implements IdGenerator {
  constructor(private readonly random: IdGenerator) {}
  next: { traceId: string; spanId: string } | null = null;
  generateTraceId(): string {
    return this.next?.traceId ?? this.random.generateTraceId();
  }
  generateSpanId(): string {
    return this.next?.spanId ?? this.random.generateSpanId();
  }
}

interface Active {
  provider: NodeTracerProvider;
  tracer: Tracer;
  ids: DerivableIds;
  /** Spans being built from store reads (a run's end): a flush waits for them. */
  pending: Set<Promise<unknown>>;
}

let active: Active | null = null;

/** Whether this process traces: the one check on the hot path. */
export function isTracingEnabled(): boolean {
  return active !== null;
}

/** @internal The tracer and id generator while tracing is on (spans.ts). */
export function activeTracing(): Active | null {
  return active;
}

/**
 * Turn tracing on for this process (idempotent: the first configuration wins, as one process has one
 * global tracer provider). null: nothing happens.
 */
export async function startTracing(config: TracingConfig | null): Promise<void> {
  if (!config || active) return;
  const [{ OTLPTraceExporter }, { resourceFromAttributes }, { BatchSpanProcessor, ConsoleSpanExporter, NodeTracerProvider, RandomIdGenerator }, { ATTR_SERVICE_NAME }] = await Promise.all([
    import("@opentelemetry/exporter-trace-otlp-http"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/semantic-conventions"),
  ]);
  if (active) return; // started meanwhile
  const ids = new DerivableIds(new RandomIdGenerator());
  const exporter = config.exporter === "console" ? new ConsoleSpanExporter() : new OTLPTraceExporter({ url: config.url });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.serviceName }),
    idGenerator: ids,
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  // the global provider, the AsyncLocalStorage context manager (so a task's own spans nest under its
  // attempt's) and the W3C propagator
  provider.register();
  active = { provider, tracer: provider.getTracer("sluice"), ids, pending: new Set() };
}

/** Export what has been recorded so far (spans still being built included); never throws. */
export async function flushTracing(): Promise<void> {
  const a = active;
  if (!a) return;
  await Promise.allSettled([...a.pending]);
  await a.provider.forceFlush().catch(() => undefined);
}

/** Flush and turn tracing off (the program's end; benchmarks and tests that compare on and off). */
export async function stopTracing(): Promise<void> {
  const a = active;
  if (!a) return;
  await flushTracing();
  active = null;
  await a.provider.shutdown().catch(() => undefined);
  trace.disable();
  context.disable();
  propagation.disable();
}
