import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, type RunFilters } from "../api";
import { keys } from "./client";

/** One page of runs across DAGs (GET /runs) with the filters; the previous page stays shown while the next loads. */
export function useListRuns(filters: RunFilters) {
  return useQuery({ queryKey: keys.runs(filters), queryFn: () => api.runs(filters), placeholderData: keepPreviousData, refetchInterval: 5000 });
}
