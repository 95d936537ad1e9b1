/**
 * The DAG's graph: an elk layered layout (in a Web Worker, cached) drawn by @xyflow/react, task states of
 * the selected run as colours and symbols, each task's type and duration, collapsible groups (large DAGs
 * open collapsed) and mapped tasks with their instance counts; zoom/fit controls, a minimap and a legend.
 *
 * It fits the view when it opens and whenever its box changes size (the window, or the task panel
 * opening beside it) until the user pans or zooms; with a task selected, that task is centred instead, so
 * opening the panel never hides the node it is about. Only nodes in the viewport are rendered
 * (onlyRenderVisibleElements), and a graph of more than FIT_BELOW_NODES visible nodes opens at its start
 * instead of fitted (fitting would render every node; the Fit button still does it on demand).
 */
import { memo, useEffect, useMemo, useRef, useState, type RefObject } from "react";
import {
  Controls,
  Handle,
  MarkerType,
  MiniMap,
  Position,
  getViewportForBounds,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type DefaultEdgeOptions,
  type Edge,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import type { Structure, TaskNode } from "../api";
import { fmtDuration } from "../format";
import { interimLayout, layout } from "../graph/layoutClient";
import type { LayoutResult } from "../graph/layout";
import { COLLAPSE_ABOVE_TASKS, visibleGraph } from "../graph/model";
import { StateLegend, stateColor, stateIcon, stateInk } from "./StateBadge";

/** A task's state in the selected run; mapped tasks carry one count per state of their instances. */
export interface TaskStatus {
  state: string;
  counts?: Record<string, number>;
  instances?: number;
  /** How long it ran (a mapped task: from its first start to its last end); running: so far. */
  durationMs?: number | null;
}

interface TaskData extends Record<string, unknown> {
  label: string;
  /** in-process, process, shell, python, sensor, branch, short-circuit. */
  type: string;
  durationMs: number | null | undefined;
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

/** What a task runs as, in the words its DSL uses. */
export function taskType(t: TaskNode): string {
  if (t.kind === "task") return t.isolation === "process" ? "process" : "in-process";
  return t.kind.replace(/_/g, "-");
}

export function GraphView(props: { structure: Structure; statuses: Map<string, TaskStatus>; selectedTask: string | null; onSelect: (taskId: string) => void }) {
  return (
    <ReactFlowProvider>
      <Graph {...props} />
    </ReactFlowProvider>
  );
}

function Graph({
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
  const [placed, setPlaced] = useState<{ key: string; result: LayoutResult; interim?: boolean } | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    const req = { nodes: graph.nodes, edges: graph.edges, direction: "RIGHT" as const };
    const interim = interimLayout(req);
    if (interim) setPlaced({ key: layoutKey, result: interim, interim: true });
    layout(layoutKey, req).then(
      (result) => alive && setPlaced({ key: layoutKey, result }),
      (e: Error) => alive && setError(e.message),
    );
    return () => {
      alive = false;
    };
  }, [layoutKey, graph]);

  // the group just expanded or collapsed: brought into view once the new layout is drawn
  const toggled = useRef<string | null>(null);
  const toggle = useMemo(
    () => (id: string) => {
      toggled.current = id;
      setCollapsed((c) => {
        const n = new Set(c);
        if (n.has(id)) n.delete(id);
        else n.add(id);
        return n;
      });
    },
    [],
  );

  const taskById = useMemo(() => new Map(structure.tasks.map((t) => [t.id, t])), [structure]);
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
        const spec = taskById.get(n.id);
        const data: TaskData = {
          label,
          type: spec ? taskType(spec) : "",
          durationMs: s?.durationMs,
          state: s?.state,
          mapped: spec?.mapped ?? false,
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
  }, [placed, graph, statuses, selectedTask, taskById, toggle]);

  const edges = useMemo<Edge[]>(() => graph.edges.map((e) => ({ id: e.id, source: e.source, target: e.target })), [graph]);
  const large = graph.nodes.length > FIT_BELOW_NODES;
  const ready = placed !== null && placed.key === layoutKey;
  const box = useRef<HTMLDivElement>(null);
  const fit = useViewFollowsBox(box, ready, large, selectedTask, graph.shownAs, nodes, placed?.result ?? null);
  const flow = useReactFlow();
  useEffect(() => {
    const id = toggled.current;
    const el = box.current;
    if (!ready || id === null || !el) return;
    toggled.current = null;
    requestAnimationFrame(() => {
      const n = flow.getInternalNode(id);
      if (!n) return;
      const zoom = flow.getZoom();
      const { x, y } = n.internals.positionAbsolute;
      const w = n.width ?? 0;
      const h = n.height ?? 0;
      // a tall expanded group: its head at the top of the view, else the whole group centred
      const cy = h * zoom < el.clientHeight ? y + h / 2 : y + el.clientHeight / zoom / 2 - 20;
      void flow.setCenter(x + w / 2, cy, { zoom });
    });
  }, [placed, ready, flow]);

  if (error) return <p className="error">{error}</p>;
  if (!ready) return <div className="graph loading" data-testid="graph-loading">Laying out {graph.nodes.length} nodes…</div>;
  return (
    <div className="graph-view">
      <div className="graph" ref={box} data-testid="graph" data-nodes={nodes.length} data-interim={placed?.interim ? "" : undefined}>
        <ReactFlow
          nodes={nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          defaultEdgeOptions={EDGE_OPTIONS}
          onlyRenderVisibleElements
          nodesDraggable={false}
          nodesConnectable={false}
          minZoom={MIN_ZOOM}
          maxZoom={2}
          defaultViewport={{ x: 20, y: 20, zoom: 0.8 }}
          onNodeClick={(_, n) => n.type === "task" && onSelect(n.id)}
          proOptions={{ hideAttribution: true }}
        >
          <Controls showInteractive={false} onFitView={fit} aria-label="Zoom and fit" />
          {nodes.length <= MINIMAP_MAX_NODES && <MiniMap pannable zoomable nodeColor={miniColor} nodeStrokeWidth={0} ariaLabel="Minimap of the graph" />}
        </ReactFlow>
      </div>
      <StateLegend />
    </div>
  );
}

/**
 * The minimap draws every node (an SVG rect each, not virtualised): on the flat 10,000-node graph it
 * took the first render from ~1.6 s to ~6.5 s (ui-10000). Above this many visible nodes there is none.
 */
const MINIMAP_MAX_NODES = 2000;
const FIT_PADDING = 0.06;
const FIT_MAX_ZOOM = 1;
const MIN_ZOOM = 0.05;
/** Below this zoom node labels cannot be read: a graph that needs less opens at its start instead. */
const READABLE_ZOOM = 0.3;

/**
 * The viewport that shows every top-level node (containers hold their children), from the layout's own
 * positions. xyflow's fitView() is not used: it waits for a node change that a read-only controlled flow
 * never makes (xyflow 12.12 queues the fit until the next setNodes), and it leaves out nodes that were
 * never rendered (onlyRenderVisibleElements), which here are exactly the ones off screen.
 */
function fitViewport(nodes: readonly Node[], width: number, height: number) {
  let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
  for (const n of nodes) {
    if (n.parentId) continue;
    x1 = Math.min(x1, n.position.x);
    y1 = Math.min(y1, n.position.y);
    x2 = Math.max(x2, n.position.x + (n.width ?? 0));
    y2 = Math.max(y2, n.position.y + (n.height ?? 0));
  }
  if (!Number.isFinite(x1)) return null;
  const vp = getViewportForBounds({ x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, width, height, MIN_ZOOM, FIT_MAX_ZOOM, FIT_PADDING);
  if (vp.zoom >= READABLE_ZOOM) return vp;
  // too long to fit readably (a chain of 100 collapsed groups): its start, as large as can still be read,
  // centred across the flow where it fits (the minimap shows the rest)
  const z = READABLE_ZOOM;
  const across = (y2 - y1) * z;
  return { x: 16 - x1 * z, y: across <= height ? (height - across) / 2 - y1 * z : 16 - y1 * z, zoom: z };
}
const EDGE_OPTIONS: DefaultEdgeOptions = { markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16, color: "#8a93a6" }, style: { stroke: "#8a93a6", strokeWidth: 1.3 } };

function miniColor(n: Node): string {
  if (n.type === "container") return "rgba(200,206,220,.35)";
  if (n.type === "group") return "#c9d0de";
  return stateColor((n.data as TaskData).state) === "transparent" ? "#d6d6d6" : stateColor((n.data as TaskData).state);
}

/**
 * Fit on open and on every change of the graph's box, until the user moves the view; with a task
 * selected, centre it (the panel opening beside the graph is such a change). A large graph is not fitted
 * on its own (FIT_BELOW_NODES), but still centres a selected task.
 */
function useViewFollowsBox(
  box: RefObject<HTMLDivElement | null>,
  ready: boolean,
  large: boolean,
  selected: string | null,
  shownAs: Map<string, string>,
  nodes: readonly Node[],
  placed: LayoutResult | null,
) {
  const flow = useReactFlow();
  const moved = useRef(false);
  const fit = () => {
    const el = box.current;
    const vp = el && fitViewport(nodes, el.clientWidth, el.clientHeight);
    if (vp) void flow.setViewport(vp);
  };
  const follow = useRef(() => {});
  follow.current = () => {
    const target = selected === null ? null : (shownAs.get(selected) ?? selected);
    const n = target === null ? undefined : flow.getInternalNode(target);
    if (n) {
      const { x, y } = n.internals.positionAbsolute;
      const w = n.width ?? n.measured.width ?? 0;
      const h = n.height ?? n.measured.height ?? 0;
      void flow.setCenter(x + w / 2, y + h / 2, { zoom: Math.max(flow.getZoom(), 0.6) });
    } else if (!moved.current && !large) fit();
  };
  useEffect(() => {
    const el = box.current;
    if (!ready || !el) return;
    // a user's pan or zoom (wheel, drag, the controls) stops the automatic fit
    const stop = () => (moved.current = true);
    el.addEventListener("wheel", stop, { passive: true });
    el.addEventListener("pointerdown", stop);
    let frame = 0;
    const ro = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => follow.current());
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      cancelAnimationFrame(frame);
      el.removeEventListener("wheel", stop);
      el.removeEventListener("pointerdown", stop);
    };
  }, [ready, box]);
  // a new layout (elk's replacing the interim one, a group toggled) is followed like a new size
  useEffect(() => {
    if (ready && placed) requestAnimationFrame(() => follow.current());
  }, [ready, placed]);
  // a newly selected task (a click in the graph, the grid or a link) is brought into view
  useEffect(() => {
    if (ready && selected !== null) requestAnimationFrame(() => follow.current());
  }, [ready, selected]);
  return fit;
}

const TaskNodeView = memo(function TaskNodeView({ data }: NodeProps<Node<TaskData>>) {
  const counts = data.counts ? Object.entries(data.counts).filter(([, n]) => n > 0) : [];
  const state = data.state ?? "none";
  return (
    <div
      className={`gnode task${data.selected ? " selected" : ""}`}
      data-state={state}
      title={`${data.label}\n${data.type}${data.state ? ` · ${data.state.replace(/_/g, " ")}` : ""}`}
      style={{ borderLeftColor: stateColor(data.state) }}
    >
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <span className="state-mark" style={{ background: stateColor(data.state), color: stateInk(data.state) }} aria-label={state.replace(/_/g, " ")}>
        {stateIcon(state)}
      </span>
      <span className="node-text">
        <span className="label">{data.label}</span>
        <span className="meta">
          <span className="type">{data.type}</span>
          {data.durationMs !== undefined && data.durationMs !== null && <span className="duration"> · {fmtDuration(data.durationMs)}</span>}
        </span>
      </span>
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
          <span key={s} className="count" title={s} style={{ background: stateColor(s), color: stateInk(s) }}>
            {stateIcon(s)}
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
