import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** One model: versions, aliases, alias history, approvals (GET /models/:name); polled while shown. */
export function useGetModel(name: string | null) {
  return useQuery({ queryKey: keys.model(name ?? ""), queryFn: () => api.model(name!), enabled: name !== null, refetchInterval: 3000 });
}
