import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** Assets (GET /assets, the first 500), refreshed every 10 s: runs produce new ones. */
export function useListAssets() {
  return useQuery({ queryKey: keys.assets(), queryFn: () => api.assets({ limit: 500 }), refetchInterval: 10_000 });
}
