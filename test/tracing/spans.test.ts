/**
 * Tracing's pieces: which OTEL_* settings turn it on (config.ts tracingConfig), the ids derived from a run
 * id and the traceparent text, and withSpan (for callbacks and notifications) on and off — its spans
 * exported to a real OTLP/HTTP receiver.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, test } from "node:test";
import { tracingConfig } from "../../src/config.js";
import { isSluiceError } from "../../src/errors.js";
import { NOOP_SPAN } from "../../src/tracing/context.js";
import { parseTraceparent, runTraceIds, traceparentOf } from "../../src/tracing/ids.js";
import { withSpan } from "../../src/tracing/spans.js";
import { isTracingEnabled, startTracing, stopTracing } from "../../src/tracing/tracing.js";
import { otlpReceiver } from "./otlp.js";

test("tracing is off unless the OTEL_* variables ask for it", () => {
  const url = (env: NodeJS.ProcessEnv) => tracingConfig(env)?.url ?? null;
  const table: [NodeJS.ProcessEnv, string | null][] = [
    [{}, null],
    [{ OTEL_SERVICE_NAME: "x" }, null],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" }, "http://c:4318/v1/traces"],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/" }, "http://c:4318/v1/traces"],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/custom" }, "http://c:4318/custom"],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b/t" }, "http://b/t"],
    [{ OTEL_TRACES_EXPORTER: "otlp" }, "http://localhost:4318/v1/traces"],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }, null],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }, null],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "false" }, "http://c:4318/v1/traces"],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }, "http://c:4318/v1/traces"],
  ];
  for (const [env, want] of table) assert.equal(url(env), want, JSON.stringify(env));
  assert.equal(tracingConfig({ OTEL_TRACES_EXPORTER: "console" })?.exporter, "console");
  assert.equal(tracingConfig({ OTEL_TRACES_EXPORTER: "otlp" })?.serviceName, "sluice");
  assert.equal(tracingConfig({ OTEL_TRACES_EXPORTER: "otlp", OTEL_SERVICE_NAME: "etl" })?.serviceName, "etl");
  for (const bad of [{ OTEL_TRACES_EXPORTER: "zipkin" }, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://c", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, { OTEL_EXPORTER_OTLP_ENDPOINT: "not a url" }]) {
    assert.throws(() => tracingConfig(bad), (e) => isSluiceError(e) && e.code === "CONFIG", JSON.stringify(bad));
  }
});

test("a run's trace id and run span id come from sha256 of its run id; traceparent round-trips", () => {
  const hex = createHash("sha256").update("run-1").digest("hex");
  assert.deepEqual(runTraceIds("run-1"), { traceId: hex.slice(0, 32), spanId: hex.slice(32, 48) });
  assert.notDeepEqual(runTraceIds("run-2"), runTraceIds("run-1"));
  const sc = { traceId: hex.slice(0, 32), spanId: hex.slice(32, 48), traceFlags: 1, isRemote: true };
  assert.equal(traceparentOf(sc), `00-${sc.traceId}-${sc.spanId}-01`);
  assert.deepEqual(parseTraceparent(traceparentOf(sc)), sc);
  for (const bad of ["", "00-xyz", `00-${"0".repeat(32)}-${sc.spanId}-01`, `ff-${sc.traceId}-${sc.spanId}-01`]) assert.equal(parseTraceparent(bad), null, bad);
});

test("withSpan off: the function runs with the no-op span and nothing is exported", async () => {
  assert.equal(isTracingEnabled(), false);
  assert.equal(await withSpan("callback x", {}, (span) => (assert.equal(span, NOOP_SPAN), 42)), 42);
});

test("withSpan on: a span under the run's span (given its run id), an error status when the function throws", async () => {
  const receiver = await otlpReceiver();
  after(() => receiver.close());
  await startTracing({ exporter: "otlp", url: `${receiver.url}/v1/traces`, serviceName: "callbacks" });
  try {
    await withSpan("callback on_success", { "sluice.run_id": "run-7", "sluice.dag_id": "d" }, async (span) => {
      assert.equal(span.isRecording(), true);
      await withSpan("notification slack", {}, () => undefined); // nested: under the callback's span
    });
    await assert.rejects(withSpan("callback on_failure", { "sluice.run_id": "run-7" }, () => Promise.reject(new Error("webhook down"))), /webhook down/);
  } finally {
    await stopTracing();
  }
  assert.equal(isTracingEnabled(), false);
  const byName = new Map(receiver.spans.map((s) => [s.name, s]));
  const run = runTraceIds("run-7");
  const ok = byName.get("callback on_success")!;
  assert.deepEqual([ok.traceId, ok.parentSpanId, ok.attributes["sluice.dag_id"], ok.service], [run.traceId, run.spanId, "d", "callbacks"]);
  assert.equal(byName.get("notification slack")!.parentSpanId, ok.spanId);
  const failed = byName.get("callback on_failure")!;
  assert.deepEqual([failed.parentSpanId, failed.status], [run.spanId, 2], "ERROR status (2)");
});
