/**
 * A DAG: its docs and actions, the selected run (the newest by default) and the views — graph, grid,
 * timeline, code, versions — with the task instance panel beside them. View, run, task and map index
 * live in the URL, so a link shows the same thing.
 */
import { useEffect, useMemo } from "react";
import { api, type Run, type TaskInstance } from "../api";
import { useCanOperate } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { Gantt } from "../components/Gantt";
import { GraphView, type TaskStatus } from "../components/GraphView";
import { GridView } from "../components/GridView";
import { Markdown } from "../components/Markdown";
import { StateBadge } from "../components/StateBadge";
import { TaskPanel } from "../components/TaskPanel";
import { fmtTime } from "../format";
import { warmLayout } from "../graph/layoutClient";
import { invalidateRun } from "../queries/client";
import { useGetDag } from "../queries/useGetDag";
import { useGetDagCode } from "../queries/useGetDagCode";
import { useGetRun } from "../queries/useGetRun";
import { useGetStructure } from "../queries/useGetStructure";
import { useListDagRuns } from "../queries/useListDagRuns";
import { useListDagVersions } from "../queries/useListDagVersions";
import { useListDeadLetters } from "../queries/useListDeadLetters";
import { useListRunTasks } from "../queries/useListRunTasks";
import { Link, navigate, useLocation, withQuery } from "../router";

const TABS = ["graph", "grid", "gantt", "code", "versions"] as const;
const TAB_NAMES: Record<(typeof TABS)[number], string> = { graph: "Graph", grid: "Grid", gantt: "Timeline", code: "Code", versions: "Versions" };
const FINISHED_RUN = new Set(["success", "failed"]);

export function DagPage({ dagId }: { dagId: string }) {
  const loc = useLocation();
  const canOperate = useCanOperate();
  const tab = (TABS as readonly string[]).includes(loc.query.get("tab") ?? "") ? (loc.query.get("tab") as (typeof TABS)[number]) : "graph";
  const version = loc.query.get("version") ?? undefined;
  const dag = useGetDag(dagId, 10000);
  const runs = useListDagRuns(dagId);
  const runParam = loc.query.get("run");
  const runId = runParam ?? latestIntervalRun(runs.data?.items ?? [])?.runId ?? null;
  const listedRun = runs.data?.items.find((r) => r.runId === runId);
  // the run's detail holds its deadline misses (the list of runs does not): a badge beside its state
  const runDetail = useGetRun(runId);
  const run: Run | null = listedRun ?? runDetail.data ?? null;
  const missed = runDetail.data?.deadlineMisses ?? [];
  const live = run ? !FINISHED_RUN.has(run.state) : false;
  const structVersion = version ?? run?.dagVersion ?? undefined;
  const structure = useGetStructure(dagId, structVersion);
  const tis = useListRunTasks(runId, run?.state, live);

  // a run that succeeded with failed instances: a DAG that parks its dead letters (`deadLetter: "park"`) — say how many
  const parkedCandidate = run?.state === "success" && (tis.data ?? []).some((t) => t.state === "failed");
  const parked = useListDeadLetters({ runId: runId ?? "", state: "open", limit: 500 }, parkedCandidate && runId !== null);
  // what was fetched while the run was a candidate no longer counts once it is not (e.g. cleared and running again)
  const parkedCount = parkedCandidate ? (parked.data?.items.filter((e) => e.parked).length ?? 0) : 0;
  const statuses = useMemo(() => taskStatuses(tis.data ?? []), [tis.data]);
  const taskId = loc.query.get("task");
  const mapIndexParam = loc.query.get("map");
  const instancesOfTask = useMemo(() => (tis.data ?? []).filter((t) => t.taskId === taskId).sort((a, b) => a.mapIndex - b.mapIndex), [tis.data, taskId]);

  // the layout worker loads elk while the structure is on its way
  useEffect(() => {
    if (tab === "graph") warmLayout();
  }, [tab]);

  const go = (changes: Record<string, string | null>) => navigate(withQuery(loc, changes));
  const selectTask = (t: string, mapIndex?: number) => go({ task: t, map: mapIndex !== undefined && mapIndex >= 0 ? String(mapIndex) : null });

  if (dag.error) return <div className="page"><ErrorBox error={dag.error} /></div>;
  const d = dag.data;
  return (
    <div className="page dag-page">
      <div className="dag-head">
        <h2 data-testid="dag-title">{dagId}</h2>
        {d?.paused && <span className="tag">paused</span>}
        {d?.tags.map((t) => (
          <span key={t} className="tag">
            {t}
          </span>
        ))}
        <span className="spacer" />
        {canOperate && d && (
          <>
            <Link to={`/dags/${encodeURIComponent(dagId)}/trigger`} className="button primary">
              Trigger
            </Link>
            <Link to={`/dags/${encodeURIComponent(dagId)}/backfill`} className="button">
              Backfill
            </Link>
          </>
        )}
      </div>
      {d && (
        <div className="dag-meta muted small">
          {d.description && <span>{d.description} · </span>}
          schedule <code>{d.schedule ?? "manual"}</code> · next run {fmtTime(d.nextRunAt)} · owner {d.owner ?? "—"} · version <code>{d.version}</code>
        </div>
      )}
      {d?.docs && (
        <details className="docs" data-testid="dag-docs">
          <summary>Docs</summary>
          <Markdown text={d.docs} />
        </details>
      )}
      <div className="run-bar">
        <label>
          Run{" "}
          <select aria-label="Run" value={runId ?? ""} onChange={(e) => go({ run: e.target.value || null, task: null, map: null })}>
            {!listedRun && runId && <option value={runId}>{runId}</option>}
            {runs.data?.items.map((r) => (
              <option key={r.runId} value={r.runId}>
                {fmtTime(r.logicalDate ?? r.createdAt)} · {r.runType} · {r.state}
              </option>
            ))}
            {!runId && <option value="">no runs yet</option>}
          </select>
        </label>
        {run && (
          <span data-testid="run-state">
            <StateBadge state={run.state} />
          </span>
        )}
        {missed.length > 0 && (
          <span
            className="badge badge-warning"
            data-testid="run-deadline-missed"
            title={missed.map((m) => `${m.taskId === null ? "run" : `task ${m.taskId}${m.mapIndex >= 0 ? `[${m.mapIndex}]` : ""}`}: not done by ${fmtTime(m.deadlineAt)}`).join("\n")}
          >
            deadline missed{missed.length > 1 ? ` ×${missed.length}` : ""}
          </span>
        )}
        {parkedCount > 0 && (
          <Link to={`/dlq?dagId=${encodeURIComponent(dagId)}`} className="tag" data-testid="run-parked">
            {parkedCount} parked task{parkedCount === 1 ? "" : "s"}
          </Link>
        )}
        {run?.triggeredBy && (
          <span className="muted small" data-testid="run-triggered-by">
            triggered by {run.triggeredBy}
          </span>
        )}
        {run && canOperate && live && (
          <button type="button" onClick={() => void api.cancelRun(run.runId).then(() => invalidateRun(run.runId))}>
            Cancel run
          </button>
        )}
      </div>
      <nav className="tabs" role="tablist">
        {TABS.map((t) => (
          <Link key={t} to={withQuery(loc, { tab: t === "graph" ? null : t })} role="tab" aria-selected={t === tab} className={t === tab ? "active" : ""}>
            {TAB_NAMES[t]}
          </Link>
        ))}
      </nav>
      <div className="dag-body">
        <div className="view">
          {tab === "graph" &&
            (structure.error ? (
              <ErrorBox error={structure.error} />
            ) : structure.data ? (
              <GraphView key={structure.data.version} structure={structure.data} statuses={statuses} selectedTask={taskId} onSelect={(t) => selectTask(t)} />
            ) : (
              <div className="graph loading">Loading the graph…</div>
            ))}
          {tab === "grid" && (
            <GridView
              dagId={dagId}
              taskCount={structure.data?.tasks.length ?? 100}
              selectedRun={runId}
              selectedTask={taskId}
              onSelect={(r, t) => go({ run: r, task: t, map: null })}
            />
          )}
          {tab === "gantt" && run && <Gantt run={run} instances={tis.data ?? []} structure={structure.data} onSelect={selectTask} />}
          {tab === "code" && <CodeView dagId={dagId} version={structVersion} />}
          {tab === "versions" && <Versions dagId={dagId} current={structVersion} onPick={(v) => go({ version: v, tab: "code" })} />}
        </div>
        {taskId && runId && (
          <TaskPanel
            key={`${runId}|${taskId}`}
            runId={runId}
            taskId={taskId}
            instances={instancesOfTask}
            mapIndex={mapIndexParam === null ? null : Number(mapIndexParam)}
            onMapIndex={(i) => go({ map: String(i) })}
            onClose={() => go({ task: null, map: null })}
            onChanged={() => void invalidateRun(runId)}
            maxTries={structure.data?.tasks.find((t) => t.id === taskId)?.maxTries ?? null}
          />
        )}
      </div>
    </div>
  );
}

/**
 * The run a DAG page opens on (decision 0027): the latest interval — the highest logical date among runs
 * that are not backfills (a backfill created today for last year is not what "now" means), the newest
 * created among equal dates; only backfills: the newest created. `runs` are the newest created first.
 */
function latestIntervalRun(runs: Run[]): Run | undefined {
  let best: Run | undefined;
  for (const r of runs) {
    if (r.runType === "backfill" || r.logicalDate === null) continue;
    if (!best || r.logicalDate > best.logicalDate!) best = r;
  }
  return best ?? runs[0];
}

/** Per task: its state, or for mapped tasks the most urgent state of its instances with counts. */
function taskStatuses(tis: TaskInstance[]): Map<string, TaskStatus> {
  const by = new Map<string, TaskInstance[]>();
  for (const t of tis) {
    let l = by.get(t.taskId);
    if (!l) by.set(t.taskId, (l = []));
    l.push(t);
  }
  const out = new Map<string, TaskStatus>();
  const urgency = ["failed", "upstream_failed", "up_for_retry", "running", "up_for_reschedule", "scheduled", "none", "skipped", "removed", "success"];
  for (const [id, list] of by) {
    const starts = list.flatMap((t) => (t.startedAt === null ? [] : [t.startedAt]));
    const durationMs = starts.length === 0 ? null : Math.max(...list.map((t) => t.endedAt ?? (t.startedAt === null ? 0 : Date.now()))) - Math.min(...starts);
    if (list.length === 1 && list[0]!.mapIndex < 0) {
      out.set(id, { state: list[0]!.state, durationMs });
      continue;
    }
    const counts: Record<string, number> = {};
    for (const t of list) counts[t.state] = (counts[t.state] ?? 0) + 1;
    const state = urgency.find((s) => counts[s]) ?? list[0]!.state;
    out.set(id, { state, counts, instances: list.filter((t) => t.mapIndex >= 0).length, durationMs });
  }
  return out;
}

function CodeView({ dagId, version }: { dagId: string; version: string | undefined }) {
  const code = useGetDagCode(dagId, version);
  if (code.error) return <ErrorBox error={code.error} />;
  if (!code.data) return <p className="muted">Loading…</p>;
  return (
    <div className="code">
      <div className="muted small">
        {code.data.file} {version && <>· version <code>{version}</code></>}
      </div>
      <pre data-testid="code">{code.data.code}</pre>
    </div>
  );
}

function Versions({ dagId, current, onPick }: { dagId: string; current: string | undefined; onPick: (v: string) => void }) {
  const versions = useListDagVersions(dagId);
  if (versions.error) return <ErrorBox error={versions.error} />;
  return (
    <table className="list">
      <thead>
        <tr>
          <th>Version</th>
          <th>Created</th>
          <th>File</th>
        </tr>
      </thead>
      <tbody>
        {versions.data?.items.map((v) => (
          <tr key={v.version} className={v.version === current ? "selected" : ""}>
            <td>
              <button type="button" className="link" onClick={() => onPick(v.version)}>
                <code>{v.version}</code>
              </button>
            </td>
            <td>{fmtTime(v.createdAt)}</td>
            <td>{v.file ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
