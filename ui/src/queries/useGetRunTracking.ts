import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** What a run's tasks tracked (GET /runs/:runId/tracking); polled while the run may still record. */
export function useGetRunTracking(runId: string, live: boolean) {
  return useQuery({ queryKey: keys.tracking(runId), queryFn: () => api.runTracking(runId), refetchInterval: live ? 3000 : false });
}
