/** Task instances of every DAG's runs, newest run first, with filters in the URL, in keyset pages. */
import type { RunFilters } from "../api";
import { CursorPager } from "../components/CursorPager";
import { ErrorBox } from "../components/ErrorBox";
import { StateBadge } from "../components/StateBadge";
import { fmtDuration, fmtTime } from "../format";
import { useListTaskInstances } from "../queries/useListTaskInstances";
import { Link, useLocation } from "../router";
import { FilterForm, filtersOf, usePageCursors } from "./RunsPage";

const FIELDS = ["dagId", "taskId", "state", "runType", "from", "to", "triggeredBy"] as const;
const STATES = ["none", "scheduled", "running", "success", "failed", "skipped", "upstream_failed", "up_for_retry", "up_for_reschedule", "removed"];

export function TaskInstancesPage() {
  const loc = useLocation();
  const filters = filtersOf(loc, FIELDS);
  const { cursors, cursor, setCursors } = usePageCursors();
  const q: RunFilters = { ...filters, limit: 50, ...(cursor ? { cursor } : {}) };
  const list = useListTaskInstances(q);
  return (
    <div className="page">
      <h2>Task instances</h2>
      <FilterForm key={loc.query.toString()} fields={FIELDS} states={STATES} label="Filter task instances" />
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="task-instances">
        <thead>
          <tr>
            <th>DAG</th>
            <th>Task</th>
            <th>State</th>
            <th>Logical date</th>
            <th>Try</th>
            <th>Started</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((t) => (
            <tr key={`${t.runId}|${t.taskId}|${t.mapIndex}`} data-run={t.runId} data-task={t.taskId} data-state={t.state}>
              <td>
                <Link to={`/dags/${encodeURIComponent(t.dagId)}`}>{t.dagId}</Link>
              </td>
              <td>
                <Link to={`/dags/${encodeURIComponent(t.dagId)}?run=${encodeURIComponent(t.runId)}&task=${encodeURIComponent(t.taskId)}${t.mapIndex >= 0 ? `&map=${t.mapIndex}` : ""}`}>
                  {t.taskId}
                  {t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}
                </Link>
              </td>
              <td>
                <StateBadge state={t.state} />
              </td>
              <td>
                <Link to={`/runs/${encodeURIComponent(t.runId)}`}>{fmtTime(t.logicalDate)}</Link>
              </td>
              <td>{t.tryNumber}</td>
              <td>{fmtTime(t.startedAt)}</td>
              <td>{fmtDuration(t.durationMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.data.items.length === 0 && <p className="muted">No task instances{Object.keys(filters).length ? " match these filters" : ""}.</p>}
      <CursorPager cursors={cursors} next={list.data?.nextCursor} onChange={setCursors} />
    </div>
  );
}
