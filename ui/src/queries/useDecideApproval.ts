import { useMutation } from "@tanstack/react-query";
import { api } from "../api";
import { queryClient } from "./client";

/** Approve or reject a gate's approval; the model's data (aliases, history, approvals) is fetched again. */
export function useDecideApproval() {
  return useMutation({
    mutationFn: (d: { id: number; decision: "approve" | "reject"; comment: string | null }) => api.decideApproval(d.id, { decision: d.decision, comment: d.comment }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["models"] }),
  });
}
