/**
 * Clear or mark a task instance, as Airflow's dialogs: choose the action and its options (downstream,
 * upstream, only failed), see the task instances it changes — the API's dry run of the same operation —
 * and confirm. The panel and lists refresh after (queries/useApplyTaskAction invalidates them).
 */
import { useState } from "react";
import { useApplyTaskAction } from "../queries/useApplyTaskAction";
import { usePreviewTaskAction, type TaskAction } from "../queries/usePreviewTaskAction";
import { ErrorBox } from "./ErrorBox";
import { StateBadge } from "./StateBadge";

type Kind = "clear" | "success" | "failed" | "skipped";
const LABEL: Record<Kind, string> = { clear: "Clear", success: "Mark success", failed: "Mark failed", skipped: "Mark skipped" };

export function TaskActions({ runId, taskId, mapIndex, onDone }: { runId: string; taskId: string; mapIndex: number | undefined; onDone: () => void }) {
  const [kind, setKind] = useState<Kind | null>(null);
  const [downstream, setDownstream] = useState(false);
  const [upstream, setUpstream] = useState(false);
  const [onlyFailed, setOnlyFailed] = useState(false);
  const base = { ...(mapIndex !== undefined ? { mapIndex } : {}), downstream, upstream };
  const action: TaskAction | null = kind === null ? null : kind === "clear" ? { kind: "clear", scope: { ...base, onlyFailed } } : { kind: "mark", state: kind, scope: base };
  const preview = usePreviewTaskAction(runId, taskId, action);
  const apply = useApplyTaskAction(runId, taskId);

  const confirm = () => {
    if (!action) return;
    apply.mutate(action, {
      onSuccess: () => {
        setKind(null);
        onDone();
      },
    });
  };

  return (
    <div className="actions" data-testid="task-actions">
      <div className="action-buttons">
        {(Object.keys(LABEL) as Kind[]).map((k) => (
          <button key={k} type="button" className={kind === k ? "active" : undefined} aria-pressed={kind === k} disabled={apply.isPending} onClick={() => setKind(kind === k ? null : k)}>
            {LABEL[k]}
          </button>
        ))}
      </div>
      {kind !== null && (
        <div className="action-dialog" data-testid="action-preview" role="dialog" aria-label={`${LABEL[kind]}: preview`}>
          <div className="small">
            <label>
              <input type="checkbox" checked={downstream} onChange={(e) => setDownstream(e.target.checked)} /> with downstream
            </label>{" "}
            <label>
              <input type="checkbox" checked={upstream} onChange={(e) => setUpstream(e.target.checked)} /> with upstream
            </label>{" "}
            {kind === "clear" && (
              <label>
                <input type="checkbox" checked={onlyFailed} onChange={(e) => setOnlyFailed(e.target.checked)} /> only failed
              </label>
            )}
          </div>
          {preview.error && <ErrorBox error={preview.error} />}
          {preview.isFetching && !preview.data && <p className="muted small">Finding the task instances…</p>}
          {preview.data && (
            <>
              <p className="small">
                {preview.data.length === 0
                  ? kind === "clear"
                    ? "No task instance matches: nothing to clear."
                    : `Every matching task instance is ${kind} already.`
                  : `${LABEL[kind]} changes ${preview.data.length} task instance${preview.data.length === 1 ? "" : "s"}:`}
              </p>
              {preview.data.length > 0 && (
                <table className="list small">
                  <thead>
                    <tr>
                      <th>Task</th>
                      <th>Map index</th>
                      <th>State now</th>
                    </tr>
                  </thead>
                  <tbody>
                    {preview.data.map((ti) => (
                      <tr key={`${ti.taskId}|${ti.mapIndex}`} data-testid="preview-row" data-task={ti.taskId} data-map-index={ti.mapIndex}>
                        <td>{ti.taskId}</td>
                        <td>{ti.mapIndex >= 0 ? ti.mapIndex : ""}</td>
                        <td>
                          <StateBadge state={ti.state} />
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </>
          )}
          {apply.error && <ErrorBox error={apply.error} />}
          <div>
            <button type="button" className="primary" disabled={!preview.data || preview.data.length === 0 || apply.isPending} onClick={confirm}>
              Confirm {LABEL[kind].toLowerCase()}
            </button>{" "}
            <button type="button" className="link" onClick={() => setKind(null)}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </div>
  );
}
