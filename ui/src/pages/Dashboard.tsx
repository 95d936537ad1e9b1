/**
 * The last 24 hours at a glance, atop the home page: runs failed, running, queued and late (a deadline
 * missed, or active past it), each count a link to the runs list filtered so, and the newest of each.
 */
import type { Run } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { StateBadge } from "../components/StateBadge";
import { fmtDuration, fmtTime } from "../format";
import { useGetDashboard } from "../queries/useGetDashboard";
import { Link } from "../router";
import { describeTrigger } from "../runText";

const SINCE_24H = () => new Date(Date.now() - 24 * 3_600_000).toISOString();

export function Dashboard() {
  const d = useGetDashboard(24);
  if (d.error) return <ErrorBox error={d.error} />;
  const data = d.data;
  const tiles: { key: "failed" | "running" | "queued"; label: string; to: string }[] = [
    { key: "failed", label: "Failed", to: `/runs?state=failed&from=${encodeURIComponent(SINCE_24H())}` },
    { key: "running", label: "Running", to: "/runs?state=running" },
    { key: "queued", label: "Queued", to: "/runs?state=queued" },
  ];
  return (
    <section className="dashboard" data-testid="dashboard" aria-label="Last 24 hours">
      <h2>Last 24 hours</h2>
      <div className="tiles">
        {tiles.map((t) => (
          <Link key={t.key} to={t.to} className={`tile ${t.key}`} data-testid={`tile-${t.key}`}>
            <span className="count">{data ? data.counts[t.key] : "…"}</span> {t.label}
          </Link>
        ))}
        <span className="tile late" data-testid="tile-late" title="runs that missed a deadline, or are active past it (listed below)">
          <span className="count">{data ? data.counts.late : "…"}</span> Late
        </span>
        <span className="tile succeeded muted">
          <span className="count">{data ? data.counts.succeeded : "…"}</span> Succeeded
        </span>
      </div>
      {data && (
        <div className="dash-lists">
          <RunList title="Failed" runs={data.failed} testId="dash-failed" empty="No run failed." />
          <RunList title="Late" runs={data.late} testId="dash-late" empty="No run is late." />
          <RunList title="Running" runs={data.running} testId="dash-running" empty="Nothing is running." />
          <RunList title="Queued" runs={data.queued} testId="dash-queued" empty="Nothing is queued." />
        </div>
      )}
      <p className="small">
        <Link to="/runs">All runs</Link> · <Link to="/task-instances">All task instances</Link>
      </p>
    </section>
  );
}

function RunList({ title, runs, testId, empty }: { title: string; runs: (Run & { lateBy?: number | null })[]; testId: string; empty: string }) {
  return (
    <div className="dash-list" data-testid={testId}>
      <h3>{title}</h3>
      {runs.length === 0 ? (
        <p className="muted small">{empty}</p>
      ) : (
        <ul>
          {runs.map((r) => (
            <li key={r.runId} data-run={r.runId}>
              <StateBadge state={r.state} /> <Link to={`/runs/${encodeURIComponent(r.runId)}`}>{r.dagId}</Link> <span className="muted small">{fmtTime(r.logicalDate)} · {describeTrigger(r)}</span>
              {r.lateBy ? <span className="small"> · late by {fmtDuration(r.lateBy)}</span> : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
