/**
 * `useData`: the pages not yet on a named query hook (queries/use<Verb><Noun>.ts) fetch through the same
 * QueryClient with it: `key` names what `load` fetches (unique per loader: "dag|<id>", "tokens"…).
 */
import { useQuery } from "@tanstack/react-query";

export interface Loaded<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/** Fetch with `load` under `key`, again every `intervalMs` (when given) while the page is visible. */
export function useData<T>(load: () => Promise<T>, key: string, intervalMs?: number): Loaded<T> {
  const q = useQuery({ queryKey: ["legacy", key], queryFn: load, ...(intervalMs ? { refetchInterval: intervalMs } : {}) });
  return { data: q.data, error: q.error, loading: q.isPending || q.isFetching, reload: () => void q.refetch() };
}
