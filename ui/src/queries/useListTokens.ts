import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

/** API tokens the caller may see (GET /tokens: their own; an admin's, everyone's). */
export function useListTokens() {
  return useQuery({ queryKey: keys.tokens(), queryFn: () => api.tokens() });
}

/** After creating or revoking a token. */
export function invalidateTokens(): Promise<void> {
  return queryClient.invalidateQueries({ queryKey: keys.tokens() });
}
