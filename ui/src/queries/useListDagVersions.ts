import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** The versions a DAG has had (GET /dags/:dagId/versions). */
export function useListDagVersions(dagId: string) {
  return useQuery({ queryKey: keys.dagVersions(dagId), queryFn: () => api.versions(dagId) });
}
