import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** A DAG's source at `version` (the current one when undefined) (GET /dags/:dagId/code). */
export function useGetDagCode(dagId: string, version: string | undefined) {
  return useQuery({ queryKey: keys.dagCode(dagId, version), queryFn: () => api.code(dagId, version) });
}
