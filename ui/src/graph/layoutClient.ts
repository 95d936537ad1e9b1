/**
 * Layouts off the main thread, cached by request (the same structure and collapsed groups lay out once).
 * The worker is a same-origin module file emitted by Vite, so it runs under `script-src 'self'`.
 */
import { ELK_MAX_NODES, fastLayout, type LayoutRequest, type LayoutResult } from "./layout";

let worker: Worker | null = null;
let seq = 0;
const pending = new Map<number, { resolve: (r: LayoutResult) => void; reject: (e: Error) => void }>();
const cache = new Map<string, Promise<LayoutResult>>();
/** Whether the worker has answered with an elk layout, so elk is loaded there. */
let elkAnswered = false;

/**
 * A quick layout to draw while the first elk layout of a page waits for elk to load (1.4 MB of script:
 * 0.5–3 s, most of the time to a first graph — ui-10000 bench), or null when elk is loaded or not used.
 * Longest-path layers on the main thread, milliseconds for up to ELK_MAX_NODES nodes; groups are not
 * drawn as containers until elk's layout replaces it.
 */
export function interimLayout(req: LayoutRequest): LayoutResult | null {
  return elkAnswered || req.nodes.length > ELK_MAX_NODES ? null : fastLayout({ ...req, nodes: req.nodes.filter((n) => !n.container) });
}

function getWorker(): Worker {
  if (worker) return worker;
  worker = new Worker(new URL("./layout.worker.ts", import.meta.url), { type: "module" });
  worker.onmessage = (e: MessageEvent<{ id: number; result?: LayoutResult; error?: string }>) => {
    const p = pending.get(e.data.id);
    if (!p) return;
    pending.delete(e.data.id);
    if (e.data.result) p.resolve(e.data.result);
    else p.reject(new Error(`graph layout failed: ${e.data.error}`));
  };
  worker.onerror = (e) => {
    for (const p of pending.values()) p.reject(new Error(`graph layout worker: ${e.message}`));
    pending.clear();
    worker = null;
  };
  return worker;
}

/**
 * Start the worker and have it load elk before a layout is asked for (the DAG page calls it while the
 * structure is still on its way): elk is 1.4 MB of script to fetch and compile, off the critical path.
 */
export function warmLayout(): void {
  getWorker().postMessage({ id: 0, warm: true });
}

export function layout(key: string, req: LayoutRequest): Promise<LayoutResult> {
  let p = cache.get(key);
  if (!p) {
    const id = ++seq;
    // User Timing marks: the ui-10000 bench (src/bench/ui.ts) reads them to split a view's time into phases
    const start = `sluice:layout:${id}`;
    performance.mark(start);
    p = new Promise<LayoutResult>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      getWorker().postMessage({ id, req });
    }).then((r) => {
      if (r.nested) elkAnswered = true;
      performance.measure("sluice:layout", { start, detail: { nodes: req.nodes.length } });
      return r;
    });
    p.catch(() => cache.delete(key));
    if (cache.size > 50) cache.delete(cache.keys().next().value!);
    cache.set(key, p);
  }
  return p;
}
