import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** A task instance's attempts, oldest first; polled while the instance has not finished. */
export function useListAttempts(runId: string, taskId: string, mapIndex: number, live: boolean) {
  return useQuery({ queryKey: keys.attempts(runId, taskId, mapIndex), queryFn: () => api.attempts(runId, taskId, mapIndex), refetchInterval: live ? 2000 : false });
}
