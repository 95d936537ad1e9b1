import { useQueries } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** Points per series the chart asks for: a chart a thousand pixels wide shows no more (0033). */
export const CHART_POINTS = 1000;

export interface TrialRef {
  runId: string;
  taskId: string;
  mapIndex: number;
}

/**
 * One metric's series for each trial (GET /runs/:runId/metrics, downsampled on the server): one request
 * per trial, cached per trial, so adding a run to the selection fetches one series, not all of them.
 */
export function useListMetricSeries(trials: readonly TrialRef[], metric: string | null) {
  return useQueries({
    queries: trials.map((t) => ({
      queryKey: keys.metricSeries(t.runId, t.taskId, t.mapIndex, metric ?? "", CHART_POINTS),
      queryFn: () => api.metrics(t.runId, t.taskId, t.mapIndex, [metric!], CHART_POINTS).then((r) => r.series[metric!] ?? []),
      enabled: metric !== null,
      staleTime: 30_000,
    })),
  });
}
