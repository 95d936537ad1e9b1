/**
 * fanout-10000-traced: fanout-10000 with tracing on, every span exported over OTLP/HTTP (JSON) to a sink in
 * this process that reads and counts them — the SDK's whole work (a span per attempt and the run's, the
 * batches, their JSON, the HTTP posts), against a collector that costs next to nothing.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { startTracing, stopTracing } from "../tracing/tracing.js";
import type { BenchResult } from "./result.js";

/** A stand-in collector: accepts POST /v1/traces, counts the spans in each body. */
async function spanSink(): Promise<{ url: string; spans: () => number; close: () => Promise<void> }> {
  let spans = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      spans += body.split('"spanId":').length - 1;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    spans: () => spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Run `scenario` with tracing on; `spansExported` says how many spans reached the sink (the SDK drops past its queue). */
export async function traced(name: string, scenario: () => Promise<BenchResult>): Promise<BenchResult & { spansExported: number }> {
  const sink = await spanSink();
  await startTracing({ exporter: "otlp", url: sink.url, serviceName: "sluice-bench" });
  try {
    const r = await scenario(); // its Sluice's close flushed the spans
    return { ...r, scenario: name, spansExported: sink.spans() };
  } finally {
    await stopTracing();
    await sink.close();
  }
}
