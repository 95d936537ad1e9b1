/** What every benchmark scenario prints: one JSON line. */
export interface BenchResult {
  scenario: string;
  n: number;
  seconds: number;
  tasksPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Share of one core the measured process used, where a scenario measures it. */
  cpuPercent?: number;
  /** Resident memory once the DAG was built, before the run (fanout scenarios). */
  baselineRssBytes?: number;
  /** Highest resident memory sampled during the run (every 20 ms, and at its end). */
  peakRssBytes?: number;
  /** (peak - baseline) / task instances: what a task instance costs beyond the DAG itself. */
  bytesPerTask?: number;
  /**
   * CPU time (user + system, every thread of the process) of the run per task: on a machine shared with
   * other work, steadier than the wall-clock figures, which include waiting for a core.
   */
  cpuMsPerTask?: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
