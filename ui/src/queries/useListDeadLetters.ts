import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

export interface DeadLetterFilters {
  dagId?: string;
  runId?: string;
  state?: string;
  limit?: number;
  cursor?: string;
}

/** One page of dead letters with the filters (GET /dlq); `enabled` false asks nothing (data stays undefined). */
export function useListDeadLetters(filters: DeadLetterFilters, enabled = true) {
  return useQuery({ queryKey: keys.deadLetters(filters), queryFn: () => api.deadLetters(filters), enabled });
}

/** After retrying or discarding dead letters: the lists, and the runs a retry resumed. */
export function invalidateDeadLetters(): Promise<void> {
  return Promise.all([["dead-letters"], ["runs"], ["dag"], ["task-instances"], ["dashboard"]].map((queryKey) => queryClient.invalidateQueries({ queryKey }))).then(() => undefined);
}
