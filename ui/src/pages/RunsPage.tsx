/**
 * Runs of every DAG, newest first, with filters (DAG, state, run type, logical dates, triggered by) kept in
 * the URL (a dashboard tile links to a filtered list), in keyset pages.
 */
import { useState, type FormEvent } from "react";
import type { RunFilters } from "../api";
import { CursorPager } from "../components/CursorPager";
import { ErrorBox } from "../components/ErrorBox";
import { StateBadge } from "../components/StateBadge";
import { fmtDuration, fmtTime } from "../format";
import { useListRuns } from "../queries/useListRuns";
import { Link, navigate, useLocation, withQuery, type Location } from "../router";
import { describeTrigger, RUN_TYPES, runDuration } from "../runText";

const FIELDS = ["dagId", "state", "runType", "from", "to", "triggeredBy"] as const;
type Field = (typeof FIELDS)[number];

/** The filters in the URL's query (empty ones left out). */
export function filtersOf(loc: Location, fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = loc.query.get(f);
    if (v) out[f] = v;
  }
  return out;
}

/** A `datetime-local` value (the browser's zone) as ISO 8601 UTC for the API; other text as typed. */
export function toIso(v: string): string {
  const t = /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v) && !/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? new Date(v) : null;
  return t && !Number.isNaN(t.getTime()) ? t.toISOString() : v;
}

export function FilterForm({ fields, states, label }: { fields: readonly string[]; states: readonly string[]; label: string }) {
  const loc = useLocation();
  const current = filtersOf(loc, fields);
  const [draft, setDraft] = useState<Record<string, string>>(current);
  const apply = (e: FormEvent) => {
    e.preventDefault();
    const changes: Record<string, string | null> = { cursor: null };
    for (const f of fields) changes[f] = draft[f] ? (f === "from" || f === "to" ? toIso(draft[f]!) : draft[f]!) : null;
    navigate(withQuery(loc, changes));
  };
  const text = (f: string, placeholder: string) => (
    <input aria-label={placeholder} name={f} placeholder={placeholder} value={draft[f] ?? ""} onChange={(e) => setDraft({ ...draft, [f]: e.target.value })} />
  );
  return (
    <form className="filters" onSubmit={apply} aria-label={label}>
      {fields.includes("dagId") && text("dagId", "DAG")}
      {fields.includes("taskId") && text("taskId", "task")}
      <select aria-label="state" name="state" value={draft["state"] ?? ""} onChange={(e) => setDraft({ ...draft, state: e.target.value })}>
        <option value="">any state</option>
        {states.map((s) => (
          <option key={s}>{s}</option>
        ))}
      </select>
      <select aria-label="run type" name="runType" value={draft["runType"] ?? ""} onChange={(e) => setDraft({ ...draft, runType: e.target.value })}>
        <option value="">any run type</option>
        {RUN_TYPES.map((s) => (
          <option key={s}>{s}</option>
        ))}
      </select>
      <label className="small">
        from <input type="datetime-local" aria-label="logical date from" name="from" value={localValue(draft["from"])} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
      </label>
      <label className="small">
        to <input type="datetime-local" aria-label="logical date to" name="to" value={localValue(draft["to"])} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
      </label>
      {text("triggeredBy", "triggered by")}
      <button type="submit">Filter</button>
      {Object.keys(current).length > 0 && (
        <button type="button" className="link" onClick={() => navigate(loc.path)}>
          Clear filters
        </button>
      )}
    </form>
  );
}

/** An ISO time from the URL as a `datetime-local` value in the browser's zone. */
function localValue(v: string | undefined): string {
  if (!v) return "";
  const t = new Date(v);
  if (Number.isNaN(t.getTime()) || !/[zZ]|[+-]\d\d:?\d\d$/.test(v)) return v;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

/** Keyset pages in the URL: `cursor` is the current page's, `back` the stack before it. */
export function usePageCursors(): { cursors: string[]; cursor: string | undefined; setCursors: (c: string[]) => void } {
  const loc = useLocation();
  const cursors = (loc.query.get("pages") ?? "").split(",").filter(Boolean);
  return { cursors, cursor: cursors[cursors.length - 1], setCursors: (c) => navigate(withQuery(loc, { pages: c.length ? c.join(",") : null })) };
}

export function RunsPage() {
  const loc = useLocation();
  const filters = filtersOf(loc, FIELDS) as Partial<Record<Field, string>>;
  const { cursors, cursor, setCursors } = usePageCursors();
  const q: RunFilters = { ...filters, limit: 50, ...(cursor ? { cursor } : {}) };
  const runs = useListRuns(q);
  const now = Date.now();
  return (
    <div className="page">
      <h2>Runs</h2>
      <FilterForm key={loc.query.toString()} fields={FIELDS} states={["queued", "running", "success", "failed"]} label="Filter runs" />
      {runs.error && <ErrorBox error={runs.error} />}
      <table className="list" data-testid="runs">
        <thead>
          <tr>
            <th>DAG</th>
            <th>State</th>
            <th>Logical date</th>
            <th>Trigger</th>
            <th>Started</th>
            <th>Duration</th>
            <th>Run</th>
          </tr>
        </thead>
        <tbody>
          {runs.data?.items.map((r) => (
            <tr key={r.runId} data-run={r.runId} data-dag={r.dagId} data-state={r.state}>
              <td>
                <Link to={`/dags/${encodeURIComponent(r.dagId)}`}>{r.dagId}</Link>
              </td>
              <td>
                <StateBadge state={r.state} />
              </td>
              <td>{fmtTime(r.logicalDate)}</td>
              <td>{describeTrigger(r)}</td>
              <td>{fmtTime(r.startedAt)}</td>
              <td>{fmtDuration(runDuration(r, now))}</td>
              <td>
                <Link to={`/runs/${encodeURIComponent(r.runId)}`} className="mono small">
                  {r.runId}
                </Link>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {runs.data && runs.data.items.length === 0 && <p className="muted">No runs{Object.keys(filters).length ? " match these filters" : ""}.</p>}
      <CursorPager cursors={cursors} next={runs.data?.nextCursor} onChange={setCursors} />
    </div>
  );
}
