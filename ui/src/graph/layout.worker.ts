/// <reference lib="webworker" />
/** The layout Web Worker: one request in, one LayoutResult out, matched by id. */
import { computeLayout, type LayoutRequest } from "./layout";

self.onmessage = async (e: MessageEvent<{ id: number; req: LayoutRequest }>) => {
  const { id, req } = e.data;
  try {
    self.postMessage({ id, result: await computeLayout(req) });
  } catch (err) {
    self.postMessage({ id, error: (err as Error).message ?? String(err) });
  }
};
