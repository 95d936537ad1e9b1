/** The DAG list: search and filters (kept in the URL), schedule, next run, last runs, pause toggle, import errors. */
import { useEffect, useState } from "react";
import { api, type DagSummary } from "../api";
import { useCanOperate } from "../auth";
import { StateDot } from "../components/StateBadge";
import { ErrorBox } from "../components/ErrorBox";
import { fmtTime } from "../format";
import { useListDags, invalidateDags } from "../queries/useListDags";
import { useListImportErrors } from "../queries/useListImportErrors";
import { useListTypeErrors } from "../queries/useListTypeErrors";
import { Link, navigate, useLocation, withQuery } from "../router";

export function DagList() {
  const loc = useLocation();
  const f = {
    q: loc.query.get("q") ?? "",
    tag: loc.query.get("tag") ?? "",
    owner: loc.query.get("owner") ?? "",
    state: loc.query.get("state") ?? "",
    paused: loc.query.get("paused") ?? "",
  };
  const [search, setSearch] = useState(f.q);
  // search as you type, without a request per key stroke
  useEffect(() => {
    if (search === f.q) return;
    const t = setTimeout(() => navigate(withQuery(loc, { q: search || null }), { replace: true }), 250);
    return () => clearTimeout(t);
  }, [search]); // eslint-disable-line react-hooks/exhaustive-deps -- on typing only: a navigation changes f.q and loc, and must not be undone

  const [extra, setExtra] = useState<{ key: string; items: DagSummary[]; cursor: string | null } | null>(null);
  const key = JSON.stringify(f);
  const first = useListDags(f);
  const errors = useListImportErrors();
  const typeErrors = useListTypeErrors();
  const items = [...(first.data?.items ?? []), ...(extra?.key === key ? extra.items : [])];
  const nextCursor = extra?.key === key ? extra.cursor : (first.data?.nextCursor ?? null);
  const loadMore = async () => {
    if (!nextCursor) return;
    const page = await api.dags({ ...f, limit: 100, cursor: nextCursor });
    setExtra({ key, items: [...(extra?.key === key ? extra.items : []), ...page.items], cursor: page.nextCursor });
  };

  const setFilter = (k: string, v: string) => navigate(withQuery(loc, { [k]: v || null }), { replace: true });
  const tags = [...new Set(items.flatMap((d) => d.tags))].sort();
  const owners = [...new Set(items.map((d) => d.owner).filter((o): o is string => !!o))].sort();

  return (
    <div className="page">
      <h2>DAGs</h2>
      {errors.data && errors.data.items.length > 0 && (
        <details className="import-errors" open>
          <summary>
            {errors.data.items.length} import error{errors.data.items.length === 1 ? "" : "s"}
          </summary>
          <ul>
            {errors.data.items.map((e) => (
              <li key={`${e.file}:${e.line ?? ""}`}>
                <code>
                  {e.file}
                  {e.line ? `:${e.line}` : ""}
                </code>{" "}
                <pre>{e.message}</pre>
              </li>
            ))}
          </ul>
        </details>
      )}
      {typeErrors.data && typeErrors.data.total > 0 && (
        <details className="import-errors type-errors" open>
          <summary>
            {typeErrors.data.total} type error{typeErrors.data.total === 1 ? "" : "s"} <small>(the code still runs; `sluice dags check` lists them too)</small>
          </summary>
          <ul>
            {typeErrors.data.items.map((e) => (
              <li key={`${e.file}:${e.line}:${e.column}:${e.code}`}>
                <code>
                  {e.file}:{e.line}:{e.column}
                </code>{" "}
                TS{e.code} <pre>{e.message}</pre>
              </li>
            ))}
          </ul>
        </details>
      )}
      <div className="filters">
        <input type="search" placeholder="Search DAGs" aria-label="Search DAGs" value={search} onChange={(e) => setSearch(e.target.value)} />
        <select aria-label="Tag" value={f.tag} onChange={(e) => setFilter("tag", e.target.value)}>
          <option value="">All tags</option>
          {[...new Set([...tags, f.tag].filter(Boolean))].map((t) => (
            <option key={t}>{t}</option>
          ))}
        </select>
        <select aria-label="Owner" value={f.owner} onChange={(e) => setFilter("owner", e.target.value)}>
          <option value="">All owners</option>
          {[...new Set([...owners, f.owner].filter(Boolean))].map((o) => (
            <option key={o}>{o}</option>
          ))}
        </select>
        <select aria-label="Last run state" value={f.state} onChange={(e) => setFilter("state", e.target.value)}>
          <option value="">Any state</option>
          {["success", "failed", "running", "queued"].map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <select aria-label="Paused" value={f.paused} onChange={(e) => setFilter("paused", e.target.value)}>
          <option value="">Active and paused</option>
          <option value="false">Active</option>
          <option value="true">Paused</option>
        </select>
      </div>
      {first.error && <ErrorBox error={first.error} />}
      <table className="list" data-testid="dag-list">
        <thead>
          <tr>
            <th>Active</th>
            <th>DAG</th>
            <th>Owner</th>
            <th>Tags</th>
            <th>Schedule</th>
            <th>Next run</th>
            <th>Last runs</th>
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <DagRow key={d.dagId} dag={d} onChange={() => void invalidateDags(d.dagId)} />
          ))}
          {!first.isPending && items.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No DAGs match.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {nextCursor && (
        <button type="button" onClick={() => void loadMore()}>
          More DAGs
        </button>
      )}
    </div>
  );
}

function DagRow({ dag, onChange }: { dag: DagSummary; onChange: () => void }) {
  const canOperate = useCanOperate();
  const [busy, setBusy] = useState(false);
  const toggle = async () => {
    setBusy(true);
    try {
      await api.setPaused(dag.dagId, !dag.paused);
      onChange();
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-dag={dag.dagId}>
      <td>
        <input
          type="checkbox"
          role="switch"
          aria-label={`Active: ${dag.dagId}`}
          checked={!dag.paused}
          disabled={!canOperate || busy}
          title={canOperate ? (dag.paused ? "Paused: click to unpause" : "Active: click to pause") : "Viewers cannot pause DAGs"}
          onChange={() => void toggle()}
        />
      </td>
      <td>
        <Link to={`/dags/${encodeURIComponent(dag.dagId)}`} className="dag-link">
          {dag.dagId}
        </Link>
        {dag.hasImportError && <span className="warn" title="The DAG's file has an import error"> ⚠</span>}
        {dag.deadlineMisses && dag.deadlineMisses.runs > 0 && (
          <span
            className="badge badge-warning"
            data-testid="dag-deadline-missed"
            title={`${dag.deadlineMisses.runs} run(s) missed a deadline; last ${fmtTime(dag.deadlineMisses.lastMissedAt)}`}
          >
            {" "}
            deadline missed ×{dag.deadlineMisses.runs}
          </span>
        )}
        {dag.description && <div className="muted small">{dag.description}</div>}
      </td>
      <td>{dag.owner ?? ""}</td>
      <td>
        {dag.tags.map((t) => (
          <span key={t} className="tag">
            {t}
          </span>
        ))}
      </td>
      <td>
        <code>{dag.schedule ?? "manual"}</code>
        {dag.timezone && dag.timezone !== "UTC" ? <span className="muted small"> {dag.timezone}</span> : null}
      </td>
      <td>{fmtTime(dag.nextRunAt)}</td>
      <td className="marks">
        {[...dag.lastRuns].reverse().map((r) => (
          <Link key={r.runId} to={`/dags/${encodeURIComponent(dag.dagId)}?tab=grid&run=${encodeURIComponent(r.runId)}`}>
            <StateDot state={r.state} title={`${r.runId}: ${r.state}`} />
          </Link>
        ))}
      </td>
    </tr>
  );
}
