import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, type RunFilters } from "../api";
import { keys } from "./client";

/** One page of task instances across DAGs (GET /task-instances) with the filters. */
export function useListTaskInstances(filters: RunFilters) {
  return useQuery({ queryKey: keys.taskInstances(filters), queryFn: () => api.taskInstances(filters), placeholderData: keepPreviousData, refetchInterval: 5000 });
}
