import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** Registered models with their latest version and aliases (GET /models); polled, as runs register versions. */
export function useListModels() {
  return useQuery({ queryKey: keys.models(), queryFn: () => api.models(), refetchInterval: 5000 });
}
