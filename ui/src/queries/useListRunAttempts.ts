import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** Every attempt of a run, oldest first (GET /runs/:runId/attempts); polled while the run is active. */
export function useListRunAttempts(runId: string, live: boolean) {
  return useQuery({ queryKey: keys.runAttempts(runId), queryFn: () => api.runAttempts(runId), refetchInterval: live ? 3000 : false });
}
