import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** The last `hours` at a glance (GET /dashboard), refreshed every 5 s while the page is visible. */
export function useGetDashboard(hours = 24) {
  return useQuery({ queryKey: keys.dashboard(hours), queryFn: () => api.dashboard(hours), refetchInterval: 5000 });
}
