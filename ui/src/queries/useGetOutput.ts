import { useQuery } from "@tanstack/react-query";
import { api, type AttemptId } from "../api";
import { keys } from "./client";

/** A preview of an attempt's output (GET /attempts/:id/output); not asked for when it has none (`size` null). */
export function useGetOutput(attemptId: AttemptId, size: number | null) {
  return useQuery({ queryKey: keys.output(String(attemptId), size), queryFn: () => api.output(attemptId), enabled: size !== null });
}
