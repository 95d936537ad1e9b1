import { useMutation } from "@tanstack/react-query";
import { api } from "../api";
import { invalidateRun } from "./client";

/** Set (or, with "", remove) a run's note (PUT /runs/:runId/note); the run is fetched again after. */
export function useSetRunNote(runId: string) {
  return useMutation({ mutationFn: (note: string) => api.setRunNote(runId, note), onSettled: () => invalidateRun(runId) });
}
