import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** A DAG's tasks and edges at `version` (the current one when undefined) (GET /dags/:dagId/structure). */
export function useGetStructure(dagId: string, version: string | undefined) {
  return useQuery({ queryKey: keys.structure(dagId, version), queryFn: () => api.structure(dagId, version) });
}
