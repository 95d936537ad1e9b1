import { useMutation } from "@tanstack/react-query";
import { api } from "../api";
import { queryClient } from "./client";

/** Promote a version to an alias, or roll an alias back; the model is fetched again. */
export function useMoveAlias(name: string) {
  return useMutation({
    mutationFn: (m: { kind: "promote"; alias: string; version: number } | { kind: "rollback"; alias: string }) =>
      m.kind === "promote" ? api.promoteModel(name, { alias: m.alias, version: m.version }) : api.rollbackModel(name, { alias: m.alias }),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ["models"] }),
  });
}
