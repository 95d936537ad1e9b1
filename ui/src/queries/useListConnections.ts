import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

/** Connections in the store, secrets left out (GET /connections). */
export function useListConnections() {
  return useQuery({ queryKey: keys.connections(), queryFn: () => api.connections() });
}

/** After adding, editing or deleting a connection. */
export function invalidateConnections(): Promise<void> {
  return queryClient.invalidateQueries({ queryKey: keys.connections() });
}
