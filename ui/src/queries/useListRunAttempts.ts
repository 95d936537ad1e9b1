import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

/** Every attempt of a run, oldest first (GET /runs/:runId/attempts); polled every `intervalMs` while the run is active. */
export function useListRunAttempts(runId: string, live: boolean, intervalMs = 3000) {
  return useQuery({ queryKey: keys.runAttempts(runId), queryFn: () => api.runAttempts(runId), refetchInterval: live ? intervalMs : false });
}

/** When the run's state changes: its attempts are fetched again (the last poll may predate the change). */
export function invalidateRunAttempts(runId: string): Promise<void> {
  return queryClient.invalidateQueries({ queryKey: keys.runAttempts(runId) });
}
