import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** A DAG's newest runs (GET /dags/:dagId/runs), polled: new runs appear and running ones move on. */
export function useListDagRuns(dagId: string, limit = 25) {
  return useQuery({ queryKey: keys.dagRuns(dagId, limit), queryFn: () => api.dagRuns(dagId, { limit }), refetchInterval: 2500 });
}
