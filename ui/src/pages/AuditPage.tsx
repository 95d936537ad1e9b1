/**
 * The audit log: who changed what, when, from where — newest first, with filters (user, DAG, action,
 * since) and "older" pages through the API's cursor. Admins see every entry; others see the entries about
 * DAGs they may read (the API decides). Everything shown is React text: names, user agents and the
 * before/after JSON come from anyone and are never parsed as HTML.
 */
import { useState, type FormEvent } from "react";
import type { AuditEntry } from "../api";
import { useSession } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { fmtTime } from "../format";
import { useListAudit } from "../queries/useListAudit";
import { Link } from "../router";
import { CursorPager } from "../components/CursorPager";

interface Filters {
  user: string;
  dagId: string;
  action: string;
  since: string;
}
const NO_FILTERS: Filters = { user: "", dagId: "", action: "", since: "" };

export function AuditPage() {
  const { user } = useSession();
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  const list = useListAudit({ ...(filters.user ? { user: filters.user } : {}), ...(filters.dagId ? { dagId: filters.dagId } : {}), ...(filters.action ? { action: filters.action } : {}), ...(filters.since ? { since: filters.since } : {}), limit: 50, ...(cursor ? { cursor } : {}) });
  const apply = (e: FormEvent) => {
    e.preventDefault();
    setCursors([]);
    setFilters(draft);
  };
  const input = (name: keyof Filters, placeholder: string) => (
    <input aria-label={placeholder} name={`audit-${name}`} placeholder={placeholder} value={draft[name]} onChange={(e) => setDraft({ ...draft, [name]: e.target.value })} />
  );
  return (
    <div className="page">
      <h2>Audit log</h2>
      <p className="muted">
        Every change made by a person or token, written with the change itself.{" "}
        {user.role === "admin" ? "You see every entry." : "You see the entries about DAGs you may read; entries about users, tokens, pools and logins are for admins."}
      </p>
      <form className="filters" onSubmit={apply} aria-label="Filter the audit log">
        {input("user", "user")}
        {input("dagId", "DAG")}
        {input("action", "action, e.g. runs.trigger")}
        {input("since", "since: 24h, 7d or 2026-12-01")}
        <button type="submit">Filter</button>
      </form>
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="audit">
        <thead>
          <tr>
            <th>When</th>
            <th>Who</th>
            <th>From</th>
            <th>Action</th>
            <th>About</th>
            <th>Change</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((e) => (
            <AuditRow key={e.id} e={e} />
          ))}
        </tbody>
      </table>
      {list.data && list.data.items.length === 0 && <p className="muted">No audit entries{cursor ? " on this page" : ""}.</p>}
      <CursorPager cursors={cursors} next={list.data?.nextCursor} onChange={setCursors} />
    </div>
  );
}

function AuditRow({ e }: { e: AuditEntry }) {
  const changed = e.before !== null || e.after !== null;
  return (
    <tr data-testid="audit-entry" data-action={e.action}>
      <td>{fmtTime(e.at)}</td>
      <td>
        {e.actor} <span className="muted small">{e.via}</span>
      </td>
      <td className="small">
        {e.ip ?? "—"}
        {e.userAgent && <div className="muted">{e.userAgent.length > 60 ? `${e.userAgent.slice(0, 59)}…` : e.userAgent}</div>}
      </td>
      <td>
        <code>{e.action}</code>
        {e.outcome && <span className={e.outcome === "failure" ? " error" : " muted"}> {e.outcome}</span>}
      </td>
      <td>
        {e.dagId && <Link to={`/dags/${encodeURIComponent(e.dagId)}${e.runId ? `?run=${encodeURIComponent(e.runId)}` : ""}`}>{e.dagId}</Link>}
        {e.runId && <div className="muted small">{e.runId}</div>}
        {e.target && <div className="small">{e.target}</div>}
      </td>
      <td className="small">
        {changed && (
          <details>
            <summary>before / after</summary>
            <pre>{JSON.stringify({ before: e.before, after: e.after }, null, 2)}</pre>
          </details>
        )}
      </td>
    </tr>
  );
}
