/**
 * The `sluice` program (bin/sluice.js runs it): the CLI with the HTTP server plugged in. cli/ and server/
 * are two front ends over the same layers and do not import each other; this is where they meet.
 */
import { main as cli } from "./cli/main.js";
import { startHttp } from "./server/http.js";
import { startMetricsServer } from "./server/metrics.js";
import { startModelServer } from "./server/modelServer.js";
import { stopTracing } from "./tracing/tracing.js";

export async function main(argv: string[]): Promise<number> {
  try {
    return await cli(argv, { startHttp, startMetrics: startMetricsServer, startModelServer });
  } finally {
    // the last spans (a batch waits OTEL_BSP_SCHEDULE_DELAY) leave before the process does
    await stopTracing();
  }
}
