import { useInfiniteQuery } from "@tanstack/react-query";
import { api } from "../api";
import { keys } from "./client";

/** Runs per page of the comparison: 100 runs is what the chart is made for; more come with "Load more". */
export const EXPERIMENT_PAGE = 100;

/** An experiment's runs and trials, newest first, page after page (GET /experiments/:name). */
export function useGetExperiment(name: string) {
  return useInfiniteQuery({
    queryKey: keys.experiment(name),
    queryFn: ({ pageParam }) => api.experiment(name, { limit: EXPERIMENT_PAGE, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.nextCursor,
    refetchInterval: 10_000,
  });
}
