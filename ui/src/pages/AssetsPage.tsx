/**
 * Assets: the list, and for one asset its lineage graph, producers, consumers and recent events as tables.
 * The lineage graph is an elk layered layout from left (producers) to right (consumers) with edges from a
 * node's right side to the next node's left side, so no edge loops around a node; asset nodes show their
 * last update and the run that made it, DAG nodes their latest run.
 */
import { memo, useEffect, useMemo, useState } from "react";
import { Controls, Handle, MarkerType, Position, ReactFlow, type Edge, type Node, type NodeProps } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { type AssetDetail as AssetInfo, type LineageNode } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { StateBadge, StateDot } from "../components/StateBadge";
import { fmtTime } from "../format";
import { layout } from "../graph/layoutClient";
import type { LayoutResult } from "../graph/layout";
import { useGetAsset } from "../queries/useGetAsset";
import { useGetLineage } from "../queries/useGetLineage";
import { useListAssets } from "../queries/useListAssets";
import { Link, navigate } from "../router";

const NODE_W = 230;
const NODE_H = 64;

export function AssetsPage({ name }: { name?: string }) {
  const assets = useListAssets();
  return (
    <div className="page assets-page">
      <div className="asset-list">
        <h2>Assets</h2>
        {assets.error && <ErrorBox error={assets.error} />}
        <ul>
          {assets.data?.items.map((a) => (
            <li key={a.name} className={a.name === name ? "selected" : ""}>
              <Link to={assetPath(a.name)}>{a.name}</Link>
            </li>
          ))}
          {assets.data && assets.data.items.length === 0 && <li className="muted">No assets yet.</li>}
        </ul>
      </div>
      <div className="asset-detail">{name ? <AssetDetail name={name} /> : <Lineage />}</div>
    </div>
  );
}

const assetPath = (name: string) => `/assets/${encodeURIComponent(name)}`;
const dagPath = (dagId: string) => `/dags/${encodeURIComponent(dagId)}`;
const runPath = (dagId: string, runId: string, taskId?: string | null) =>
  `${dagPath(dagId)}?run=${encodeURIComponent(runId)}${taskId ? `&task=${encodeURIComponent(taskId)}` : ""}`;

function AssetDetail({ name }: { name: string }) {
  const a = useGetAsset(name);
  if (a.error) return <ErrorBox error={a.error} />;
  if (!a.data) return <p className="muted">Loading…</p>;
  const d: AssetInfo = a.data;
  return (
    <>
      <h3 data-testid="asset-title">{d.name}</h3>
      <p className="muted small">
        created {fmtTime(d.createdAt)} · last updated {fmtTime(d.lastEventAt)}
      </p>
      <Lineage asset={name} />
      <h4>Producers</h4>
      {d.producers.length === 0 ? (
        <p className="muted">No DAG declares that it produces this asset.</p>
      ) : (
        <table className="list" data-testid="asset-producers">
          <thead>
            <tr>
              <th>DAG</th>
              <th>Task</th>
            </tr>
          </thead>
          <tbody>
            {d.producers.map((p) => (
              <tr key={`${p.dagId}\0${p.taskId}`}>
                <td>
                  <Link to={dagPath(p.dagId)}>{p.dagId}</Link>
                </td>
                <td>
                  <Link to={`${dagPath(p.dagId)}?task=${encodeURIComponent(p.taskId)}`}>{p.taskId}</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h4>Consumers</h4>
      {d.consumers.length === 0 ? (
        <p className="muted">No DAG is scheduled on this asset.</p>
      ) : (
        <table className="list" data-testid="asset-consumers">
          <thead>
            <tr>
              <th>DAG</th>
            </tr>
          </thead>
          <tbody>
            {d.consumers.map((c) => (
              <tr key={c}>
                <td>
                  <Link to={dagPath(c)}>{c}</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h4>Events</h4>
      {d.events.length === 0 ? (
        <p className="muted">Never updated.</p>
      ) : (
        <table className="list" data-testid="asset-events">
          <thead>
            <tr>
              <th>When</th>
              <th>DAG</th>
              <th>Run</th>
              <th>Task</th>
              <th>Metadata</th>
            </tr>
          </thead>
          <tbody>
            {d.events.map((e) => (
              <tr key={e.eventId}>
                <td>{fmtTime(e.createdAt)}</td>
                <td>{e.dagId ? <Link to={dagPath(e.dagId)}>{e.dagId}</Link> : <span className="muted">external</span>}</td>
                <td>{e.dagId && e.runId ? <Link to={runPath(e.dagId, e.runId)}>{e.runId}</Link> : "—"}</td>
                <td>
                  {e.dagId && e.runId && e.taskId ? <Link to={runPath(e.dagId, e.runId, e.taskId)}>{(e.mapIndex ?? -1) >= 0 ? `${e.taskId}[${e.mapIndex}]` : e.taskId}</Link> : (e.taskId ?? "—")}
                </td>
                <td>
                  <Metadata value={e.metadata} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

/** An event's metadata: key/value pairs inline, anything deeper as compact JSON. */
function Metadata({ value }: { value: unknown }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  if (typeof value !== "object" || Array.isArray(value)) return <code>{JSON.stringify(value)}</code>;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <span className="metadata">
      {entries.map(([k, v]) => (
        <span key={k} className="tag">
          {k}: {typeof v === "string" ? v : JSON.stringify(v)}
        </span>
      ))}
    </span>
  );
}

interface LineageData extends Record<string, unknown> {
  node: LineageNode;
  selected: boolean;
}

function Lineage({ asset }: { asset?: string }) {
  const g = useGetLineage(asset);
  const [placed, setPlaced] = useState<{ key: string; result: LayoutResult } | null>(null);
  const edges = useMemo<Edge[]>(
    () => (g.data?.edges ?? []).map((e) => ({ id: `${e.from}\0${e.to}`, source: e.from, target: e.to, markerEnd: { type: MarkerType.ArrowClosed, color: "#8a93a6" }, style: { stroke: "#8a93a6" } })),
    [g.data],
  );
  // the layout depends on the shape only: node details (last update) change without a new layout
  const shape = useMemo(() => (g.data ? `${g.data.nodes.map((n) => n.id).join("\n")}\n\n${edges.map((e) => e.id).join("\n")}` : null), [g.data, edges]);
  useEffect(() => {
    if (!g.data || shape === null) return;
    const nodes = g.data.nodes.map((n) => ({ id: n.id, width: NODE_W, height: NODE_H, parent: null }));
    const key = `lineage|${shape}`;
    let alive = true;
    void layout(key, { nodes, edges: edges.map((e) => ({ id: e.id, source: e.source, target: e.target })), direction: "RIGHT" }).then((result) => alive && setPlaced({ key, result }));
    return () => {
      alive = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- laid out again only when the shape changes
  }, [shape]);
  const nodes = useMemo<Node[]>(
    () =>
      (g.data?.nodes ?? []).map((n) => ({
        id: n.id,
        type: "lineage",
        position: placed?.result.positions[n.id] ?? { x: 0, y: 0 },
        width: NODE_W,
        height: NODE_H,
        data: { node: n, selected: n.kind === "asset" && n.name === asset } satisfies LineageData,
        draggable: false,
      })),
    [g.data, placed, asset],
  );
  if (g.error) return <ErrorBox error={g.error} />;
  if (!g.data || !placed) return <p className="muted">Loading the lineage…</p>;
  if (nodes.length === 0) return <p className="muted">No lineage yet.</p>;
  return (
    <div className="lineage" data-testid="lineage">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={lineageTypes}
        fitView
        fitViewOptions={{ maxZoom: 1, padding: 0.1 }}
        nodesConnectable={false}
        nodesDraggable={false}
        onNodeClick={(_, n) => {
          const l = (n.data as LineageData).node;
          navigate(l.kind === "asset" ? assetPath(l.name) : dagPath(l.name));
        }}
        proOptions={{ hideAttribution: true }}
      >
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

const LineageNodeView = memo(function LineageNodeView({ data }: NodeProps<Node<LineageData>>) {
  const n = data.node;
  return (
    <div className={`lnode ${n.kind}${data.selected ? " selected" : ""}`} data-testid="lineage-node" data-kind={n.kind} data-name={n.name} title={n.name}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <div className="lnode-title">
        <span className="lnode-kind">{n.kind === "asset" ? "◆ asset" : "▣ DAG"}</span> <span className="label">{n.name}</span>
      </div>
      {n.kind === "asset" ? (
        n.lastEvent ? (
          <div className="lnode-meta" data-testid="lineage-last-update" data-run={n.lastEvent.runId ?? ""} title={n.lastEvent.runId ? `run ${n.lastEvent.runId}${n.lastEvent.runState ? ` (${n.lastEvent.runState})` : ""}` : undefined}>
            {n.lastEvent.runState && <StateDot state={n.lastEvent.runState} />}
            updated {fmtTime(n.lastEvent.at)}
            {n.lastEvent.dagId && (
              <div className="muted">
                by {n.lastEvent.dagId}
                {n.lastEvent.taskId ? `.${n.lastEvent.taskId}` : ""}
              </div>
            )}
          </div>
        ) : (
          <div className="lnode-meta muted">never updated</div>
        )
      ) : n.lastRun ? (
        <div className="lnode-meta">
          <StateBadge state={n.lastRun.state} /> {fmtTime(n.lastRun.logicalDate)}
        </div>
      ) : (
        <div className="lnode-meta muted">no runs yet</div>
      )}
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
});

const lineageTypes = { lineage: LineageNodeView };
