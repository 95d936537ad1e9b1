import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** A DAG's detail: schedule, params schema, docs, paused (GET /dags/:dagId); polled every `intervalMs` when given. */
export function useGetDag(dagId: string, intervalMs?: number) {
  return useQuery({ queryKey: keys.dagDetail(dagId), queryFn: () => api.dag(dagId), refetchInterval: intervalMs ?? false });
}
