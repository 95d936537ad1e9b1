/** Assets: the list, and for one asset its producers, consumers, recent events and lineage graph. */
import { useEffect, useMemo, useState } from "react";
import { ReactFlow, type Edge, type Node } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { api } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { layout } from "../graph/layoutClient";
import type { LayoutResult } from "../graph/layout";
import { useData } from "../hooks";
import { Link } from "../router";

export function AssetsPage({ name }: { name?: string }) {
  const assets = useData(() => api.assets({ limit: 500 }), "assets", 10000);
  return (
    <div className="page assets-page">
      <div className="asset-list">
        <h2>Assets</h2>
        {assets.error && <ErrorBox error={assets.error} />}
        <ul>
          {assets.data?.items.map((a) => (
            <li key={a.name} className={a.name === name ? "selected" : ""}>
              <Link to={`/assets/${encodeURIComponent(a.name)}`}>{a.name}</Link>
            </li>
          ))}
          {assets.data && assets.data.items.length === 0 && <li className="muted">No assets yet.</li>}
        </ul>
      </div>
      <div className="asset-detail">{name ? <AssetDetail name={name} /> : <Lineage />}</div>
    </div>
  );
}

function AssetDetail({ name }: { name: string }) {
  const a = useData(() => api.asset(name), `asset|${name}`, 5000);
  if (a.error) return <ErrorBox error={a.error} />;
  if (!a.data) return <p className="muted">Loading…</p>;
  return (
    <>
      <h3>{a.data.name}</h3>
      <Lineage asset={name} />
      <h4>Producers</h4>
      <pre className="preview">{JSON.stringify(a.data.producers, null, 2)}</pre>
      <h4>Consumers</h4>
      <pre className="preview">{JSON.stringify(a.data.consumers, null, 2)}</pre>
      <h4>Events</h4>
      <pre className="preview">{JSON.stringify(a.data.events, null, 2)}</pre>
    </>
  );
}

function Lineage({ asset }: { asset?: string }) {
  const g = useData(() => api.lineage(asset), `lineage|${asset ?? ""}`);
  const [placed, setPlaced] = useState<LayoutResult | null>(null);
  const edges = useMemo(
    () => (g.data?.edges ?? []).map((e, i) => ({ id: `e${i}`, source: e.from, target: e.to })).filter((e) => e.source && e.target),
    [g.data],
  );
  useEffect(() => {
    if (!g.data) return;
    const nodes = g.data.nodes.map((n) => ({ id: n.id, width: 200, height: 40, parent: null }));
    void layout(`lineage|${asset ?? ""}|${JSON.stringify(g.data)}`, { nodes, edges, direction: "RIGHT" }).then(setPlaced);
  }, [g.data, edges, asset]);
  const nodes = useMemo<Node[]>(
    () =>
      (g.data?.nodes ?? []).map((n) => ({
        id: n.id,
        position: placed?.positions[n.id] ?? { x: 0, y: 0 },
        data: { label: n.kind === "dag" ? `DAG ${n.name}` : n.name },
        className: `lineage-node ${n.kind}${n.kind === "asset" && n.name === asset ? " selected" : ""}`,
        draggable: false,
      })),
    [g.data, placed, asset],
  );
  if (g.error) return <ErrorBox error={g.error} />;
  if (!g.data || !placed) return <p className="muted">Loading the lineage…</p>;
  if (nodes.length === 0) return <p className="muted">No lineage yet.</p>;
  return (
    <div className="lineage" data-testid="lineage">
      <ReactFlow nodes={nodes} edges={edges as Edge[]} fitView nodesConnectable={false} proOptions={{ hideAttribution: true }} />
    </div>
  );
}
