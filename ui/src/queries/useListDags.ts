import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

export interface DagFilters {
  q: string;
  tag: string;
  owner: string;
  state: string;
  paused: string;
}

/** The first page of the DAG list with the filters (GET /dags), polled for new runs and next run times. */
export function useListDags(filters: DagFilters, limit = 100) {
  return useQuery({ queryKey: keys.dags({ ...filters, limit }), queryFn: () => api.dags({ ...filters, limit }), refetchInterval: 5000 });
}

/** After pausing or unpausing a DAG: the list and the DAG's own page. */
export function invalidateDags(dagId: string): Promise<void> {
  return Promise.all([queryClient.invalidateQueries({ queryKey: ["dags"] }), queryClient.invalidateQueries({ queryKey: keys.dag(dagId) })]).then(() => undefined);
}
