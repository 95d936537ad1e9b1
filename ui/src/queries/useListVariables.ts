import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

/** Variables, secret values left out (GET /variables). */
export function useListVariables() {
  return useQuery({ queryKey: keys.variables(), queryFn: () => api.variables() });
}

/** After setting or deleting a variable. */
export function invalidateVariables(): Promise<void> {
  return queryClient.invalidateQueries({ queryKey: keys.variables() });
}
