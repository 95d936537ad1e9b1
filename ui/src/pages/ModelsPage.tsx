/**
 * The model registry: models with their latest version and aliases; one model's versions (metrics, lineage
 * to the run that registered each), its aliases with their history, and its approvals — pending ones with
 * Approve / Reject for operators (the waiting gate moves the alias, or is skipped). Operators can also roll
 * an alias back. Everything shown is React text: names, reasons and comments come from anyone.
 */
import { useState } from "react";
import type { Approval, ModelDetail } from "../api";
import { useSession } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { fmtTime } from "../format";
import { useDecideApproval } from "../queries/useDecideApproval";
import { useGetModel } from "../queries/useGetModel";
import { useListModels } from "../queries/useListModels";
import { useMoveAlias } from "../queries/useMoveAlias";
import { Link } from "../router";

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(6).replace(/\.?0+$/, ""));

export function ModelsPage({ name }: { name?: string }) {
  const list = useListModels();
  const items = list.data?.items ?? [];
  return (
    <div className="page">
      <h2>Models</h2>
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="models">
        <thead>
          <tr>
            <th>Model</th>
            <th>Latest</th>
            <th>Aliases</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {items.map((m) => (
            <tr key={m.name} data-testid="model" data-name={m.name}>
              <td>
                <Link to={`/models/${encodeURIComponent(m.name)}`}>{m.name}</Link>
              </td>
              <td>v{m.latestVersion}</td>
              <td>
                {Object.entries(m.aliases).map(([a, v]) => (
                  <span key={a} className="badge badge-alias" style={{ marginRight: 4 }}>
                    {a} → v{v}
                  </span>
                ))}
              </td>
              <td className="small">{fmtTime(m.updatedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && items.length === 0 && <p className="muted">No models yet: a task registers one with ctx.models.register(name, {"{ artifact, flavor, metrics }"}).</p>}
      {name && <ModelView name={name} />}
    </div>
  );
}

function ModelView({ name }: { name: string }) {
  const q = useGetModel(name);
  const role = useSession().user.role;
  const canOperate = role === "operator" || role === "admin";
  if (q.error) return <ErrorBox error={q.error} />;
  const m = q.data;
  if (!m) return <p className="muted">Loading {name}…</p>;
  const held = new Map<number, string[]>();
  for (const [a, v] of Object.entries(m.aliases)) held.set(v, [...(held.get(v) ?? []), a]);
  const metricNames = [...new Set(m.versions.flatMap((v) => Object.keys(v.metrics)))].sort();
  const pending = m.approvals.filter((a) => a.state === "pending");
  return (
    <section data-testid="model-detail">
      <h3>{m.name}</h3>
      <h4>Pending approvals</h4>
      {pending.length === 0 ? <p className="muted">None.</p> : pending.map((a) => <ApprovalCard key={a.id} a={a} canOperate={canOperate} />)}
      <h4>Aliases</h4>
      <Aliases m={m} canOperate={canOperate} />
      <h4>Versions</h4>
      <table className="list" data-testid="model-versions">
        <thead>
          <tr>
            <th>Version</th>
            <th>Aliases</th>
            {metricNames.map((n) => (
              <th key={n}>{n}</th>
            ))}
            <th>Framework</th>
            <th>Registered by</th>
            <th>Inputs</th>
            <th>When</th>
          </tr>
        </thead>
        <tbody>
          {m.versions.map((v) => (
            <tr key={v.version} data-testid="model-version" data-version={v.version}>
              <td>v{v.version}</td>
              <td>{(held.get(v.version) ?? []).join(", ")}</td>
              {metricNames.map((n) => (
                <td key={n}>{v.metrics[n] === undefined ? "" : fmt(v.metrics[n])}</td>
              ))}
              <td>{v.framework ?? ""}</td>
              <td className="small">
                <Link to={`/runs/${encodeURIComponent(v.runId)}`}>{v.dagId}</Link> / <code>{v.mapIndex >= 0 ? `${v.taskId}[${v.mapIndex}]` : v.taskId}</code>
                <div className="muted">{v.runId}</div>
              </td>
              <td className="small">{(v.inputEvents ?? []).map((e) => e.asset).join(", ")}</td>
              <td className="small">{fmtTime(v.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h4>Alias history</h4>
      <table className="list" data-testid="alias-history">
        <thead>
          <tr>
            <th>When</th>
            <th>Alias</th>
            <th>From</th>
            <th>To</th>
            <th>How</th>
            <th>By</th>
            <th>Reason</th>
          </tr>
        </thead>
        <tbody>
          {m.history.map((h) => (
            <tr key={h.id} data-testid="alias-move">
              <td className="small">{fmtTime(h.at)}</td>
              <td>{h.alias}</td>
              <td>{h.fromVersion === null ? "—" : `v${h.fromVersion}`}</td>
              <td>v{h.toVersion}</td>
              <td>{h.kind}</td>
              <td>{h.actor}</td>
              <td className="small">{h.reason ?? ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function Aliases({ m, canOperate }: { m: ModelDetail; canOperate: boolean }) {
  const move = useMoveAlias(m.name);
  const entries = Object.entries(m.aliases);
  if (entries.length === 0) return <p className="muted">No aliases yet (a gate, or sluice models promote).</p>;
  return (
    <>
      {move.error && <ErrorBox error={move.error} />}
      <ul data-testid="aliases">
        {entries.map(([alias, version]) => (
          <li key={alias} data-testid="alias" data-alias={alias}>
            <strong>{alias}</strong> → v{version}{" "}
            {canOperate && (
              <button type="button" disabled={move.isPending} onClick={() => move.mutate({ kind: "rollback", alias })}>
                Roll back {alias}
              </button>
            )}
          </li>
        ))}
      </ul>
    </>
  );
}

function ApprovalCard({ a, canOperate }: { a: Approval; canOperate: boolean }) {
  const decide = useDecideApproval();
  const [comment, setComment] = useState("");
  return (
    <div className="card" data-testid="approval" data-id={a.id}>
      <p>
        #{a.id}: promote <strong>v{a.version}</strong> to <strong>{a.alias}</strong> (now {a.fromVersion === null ? "none" : `v${a.fromVersion}`}), asked by gate <code>{a.taskId}</code> of{" "}
        <Link to={`/runs/${encodeURIComponent(a.runId)}`}>{a.dagId}</Link> at {fmtTime(a.requestedAt)}
      </p>
      <table className="list small">
        <thead>
          <tr>
            <th>Metric</th>
            <th>Candidate</th>
            <th>Champion</th>
            <th>Threshold</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {a.comparison.checks.map((c) => (
            <tr key={c.metric}>
              <td>{c.metric}</td>
              <td>{c.candidate === null ? "—" : fmt(c.candidate)}</td>
              <td>{c.champion === null ? "—" : fmt(c.champion)}</td>
              <td>{c.threshold}</td>
              <td>{c.passed ? "ok" : "FAIL"}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {canOperate && (
        <div className="filters">
          <input aria-label={`comment on approval ${a.id}`} placeholder="comment (optional)" value={comment} onChange={(e) => setComment(e.target.value)} />
          <button type="button" disabled={decide.isPending} onClick={() => decide.mutate({ id: a.id, decision: "approve", comment: comment || null })}>
            Approve
          </button>
          <button type="button" disabled={decide.isPending} onClick={() => decide.mutate({ id: a.id, decision: "reject", comment: comment || null })}>
            Reject
          </button>
        </div>
      )}
      {decide.error && <ErrorBox error={decide.error} />}
    </div>
  );
}
