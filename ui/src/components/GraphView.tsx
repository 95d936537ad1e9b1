/**
 * The DAG's graph: an elk layered layout (in a Web Worker, cached) drawn by @xyflow/react, task states of
 * the selected run as colours, collapsible groups (large DAGs open collapsed) and mapped tasks with their
 * instance counts. Only nodes in the viewport are rendered (onlyRenderVisibleElements), and a large graph
 * opens at its start instead of fitting everything on screen (which would render every node).
 */
import { memo, useEffect, useMemo, useState } from "react";
import { Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import type { Structure } from "../api";
import { layout } from "../graph/layoutClient";
import type { LayoutResult } from "../graph/layout";
import { COLLAPSE_ABOVE_TASKS, visibleGraph } from "../graph/model";
import { stateColor } from "./StateBadge";

/** A task's state in the selected run; mapped tasks carry one count per state of their instances. */
export interface TaskStatus {
  state: string;
  counts?: Record<string, number>;
  instances?: number;
}

interface TaskData extends Record<string, unknown> {
  label: string;
  state: string | undefined;
  mapped: boolean;
  counts: Record<string, number> | undefined;
  instances: number | undefined;
  selected: boolean;
}
interface GroupData extends Record<string, unknown> {
  label: string;
  counts: Record<string, number>;
  size: number;
  toggle: () => void;
  expanded: boolean;
}

const FIT_BELOW_NODES = 400;

export function GraphView({
  structure,
  statuses,
  selectedTask,
  onSelect,
}: {
  structure: Structure;
  statuses: Map<string, TaskStatus>;
  selectedTask: string | null;
  onSelect: (taskId: string) => void;
}) {
  const [collapsed, setCollapsed] = useState<Set<string>>(() =>
    structure.tasks.length > COLLAPSE_ABOVE_TASKS ? new Set(structure.groups.map((g) => g.id)) : new Set(),
  );
  const graph = useMemo(() => visibleGraph(structure, collapsed), [structure, collapsed]);
  const layoutKey = `${structure.version}|${[...collapsed].sort().join(",")}`;
  const [placed, setPlaced] = useState<{ key: string; result: LayoutResult } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    layout(layoutKey, { nodes: graph.nodes, edges: graph.edges, direction: "RIGHT" }).then(
      (result) => alive && setPlaced({ key: layoutKey, result }),
      (e: Error) => alive && setError(e.message),
    );
    return () => {
      alive = false;
    };
  }, [layoutKey, graph]);

  const toggle = useMemo(
    () => (id: string) =>
      setCollapsed((c) => {
        const n = new Set(c);
        if (n.has(id)) n.delete(id);
        else n.add(id);
        return n;
      }),
    [],
  );

  const mappedIds = useMemo(() => new Set(structure.tasks.filter((t) => t.mapped).map((t) => t.id)), [structure]);
  const nodes = useMemo<Node[]>(() => {
    if (!placed) return [];
    const { positions, nested } = placed.result;
    const out: Node[] = [];
    for (const n of graph.nodes) {
      const p = positions[n.id];
      if (!p) continue;
      if (n.kind === "container" && !nested) continue;
      const parentId = nested && n.parent ? n.parent : undefined;
      const base = { id: n.id, position: { x: p.x, y: p.y }, parentId, draggable: false, handles: n.kind === "container" ? undefined : handlesOf(p.width, p.height) };
      const label = n.parent && n.id.startsWith(`${n.parent}.`) ? n.id.slice(n.parent.length + 1) : n.id;
      if (n.kind === "task") {
        const s = statuses.get(n.id);
        const data: TaskData = {
          label,
          state: s?.state,
          mapped: mappedIds.has(n.id),
          counts: s?.counts,
          instances: s?.instances,
          selected: n.id === selectedTask,
        };
        out.push({ ...base, type: "task", data, width: p.width, height: p.height });
      } else {
        const ids = graph.members.get(n.id) ?? [];
        const counts: Record<string, number> = {};
        for (const t of ids) {
          const st = statuses.get(t)?.state ?? "none";
          counts[st] = (counts[st] ?? 0) + 1;
        }
        const data: GroupData = { label, counts, size: ids.length, toggle: () => toggle(n.id), expanded: n.kind === "container" };
        out.push({ ...base, type: n.kind, data, width: p.width, height: p.height, selectable: false, zIndex: n.kind === "container" ? -1 : 0 });
      }
    }
    return out;
  }, [placed, graph, statuses, selectedTask, mappedIds, toggle]);

  const edges = useMemo<Edge[]>(() => graph.edges.map((e) => ({ id: e.id, source: e.source, target: e.target })), [graph]);
  const large = graph.nodes.length > FIT_BELOW_NODES;

  if (error) return <p className="error">{error}</p>;
  if (!placed || placed.key !== layoutKey) return <div className="graph loading" data-testid="graph-loading">Laying out {graph.nodes.length} nodes…</div>;
  return (
    <div className="graph" data-testid="graph" data-nodes={nodes.length}>
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onlyRenderVisibleElements
        nodesDraggable={false}
        nodesConnectable={false}
        minZoom={0.05}
        fitView={!large}
        fitViewOptions={{ maxZoom: 1 }}
        defaultViewport={large ? { x: 20, y: 20, zoom: 0.8 } : undefined}
        onNodeClick={(_, n) => n.type === "task" && onSelect(n.id)}
        proOptions={{ hideAttribution: true }}
      />
    </div>
  );
}

const TaskNodeView = memo(function TaskNodeView({ data }: NodeProps<Node<TaskData>>) {
  const counts = data.counts ? Object.entries(data.counts).filter(([, n]) => n > 0) : [];
  return (
    <div className={`gnode task${data.selected ? " selected" : ""}`} data-state={data.state ?? "none"} title={data.label} style={{ borderLeftColor: stateColor(data.state) }}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <span className="label">{data.label}</span>
      {data.mapped && (
        <span className="mapped" title={counts.map(([s, n]) => `${s}: ${n}`).join(", ") || "mapped"}>
          [{data.instances ?? ""}]
        </span>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

function GroupCounts({ counts }: { counts: Record<string, number> }) {
  return (
    <span className="counts">
      {Object.entries(counts)
        .filter(([s]) => s !== "none")
        .map(([s, n]) => (
          <span key={s} className="count" title={s} style={{ background: stateColor(s) }}>
            {n}
          </span>
        ))}
    </span>
  );
}

const GroupNodeView = memo(function GroupNodeView({ data }: NodeProps<Node<GroupData>>) {
  return (
    <div className="gnode group">
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <button type="button" className="toggle" onClick={(e) => (e.stopPropagation(), data.toggle())} aria-label={`Expand group ${data.label}`}>
        ▸
      </button>
      <span className="label">{data.label}</span> <span className="muted small">{data.size} tasks</span>
      <GroupCounts counts={data.counts} />
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const ContainerNodeView = memo(function ContainerNodeView({ data }: NodeProps<Node<GroupData>>) {
  return (
    <div className="gnode container">
      <div className="container-head">
        <button type="button" className="toggle" onClick={(e) => (e.stopPropagation(), data.toggle())} aria-label={`Collapse group ${data.label}`}>
          ▾
        </button>
        <span className="label">{data.label}</span>
        <GroupCounts counts={data.counts} />
      </div>
    </div>
  );
});

/**
 * Where a node's two handles are, given up front: xyflow otherwise renders every node once to measure
 * them, which on a 10,000-node graph defeats onlyRenderVisibleElements and costs seconds.
 */
function handlesOf(width: number, height: number): NonNullable<Node["handles"]> {
  return [
    { type: "target", position: Position.Left, x: -3, y: height / 2 - 3, width: 6, height: 6 },
    { type: "source", position: Position.Right, x: width - 3, y: height / 2 - 3, width: 6, height: 6 },
  ];
}

const nodeTypes = { task: TaskNodeView, group: GroupNodeView, container: ContainerNodeView };
