/**
 * One run: what it ran with and why — params, logical date, data interval (with the zone), its trigger
 * (schedule, manual by whom, event, asset, backfill), DAG version, duration, state reason, deadline misses,
 * callbacks — and its task instances, each a link to the task's panel on the DAG page.
 */
import type { TaskInstance } from "../api";
import { CachedBadge } from "../components/CachedBadge";
import { ErrorBox } from "../components/ErrorBox";
import { RunNote } from "../components/RunNote";
import { RunTracking } from "../components/RunTracking";
import { StateBadge } from "../components/StateBadge";
import { describeTry, fmtDuration, fmtTimeTz } from "../format";
import { useGetRun } from "../queries/useGetRun";
import { useListRunAttempts } from "../queries/useListRunAttempts";
import { useListRunTasks } from "../queries/useListRunTasks";
import { Link } from "../router";
import { describeTrigger, runDuration } from "../runText";

export function RunPage({ runId }: { runId: string }) {
  const run = useGetRun(runId);
  const r = run.data;
  const live = r ? r.state === "queued" || r.state === "running" : false;
  const tis = useListRunTasks(runId, r?.state, live);
  // which instances' last attempt was a cache hit, and of which attempt
  const attempts = useListRunAttempts(runId, live);
  const cachedFrom = new Map((attempts.data ?? []).filter((a) => a.cachedFrom !== null).map((a) => [a.attemptId, a.cachedFrom!]));
  if (run.error) return <div className="page"><ErrorBox error={run.error} /></div>;
  if (!r) return <div className="page muted">Loading…</div>;
  const dagLink = `/dags/${encodeURIComponent(r.dagId)}?run=${encodeURIComponent(r.runId)}`;
  const params = Object.entries(r.params);
  return (
    <div className="page run-page" data-testid="run-page">
      <div className="dag-head">
        <h2>
          Run of <Link to={dagLink}>{r.dagId}</Link>
        </h2>
        <StateBadge state={r.state} />
      </div>
      <dl className="timings run-facts">
        <dt>Run id</dt>
        <dd className="mono">{r.runId}</dd>
        <dt>Logical date</dt>
        <dd data-testid="run-logical-date">{fmtTimeTz(r.logicalDate)}</dd>
        <dt>Data interval</dt>
        <dd data-testid="run-interval">{r.dataIntervalStart !== null && r.dataIntervalEnd !== null ? `${fmtTimeTz(r.dataIntervalStart)} → ${fmtTimeTz(r.dataIntervalEnd)}` : "none (a manual run)"}</dd>
        <dt>Trigger</dt>
        <dd data-testid="run-trigger">{describeTrigger(r)}</dd>
        <dt>DAG version</dt>
        <dd className="mono">{r.dagVersion}</dd>
        <dt>Created</dt>
        <dd>{fmtTimeTz(r.createdAt)}</dd>
        <dt>Started</dt>
        <dd>{fmtTimeTz(r.startedAt)}</dd>
        <dt>Ended</dt>
        <dd>{fmtTimeTz(r.endedAt)}</dd>
        <dt>Duration</dt>
        <dd>{fmtDuration(runDuration(r, Date.now()))}</dd>
        {r.stateReason && (
          <>
            <dt>Note</dt>
            <dd data-testid="run-state-reason">{r.stateReason}</dd>
          </>
        )}
        {r.parkedTasks > 0 && (
          <>
            <dt>Dead letters</dt>
            <dd>
              <Link to={`/dlq?runId=${encodeURIComponent(r.runId)}`}>{r.parkedTasks} failed task instance(s) parked</Link>
            </dd>
          </>
        )}
        {r.corrupt && (
          <>
            <dt>Broken row</dt>
            <dd className="error">{r.corrupt}</dd>
          </>
        )}
      </dl>
      <h3>Note</h3>
      <RunNote run={r} />
      <h3>Params</h3>
      {params.length === 0 ? (
        <p className="muted small">No params.</p>
      ) : (
        <table className="list small" data-testid="run-params">
          <tbody>
            {params.map(([k, v]) => (
              <tr key={k}>
                <th>{k}</th>
                <td className="mono">{JSON.stringify(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r.deadlineMisses.length > 0 && (
        <>
          <h3>Deadline misses</h3>
          <ul className="small">
            {r.deadlineMisses.map((m) => (
              <li key={`${m.taskId}|${m.mapIndex}`}>
                {m.taskId ? `task ${m.taskId}` : "the run"}: due {fmtTimeTz(m.deadlineAt)}, missed at {fmtTimeTz(m.missedAt)}
              </li>
            ))}
          </ul>
        </>
      )}
      {r.callbacks.length > 0 && (
        <>
          <h3>Callbacks</h3>
          <ul className="small">
            {r.callbacks.map((c, i) => (
              <li key={i}>
                {c.name} on {c.event}
                {c.taskId ? ` (${c.taskId})` : ""}: {c.state}
                {c.lastError ? ` — ${c.lastError}` : ""}
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>Tracked params, metrics and files</h3>
      <RunTracking runId={r.runId} dagId={r.dagId} live={live} />
      <h3>Task instances</h3>
      {tis.error && <ErrorBox error={tis.error} />}
      <table className="list small" data-testid="run-tasks">
        <thead>
          <tr>
            <th>Task</th>
            <th>State</th>
            <th>Try</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {(tis.data ?? []).map((t: TaskInstance) => (
            <tr key={`${t.taskId}|${t.mapIndex}`} data-task={t.taskId} data-state={t.state}>
              <td>
                <Link to={`${dagLink}&task=${encodeURIComponent(t.taskId)}${t.mapIndex >= 0 ? `&map=${t.mapIndex}` : ""}`}>
                  {t.taskId}
                  {t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}
                </Link>
              </td>
              <td>
                <StateBadge state={t.state} /> {t.lastAttemptId !== null && cachedFrom.has(t.lastAttemptId) && <CachedBadge from={cachedFrom.get(t.lastAttemptId)!} />}
              </td>
              <td>{t.tryNumber > 0 ? describeTry(t.tryNumber, t.tryBase, null) : "—"}</td>
              <td>{fmtDuration(t.durationMs)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
