/**
 * Graph layout, run in a Web Worker (layout.worker.ts) so that a large DAG never blocks the page.
 * Up to ELK_MAX_NODES visible nodes: elkjs' layered algorithm, with expanded task groups as compound nodes.
 * Beyond that (a huge DAG with no groups to collapse), elk takes tens of seconds, so a simple
 * longest-path layering with one barycentre ordering pass places the nodes in milliseconds; groups are
 * then not drawn as containers.
 */
import type { ElkNode } from "elkjs/lib/elk-api";
import type ELKType from "elkjs/lib/elk.bundled.js";

export const ELK_MAX_NODES = 1500;
/** The band at the top of an expanded group that holds its head: children are laid out below it. */
export const CONTAINER_HEAD_H = 40;

export interface LayoutNode {
  id: string;
  width: number;
  height: number;
  /** The expanded group that contains it, or null. */
  parent: string | null;
  /** A group drawn as a container (sized by the layout). */
  container?: boolean;
}
export interface LayoutEdge {
  id: string;
  source: string;
  target: string;
}
export interface LayoutRequest {
  nodes: LayoutNode[];
  edges: LayoutEdge[];
  direction: "RIGHT" | "DOWN";
}
export interface LayoutResult {
  /** Position relative to the node's parent (xyflow's convention for sub-flows), and size. */
  positions: Record<string, { x: number; y: number; width: number; height: number }>;
  /** Whether groups were laid out as containers (false in the fast layout). */
  nested: boolean;
}

// elk is 1.4 MB of script: loaded on first use, so that the fast layout of a huge graph does not wait for it
let elkLoaded: Promise<InstanceType<typeof ELKType>> | null = null;

/**
 * elk's bundled build, constructed in a worker, takes the worker's `self.onmessage` for itself (it believes
 * it is elk's own worker): our handler is put back, or every later layout request (expanding a group)
 * would go to elk and never be answered.
 */
export function loadElk(): Promise<InstanceType<typeof ELKType>> {
  elkLoaded ??= (async () => {
    const ours = typeof self === "undefined" ? null : self.onmessage;
    const { default: ELK } = await import("elkjs/lib/elk.bundled.js");
    // its embedded worker code runs in the constructor (browserify's lazy require): restore after it
    const made = new ELK();
    if (ours) self.onmessage = ours;
    return made;
  })();
  elkLoaded.catch(() => (elkLoaded = null));
  return elkLoaded;
}

export async function computeLayout(req: LayoutRequest): Promise<LayoutResult> {
  if (req.nodes.length > ELK_MAX_NODES) return fastLayout(req);
  const elk = await loadElk();
  const byId = new Map<string, ElkNode>();
  const root: ElkNode = {
    id: "__root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": req.direction,
      "elk.hierarchyHandling": "INCLUDE_CHILDREN",
      "elk.layered.spacing.nodeNodeBetweenLayers": "50",
      "elk.spacing.nodeNode": "18",
      "elk.padding": "[top=12,left=12,bottom=12,right=12]",
    },
    children: [],
    edges: [],
  };
  for (const n of req.nodes) {
    byId.set(n.id, {
      id: n.id,
      width: n.width,
      height: n.height,
      // a container's head (toggle, label, counts) gets its own band, so that no child node covers it
      ...(n.container ? { children: [], layoutOptions: { "elk.padding": `[top=${CONTAINER_HEAD_H},left=12,bottom=12,right=12]` } } : {}),
    });
  }
  for (const n of req.nodes) {
    const parent = (n.parent && byId.get(n.parent)) || root;
    (parent.children ??= []).push(byId.get(n.id)!);
  }
  root.edges = req.edges.map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] }));
  const out = await elk.layout(root);
  const positions: LayoutResult["positions"] = {};
  const walk = (n: ElkNode) => {
    for (const c of n.children ?? []) {
      positions[c.id] = { x: c.x ?? 0, y: c.y ?? 0, width: c.width ?? 0, height: c.height ?? 0 };
      walk(c);
    }
  };
  walk(out);
  return { positions, nested: true };
}

/** Longest-path layers, one barycentre pass: O(nodes + edges). */
export function fastLayout(req: LayoutRequest): LayoutResult {
  const ids = req.nodes.map((n) => n.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const ups: number[][] = ids.map(() => []);
  const downs: number[][] = ids.map(() => []);
  for (const e of req.edges) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined || s === t) continue;
    ups[t]!.push(s);
    downs[s]!.push(t);
  }
  // Kahn's order, then each node's layer is one more than its deepest upstream
  const indeg = ups.map((u) => u.length);
  const queue: number[] = [];
  indeg.forEach((d, i) => d === 0 && queue.push(i));
  const layer = new Int32Array(ids.length);
  for (let h = 0; h < queue.length; h++) {
    const i = queue[h]!;
    for (const d of downs[i]!) {
      layer[d] = Math.max(layer[d]!, layer[i]! + 1);
      if (--indeg[d]! === 0) queue.push(d);
    }
  }
  const layers: number[][] = [];
  ids.forEach((_, i) => (layers[layer[i]!] ??= []).push(i));
  const order = new Float64Array(ids.length);
  const positions: LayoutResult["positions"] = {};
  const w = Math.max(...req.nodes.map((n) => n.width));
  const h = Math.max(...req.nodes.map((n) => n.height));
  layers.forEach((members, l) => {
    if (l > 0) {
      const bary = (i: number) => {
        const u = ups[i]!;
        return u.length ? u.reduce((a, x) => a + order[x]!, 0) / u.length : order[i]!;
      };
      members.sort((a, b) => bary(a) - bary(b));
    }
    members.forEach((i, k) => {
      order[i] = k;
      const n = req.nodes[i]!;
      const along = l * (w + 60);
      const across = k * (h + 16);
      positions[n.id] = req.direction === "RIGHT" ? { x: along, y: across, width: n.width, height: n.height } : { x: across, y: along, width: n.width, height: n.height };
    });
  });
  return { positions, nested: false };
}
