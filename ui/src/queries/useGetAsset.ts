import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** One asset with its producers, consumers and events (GET /assets/:name), refreshed every 5 s. */
export function useGetAsset(name: string) {
  return useQuery({ queryKey: keys.asset(name), queryFn: () => api.asset(name), refetchInterval: 5000 });
}
