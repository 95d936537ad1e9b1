import { useQuery } from "@tanstack/react-query";
import { api, type ActionScope } from "../api";

export type TaskAction = { kind: "clear"; scope: ActionScope } | { kind: "mark"; state: "success" | "failed" | "skipped"; scope: Omit<ActionScope, "onlyFailed"> };

/**
 * What a clear or mark would change, from the API's dry run of the same operation (the same selection
 * the action then uses): the task instances and the states they have now. Never cached: a preview is of now.
 */
export function usePreviewTaskAction(runId: string, taskId: string, action: TaskAction | null) {
  return useQuery({
    queryKey: ["preview", runId, taskId, action],
    queryFn: async () => {
      const a = action!;
      return a.kind === "clear" ? (await api.clear(runId, taskId, { ...a.scope, dryRun: true })).instances : (await api.mark(runId, taskId, { ...a.scope, state: a.state, dryRun: true })).instances;
    },
    enabled: action !== null,
    gcTime: 0,
    staleTime: 0,
  });
}
