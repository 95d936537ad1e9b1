import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/**
 * A task instance's attempts, oldest first; polled while the instance has not finished, and fetched again
 * when `instanceState` (its state and try) changes: the last poll may precede the attempt's end.
 */
export function useListAttempts(runId: string, taskId: string, mapIndex: number, live: boolean, instanceState: string) {
  return useQuery({ queryKey: [...keys.attempts(runId, taskId, mapIndex), instanceState], queryFn: () => api.attempts(runId, taskId, mapIndex), refetchInterval: live ? 2000 : false, placeholderData: keepPreviousData });
}
