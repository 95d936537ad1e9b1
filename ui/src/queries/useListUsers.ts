import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

/** The users (GET /users; admins only). */
export function useListUsers() {
  return useQuery({ queryKey: keys.users(), queryFn: () => api.users() });
}

/** After creating, changing or deleting a user: a deleted user's grants and tokens go with them. */
export function invalidateUsers(): Promise<void> {
  return Promise.all([keys.users(), keys.grants(), keys.tokens()].map((queryKey) => queryClient.invalidateQueries({ queryKey }))).then(() => undefined);
}
