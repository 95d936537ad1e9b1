import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** The lineage graph, whole or around one asset (GET /lineage), refreshed every 10 s. */
export function useGetLineage(asset?: string) {
  return useQuery({ queryKey: keys.lineage(asset), queryFn: () => api.lineage(asset), refetchInterval: 10_000 });
}
