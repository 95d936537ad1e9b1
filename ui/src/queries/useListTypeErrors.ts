import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** TypeScript errors in DAG files (GET /type-errors), polled like the import errors. */
export function useListTypeErrors() {
  return useQuery({ queryKey: keys.typeErrors(), queryFn: () => api.typeErrors(), refetchInterval: 10000 });
}
