import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** Previews of what a task instance received from its upstream tasks (GET /runs/:runId/tasks/:taskId/inputs). */
export function useListInputs(runId: string, taskId: string, mapIndex: number) {
  return useQuery({ queryKey: keys.inputs(runId, taskId, mapIndex), queryFn: () => api.inputs(runId, taskId, mapIndex) });
}
