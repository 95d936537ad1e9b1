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
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
