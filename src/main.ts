/**
 * The `sluice` program (bin/sluice.js runs it): the CLI with the HTTP server plugged in. cli/ and server/
 * are two front ends over the same layers and do not import each other; this is where they meet.
 */
import { main as cli } from "./cli/main.js";
import { startHttp } from "./server/http.js";
import { startMetricsServer } from "./server/metrics.js";

export function main(argv: string[]): Promise<number> {
  return cli(argv, { startHttp, startMetrics: startMetricsServer });
}
