import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

/** Per-DAG grants to users and tokens (GET /grants; admins only). */
export function useListGrants() {
  return useQuery({ queryKey: keys.grants(), queryFn: () => api.grants() });
}

/** After adding or deleting a grant. */
export function invalidateGrants(): Promise<void> {
  return queryClient.invalidateQueries({ queryKey: keys.grants() });
}
