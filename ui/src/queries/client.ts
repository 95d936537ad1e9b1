/**
 * The one QueryClient (TanStack Query): every read of the API goes through it, so that pages share what
 * they fetched, a refetch never overlaps the last, and an action invalidates what it changed. Live pages
 * poll (refetchInterval) while what they show is still changing: the API has no change feed; the log of
 * a running attempt streams over SSE (components/LogView).
 */
import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "../api";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // the polling pages set their own interval; elsewhere a page shows what it fetched until invalidated
      staleTime: 1000,
      refetchOnWindowFocus: true,
      // 4xx answers (not found, forbidden, bad input) do not get better by asking again
      retry: (count, e) => !(e instanceof ApiError && e.status < 500) && count < 2,
      refetchIntervalInBackground: false,
    },
  },
});

/** Query keys by what they hold: an action invalidates every key under the run or DAG it touched. */
export const keys = {
  dag: (dagId: string) => ["dag", dagId] as const,
  dagRuns: (dagId: string) => ["dag", dagId, "runs"] as const,
  run: (runId: string) => ["run", runId] as const,
  runTasks: (runId: string) => ["run", runId, "tasks"] as const,
  attempts: (runId: string, taskId: string, mapIndex: number) => ["run", runId, "attempts", taskId, mapIndex] as const,
  runs: (filters: object) => ["runs", filters] as const,
  taskInstances: (filters: object) => ["task-instances", filters] as const,
  dashboard: (hours: number) => ["dashboard", hours] as const,
  runAttempts: (runId: string) => ["run", runId, "all-attempts"] as const,
  tracking: (runId: string) => ["run", runId, "tracking"] as const,
  metricSeries: (runId: string, taskId: string, mapIndex: number, metric: string, maxPoints: number) => ["run", runId, "metrics", taskId, mapIndex, metric, maxPoints] as const,
  attempt: (attemptId: string) => ["attempt", attemptId] as const,
  experiments: () => ["experiments"] as const,
  assets: () => ["assets"] as const,
  asset: (name: string) => ["assets", name] as const,
  lineage: (asset: string | undefined) => ["lineage", asset ?? ""] as const,
  tokens: () => ["tokens"] as const,
  experiment: (name: string) => ["experiments", name] as const,
  models: () => ["models"] as const,
  model: (name: string) => ["models", name] as const,
  approvals: () => ["models", "approvals"] as const,
};

/** After an action on a run: its own data, the lists and the dashboard that show it. */
export function invalidateRun(runId: string): Promise<void> {
  return Promise.all([
    queryClient.invalidateQueries({ queryKey: ["run", runId] }),
    queryClient.invalidateQueries({ queryKey: ["runs"] }),
    queryClient.invalidateQueries({ queryKey: ["task-instances"] }),
    queryClient.invalidateQueries({ queryKey: ["dashboard"] }),
    queryClient.invalidateQueries({ queryKey: ["dag"] }),
    queryClient.invalidateQueries({ queryKey: ["legacy"] }),
    queryClient.invalidateQueries({ queryKey: ["assets"] }),
    queryClient.invalidateQueries({ queryKey: ["lineage"] }),
  ]).then(() => undefined);
}
