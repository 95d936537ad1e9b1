/// <reference lib="webworker" />
/** The layout Web Worker: one request in, one LayoutResult out, matched by id. */
import { computeLayout, loadElk, type LayoutRequest } from "./layout";

self.onmessage = async (e: MessageEvent<{ id: number; req: LayoutRequest } | { id: 0; warm: true }>) => {
  if ("warm" in e.data) {
    // a warm-up: load elk now, answer nothing (a failure shows on the first real layout)
    void loadElk().catch(() => undefined);
    return;
  }
  const { id, req } = e.data;
  try {
    self.postMessage({ id, result: await computeLayout(req) });
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message ?? String(err) });
  }
};
