/**
 * From a DAG's structure and the collapsed groups to the visible graph: each task is shown as itself or
 * as its outermost collapsed group; edges are re-pointed to what is visible and de-duplicated. Pure, so
 * that the expensive part (layout) can be cached by its result's key.
 */
import type { Structure } from "../api";
import type { LayoutEdge, LayoutNode } from "./layout";

export const TASK_W = 190;
export const TASK_H = 46;
export const GROUP_W = 210;
export const GROUP_H = 56;

export interface VisibleGraph {
  nodes: (LayoutNode & { kind: "task" | "group" | "container" })[];
  edges: LayoutEdge[];
  /** For each task: the id of the node that shows it. */
  shownAs: Map<string, string>;
  /** For each group: all the tasks inside it, nested groups included. */
  members: Map<string, string[]>;
}

/** Large DAGs open with every group collapsed. */
export const COLLAPSE_ABOVE_TASKS = 300;

export function visibleGraph(s: Structure, collapsed: ReadonlySet<string>): VisibleGraph {
  const parentOf = new Map(s.groups.map((g) => [g.id, g.parent]));
  // a group's representative: its outermost collapsed ancestor-or-self, or null when it is fully expanded
  const rep = new Map<string, string | null>();
  const repOf = (g: string | null): string | null => {
    if (g === null) return null;
    if (rep.has(g)) return rep.get(g)!;
    const up = repOf(parentOf.get(g) ?? null);
    const r = up ?? (collapsed.has(g) ? g : null);
    rep.set(g, r);
    return r;
  };
  const nodes: VisibleGraph["nodes"] = [];
  const depth = (g: string | null): number => (g === null ? 0 : 1 + depth(parentOf.get(g) ?? null));
  const groupsByDepth = [...s.groups].sort((a, b) => depth(a.id) - depth(b.id));
  for (const g of groupsByDepth) {
    if (repOf(g.parent) !== null) continue;
    if (collapsed.has(g.id)) nodes.push({ id: g.id, kind: "group", width: GROUP_W, height: GROUP_H, parent: g.parent });
    else nodes.push({ id: g.id, kind: "container", width: GROUP_W, height: GROUP_H, parent: g.parent, container: true });
  }
  const shownAs = new Map<string, string>();
  const members = new Map<string, string[]>();
  for (const t of s.tasks) {
    for (let g = t.group; g !== null; g = parentOf.get(g) ?? null) {
      let m = members.get(g);
      if (!m) members.set(g, (m = []));
      m.push(t.id);
    }
    const r = repOf(t.group);
    shownAs.set(t.id, r ?? t.id);
    if (r === null) nodes.push({ id: t.id, kind: "task", width: TASK_W, height: TASK_H, parent: t.group });
  }
  // an expanded group with no visible content would be an empty container: skip nothing, elk sizes it
  const seen = new Set<string>();
  const edges: LayoutEdge[] = [];
  for (const t of s.tasks) {
    const a = shownAs.get(t.id)!;
    for (const d of t.downstream) {
      const b = shownAs.get(d);
      if (b === undefined || a === b) continue;
      const id = `${a}\u0000${b}`;
      if (seen.has(id)) continue;
      seen.add(id);
      edges.push({ id, source: a, target: b });
    }
  }
  return { nodes, edges, shownAs, members };
}
