import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** An attempt by id with its run and DAG (GET /attempts/:attemptId): where a cache hit's source lives. */
export function useGetAttempt(attemptId: string) {
  return useQuery({ queryKey: keys.attempt(attemptId), queryFn: () => api.attempt(attemptId) });
}
