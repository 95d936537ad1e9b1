/**
 * A task instance: state, timings, actions (clear or mark, with Airflow's options, after a preview of the
 * instances they change — hidden from viewers), attempts, and the selected attempt's error, log, inputs
 * and output preview.
 */
import { useEffect, useState } from "react";
import { api, type AttemptId, type TaskInstance } from "../api";
import { useCanOperate } from "../auth";
import { describeTry, fmtBytes, fmtDuration, fmtTime } from "../format";
import { useData } from "../hooks";
import { useListAttempts } from "../queries/useListAttempts";
import { CachedBadge } from "./CachedBadge";
import { TaskActions } from "./TaskActions";
import { ErrorBox } from "./ErrorBox";
import { LogView } from "./LogView";
import { StateBadge } from "./StateBadge";

const FINISHED = new Set(["success", "failed", "skipped", "upstream_failed", "removed"]);

export function TaskPanel({
  runId,
  taskId,
  instances,
  mapIndex,
  onMapIndex,
  onClose,
  onChanged,
  maxTries,
}: {
  runId: string;
  taskId: string;
  /** This task's instances in the run (one, or one per map index). */
  instances: TaskInstance[];
  mapIndex: number | null;
  onMapIndex: (i: number) => void;
  onClose: () => void;
  onChanged: () => void;
  /** retries + 1 (the DAG structure's), for "attempt 1 of 2 (try 4 overall)". */
  maxTries?: number | null;
}) {
  const canOperate = useCanOperate();
  const ti = instances.find((t) => t.mapIndex === mapIndex) ?? instances[0];
  const mi = ti?.mapIndex ?? mapIndex ?? -1;
  const finished = ti ? FINISHED.has(ti.state) : false;
  const attempts = useListAttempts(runId, taskId, mi, !finished, `${ti?.tryNumber}|${ti?.state}`);
  const [attemptId, setAttemptId] = useState<AttemptId | null>(null);
  const list = attempts.data?.items ?? [];
  const attempt = list.find((a) => a.attemptId === attemptId) ?? list[list.length - 1];
  useEffect(() => setAttemptId(null), [runId, taskId, mi, ti?.tryNumber]);
  // the latest attempt's error belongs to the instance only while the instance is not done otherwise: after
  // "mark success" (or a skip) it is history, shown when that attempt is picked, not as the instance's error
  const errorIsCurrent = attemptId !== null || !ti || !["success", "skipped"].includes(ti.state);
  const tryLabel = (tryNumber: number) => describeTry(tryNumber, ti?.tryBase ?? 0, maxTries);

  return (
    <aside className="task-panel" data-testid="task-panel" aria-label={`Task ${taskId}`}>
      <div className="panel-head">
        <h3>
          <span data-testid="task-panel-title">{taskId}</span> {ti && <StateBadge state={ti.state} />}
        </h3>
        <button type="button" className="link" onClick={onClose} aria-label="Close">
          ✕
        </button>
      </div>
      <div className="muted small">run {runId}</div>
      {instances.length > 1 && (
        <label className="small">
          Map index{" "}
          <select value={mi} onChange={(e) => onMapIndex(Number(e.target.value))} aria-label="Map index">
            {instances.map((t) => (
              <option key={t.mapIndex} value={t.mapIndex}>
                {t.mapIndex} — {t.state}
              </option>
            ))}
          </select>
        </label>
      )}
      {ti && (
        <dl className="timings">
          <dt>Started</dt>
          <dd>{fmtTime(ti.startedAt)}</dd>
          <dt>Ended</dt>
          <dd>{fmtTime(ti.endedAt)}</dd>
          <dt>Duration</dt>
          <dd>{fmtDuration(ti.durationMs ?? (ti.startedAt && ti.endedAt ? ti.endedAt - ti.startedAt : null))}</dd>
          <dt>Try</dt>
          <dd data-testid="task-try">{ti.tryNumber > 0 ? tryLabel(ti.tryNumber) : "not run yet"}</dd>
          {ti.waitingReason && (
            <>
              <dt>Waiting</dt>
              <dd data-testid="task-waiting-reason" className="waiting-reason">
                {ti.waitingReason}
              </dd>
            </>
          )}
          {ti.changedBy && (
            <>
              <dt>Cleared or marked by</dt>
              <dd data-testid="task-changed-by">{ti.changedBy}</dd>
            </>
          )}
        </dl>
      )}
      {canOperate && ti && <TaskActions runId={runId} taskId={taskId} mapIndex={mi >= 0 ? mi : undefined} onDone={onChanged} />}

      <h4>Attempts</h4>
      {attempts.error && <ErrorBox error={attempts.error} />}
      {list.length === 0 ? (
        <p className="muted small">No attempt yet.</p>
      ) : (
        <table className="list small attempts">
          <thead>
            <tr>
              <th>Attempt</th>
              <th>State</th>
              <th>Started</th>
              <th>Duration</th>
              <th>Host</th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr key={a.attemptId} className={a.attemptId === attempt?.attemptId ? "selected" : ""} onClick={() => setAttemptId(a.attemptId)}>
                <td>{tryLabel(a.tryNumber)}</td>
                <td>
                  <StateBadge state={a.state} /> {a.cachedFrom !== null && <CachedBadge from={a.cachedFrom} />}
                </td>
                <td>{fmtTime(a.startedAt)}</td>
                <td>{fmtDuration(a.startedAt && a.endedAt ? a.endedAt - a.startedAt : null)}</td>
                <td>{a.hostname ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {attempt && (
        <>
          {attempt.errorMessage && errorIsCurrent && (
            <div className="attempt-error">
              <strong>{attempt.errorCode ?? "error"}</strong>: {attempt.errorMessage}
              {attempt.errorStack && (
                <details>
                  <summary>stack</summary>
                  <pre>{attempt.errorStack}</pre>
                </details>
              )}
            </div>
          )}
          <h4>Log</h4>
          <LogView key={attempt.attemptId} attemptId={attempt.attemptId} live={attempt.state === "running" || attempt.state === "up_for_reschedule"} />
          <Output attemptId={attempt.attemptId} size={attempt.outputSize} />
        </>
      )}
      <Inputs runId={runId} taskId={taskId} mapIndex={mi} />
    </aside>
  );
}

function Output({ attemptId, size }: { attemptId: AttemptId; size: number | null }) {
  const out = useData(() => (size === null ? Promise.resolve(null) : api.output(attemptId)), `${attemptId}|${size}`);
  if (size === null) return null;
  return (
    <>
      <h4>Output ({fmtBytes(out.data?.size ?? size)})</h4>
      {out.error && <ErrorBox error={out.error} />}
      {out.data && (
        <pre className="preview" data-testid="output-preview">
          {out.data.preview}
          {out.data.truncated ? "\n…" : ""}
        </pre>
      )}
    </>
  );
}

function Inputs({ runId, taskId, mapIndex }: { runId: string; taskId: string; mapIndex: number }) {
  const inputs = useData(() => api.inputs(runId, taskId, mapIndex), `${runId}|${taskId}|${mapIndex}`);
  const entries = Object.entries(inputs.data?.inputs ?? {});
  if (inputs.error || entries.length === 0) return null;
  return (
    <>
      <h4>Inputs</h4>
      {entries.map(([name, v]) => (
        <div key={name} className="input">
          <div className="small muted">{name}</div>
          <pre className="preview">
            {v.preview ?? "(no preview)"}
            {v.truncated ? "\n…" : ""}
          </pre>
        </div>
      ))}
    </>
  );
}
