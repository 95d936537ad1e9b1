import { useQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** The deployment's health: scheduler, workers, queues (GET /status), polled. */
export function useGetStatus() {
  return useQuery({ queryKey: keys.status(), queryFn: () => api.status(), refetchInterval: 5000 });
}
