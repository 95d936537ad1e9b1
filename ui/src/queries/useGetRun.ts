import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

const FINISHED = new Set(["success", "failed"]);

/** A run with its deadline misses and callbacks (GET /runs/:runId); polled while it is not finished. */
export function useGetRun(runId: string | null) {
  return useQuery({
    queryKey: keys.run(runId ?? ""),
    queryFn: () => api.run(runId!),
    enabled: runId !== null,
    refetchInterval: (q) => (q.state.data && FINISHED.has(q.state.data.state) ? false : 3000),
  });
}
