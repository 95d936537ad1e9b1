import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys, queryClient } from "./client";

/** A DAG's newest backfills (GET /backfills?dagId=), polled (the list has states, not progress). */
export function useListBackfills(dagId: string, limit = 20) {
  return useQuery({ queryKey: keys.backfills(dagId), queryFn: () => api.backfills({ dagId, limit }), refetchInterval: 2000 });
}

/** After starting or cancelling a backfill: its list and details, and the runs it made or stopped. */
export function invalidateBackfills(dagId: string): Promise<void> {
  return Promise.all([keys.dag(dagId), ["runs"], ["dashboard"]].map((queryKey) => queryClient.invalidateQueries({ queryKey }))).then(() => undefined);
}
