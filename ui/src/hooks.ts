/** Data hooks: load once, or poll while the page is visible (live task states, run progress). */
import { useCallback, useEffect, useRef, useState } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/**
 * Run `load` when `key` changes and every `intervalMs` (when given) after that. Slow responses never
 * overlap: the next poll starts after the previous one ends. Results of an older key are dropped.
 */
export function useData<T>(load: () => Promise<T>, key: string, intervalMs?: number): Loaded<T> {
  const [state, setState] = useState<{ key: string; data: T | undefined; error: Error | null; loading: boolean }>({
    key,
    data: undefined,
    error: null,
    loading: true,
  });
  const loadRef = useRef(load);
  loadRef.current = load;
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);

  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState((s) => (s.key === key ? { ...s, loading: true } : { key, data: undefined, error: null, loading: true }));
    const run = async () => {
      try {
        const data = await loadRef.current();
        if (alive) setState({ key, data, error: null, loading: false });
      } catch (e) {
        if (alive) setState((s) => ({ ...s, key, error: e as Error, loading: false }));
      }
      if (alive && intervalMs) timer = setTimeout(run, document.hidden ? intervalMs * 4 : intervalMs);
    };
    void run();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [key, intervalMs, tick]);

  const fresh = state.key === key;
  return { data: fresh ? state.data : undefined, error: fresh ? state.error : null, loading: !fresh || state.loading, reload };
}
