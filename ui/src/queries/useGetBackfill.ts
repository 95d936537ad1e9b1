import { useQuery } from "@tanstack/react-query";
import { api, type Backfill } from "../api";
import { keys } from "./client";

/**
 * One backfill with its progress (GET /backfills/:id), polled while it runs. `summary` (its row in the
 * list) decides until the detail has come; then the detail's own state does, so that its last poll is
 * the one that saw it end.
 */
export function useGetBackfill(dagId: string, summary: Backfill) {
  return useQuery({
    queryKey: keys.backfill(dagId, summary.id),
    queryFn: () => api.backfill(summary.id),
    refetchInterval: (q) => ((q.state.data ?? summary).state === "running" ? 2000 : false),
  });
}
