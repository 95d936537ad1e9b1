import { useMutation } from "@tanstack/react-query";
import { api } from "../api";
import { invalidateRun } from "./client";
import type { TaskAction } from "./usePreviewTaskAction";

/** Clear or mark a task instance; afterwards everything that shows the run is fetched again. */
export function useApplyTaskAction(runId: string, taskId: string) {
  return useMutation({
    mutationFn: async (a: TaskAction): Promise<{ instances: { taskId: string; mapIndex: number; state: string }[] }> =>
      a.kind === "clear" ? api.clear(runId, taskId, a.scope) : api.mark(runId, taskId, { ...a.scope, state: a.state }),
    onSettled: () => invalidateRun(runId),
  });
}
