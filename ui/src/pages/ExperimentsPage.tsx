/** Experiments (one per DAG by default): how many runs tracked something, when last, from which DAGs. */
import { ErrorBox } from "../components/ErrorBox";
import { fmtTime } from "../format";
import { useListExperiments } from "../queries/useListExperiments";
import { Link } from "../router";

export function ExperimentsPage() {
  const q = useListExperiments();
  const items = q.data?.items ?? [];
  return (
    <div className="page">
      <h2>Experiments</h2>
      <p className="muted small">Runs whose tasks tracked params, metrics or tags with <code>ctx.track</code>, grouped by experiment.</p>
      {q.error && <ErrorBox error={q.error} />}
      {q.data && items.length === 0 && <p className="muted">No experiment yet: no task has tracked anything.</p>}
      {items.length > 0 && (
        <table className="list" data-testid="experiments">
          <thead>
            <tr>
              <th>Experiment</th>
              <th>Runs</th>
              <th>Last run</th>
              <th>DAGs</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.experiment} data-experiment={e.experiment}>
                <td>
                  <Link to={`/experiments/${encodeURIComponent(e.experiment)}`}>{e.experiment}</Link>
                </td>
                <td>{e.runs}</td>
                <td>{fmtTime(e.lastRunAt)}</td>
                <td>
                  {e.dagIds.map((d, i) => (
                    <span key={d}>
                      {i > 0 && ", "}
                      <Link to={`/dags/${encodeURIComponent(d)}`}>{d}</Link>
                    </span>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
