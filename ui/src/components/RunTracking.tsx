/**
 * What a run's tasks tracked (GET /runs/:runId/tracking): a table per trial of its params, metric
 * summaries (last, min, max, points) and tags, and the files it recorded, with links to the task panel
 * and to the experiment's comparison. Names and values are user text, rendered as text.
 */
import type { RunTracking as Tracking } from "../api";
import { fmtBytes, fmtTime } from "../format";
import { useGetRunTracking } from "../queries/useGetRunTracking";
import { Link } from "../router";
import { ErrorBox } from "./ErrorBox";

export function RunTracking({ runId, dagId, live }: { runId: string; dagId: string; live: boolean }) {
  const q = useGetRunTracking(runId, live);
  const taskLink = (taskId: string, mapIndex: number) =>
    `/dags/${encodeURIComponent(dagId)}?run=${encodeURIComponent(runId)}&task=${encodeURIComponent(taskId)}${mapIndex >= 0 ? `&map=${mapIndex}` : ""}`;
  if (q.error) return <ErrorBox error={q.error} />;
  const t: Tracking | undefined = q.data;
  if (!t) return <p className="muted small">Loading…</p>;
  if (t.trials.length === 0 && t.artifacts.length === 0) return <p className="muted small">Nothing tracked in this run.</p>;
  const experiment = t.trials[0]?.experiment;
  return (
    <div data-testid="run-tracking">
      {experiment && (
        <p className="small">
          Experiment <Link to={`/experiments/${encodeURIComponent(experiment)}`}>{experiment}</Link> (compare this run with the others)
        </p>
      )}
      {t.trials.map((tr) => (
        <div key={`${tr.taskId}|${tr.mapIndex}`} className="trial" data-trial={`${tr.taskId}|${tr.mapIndex}`}>
          <h4>
            <Link to={taskLink(tr.taskId, tr.mapIndex)}>
              {tr.taskId}
              {tr.mapIndex >= 0 ? `[${tr.mapIndex}]` : ""}
            </Link>
          </h4>
          <table className="list small">
            <tbody>
              {Object.entries(tr.params).map(([k, v]) => (
                <tr key={`p:${k}`}>
                  <th>param {k}</th>
                  <td className="mono">{typeof v === "string" ? v : JSON.stringify(v)}</td>
                </tr>
              ))}
              {Object.entries(tr.metrics).map(([k, m]) => (
                <tr key={`m:${k}`}>
                  <th>metric {k}</th>
                  <td className="mono">
                    {m.last} <span className="muted">(min {m.min}, max {m.max}, {m.points} point{m.points === 1 ? "" : "s"})</span>
                  </td>
                </tr>
              ))}
              {Object.entries(tr.tags).map(([k, v]) => (
                <tr key={`t:${k}`}>
                  <th>tag {k}</th>
                  <td>{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
      {t.artifacts.length > 0 && (
        <>
          <h4>Files</h4>
          <table className="list small" data-testid="run-artifacts">
            <thead>
              <tr>
                <th>Name</th>
                <th>Task</th>
                <th>Size</th>
                <th>Type</th>
                <th>Recorded</th>
              </tr>
            </thead>
            <tbody>
              {t.artifacts.map((a) => (
                <tr key={`${a.attemptId}|${a.name}`}>
                  <td className="mono" title={a.ref}>
                    {a.name}
                  </td>
                  <td>
                    <Link to={`/attempts/${a.attemptId}`}>
                      {a.taskId}
                      {a.mapIndex >= 0 ? `[${a.mapIndex}]` : ""}
                    </Link>
                  </td>
                  <td>{fmtBytes(a.size)}</td>
                  <td>{a.mediaType ?? "—"}</td>
                  <td>{fmtTime(a.at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
