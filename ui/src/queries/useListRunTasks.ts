import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/**
 * Every task instance of a run (following the cursor), polled while `live`; fetched again when the run's
 * state changes (the last poll may precede the run's end).
 */
export function useListRunTasks(runId: string | null, runState: string | undefined, live: boolean) {
  return useQuery({ queryKey: [...keys.runTasks(runId ?? ""), runState ?? ""], queryFn: () => api.allRunTasks(runId!), enabled: runId !== null, refetchInterval: live ? 1500 : false });
}
