import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** DAG files that failed to load (GET /import-errors), polled: the scheduler re-parses files as they change. */
export function useListImportErrors() {
  return useQuery({ queryKey: keys.importErrors(), queryFn: () => api.importErrors(), refetchInterval: 10000 });
}
