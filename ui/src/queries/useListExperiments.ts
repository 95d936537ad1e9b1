import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** Experiments with their number of tracked runs, most recently used first (GET /experiments). */
export function useListExperiments() {
  return useQuery({ queryKey: keys.experiments(), queryFn: () => api.experiments(), refetchInterval: 10_000 });
}
