/**
 * The grid: tasks (rows) × runs (columns, newest first), one coloured cell per task instance.
 * Virtualised in both directions with @tanstack/react-virtual — a 10,000-task DAG draws only the cells on
 * screen — and runs are paged with the API's cursor as the user scrolls right.
 */
import { useEffect, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { api, type Grid } from "../api";
import { STATE_LETTERS, stateColor } from "./StateBadge";
import { fmtTime } from "../format";

const ROW_H = 22;
const COL_W = 20;
const LABEL_W = 260;
const HEAD_H = 64;

type GridRun = Grid["runs"][number];

export function GridView({
  dagId,
  taskCount,
  selectedRun,
  selectedTask,
  onSelect,
}: {
  dagId: string;
  taskCount: number;
  selectedRun: string | null;
  selectedTask: string | null;
  onSelect: (runId: string, taskId: string | null) => void;
}) {
  // keep a page near 200,000 cells: the response stays small for huge DAGs
  const pageSize = Math.max(10, Math.min(100, Math.floor(200_000 / Math.max(1, taskCount))));
  const [tasks, setTasks] = useState<string[]>([]);
  const [runs, setRuns] = useState<GridRun[]>([]);
  const [states, setStates] = useState<Record<string, string>>({});
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const loadingMore = useRef(false);
  const gotCursor = useRef(false);

  // the first page, polled: new runs appear at the left, running ones change colour
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const g = await api.grid(dagId, { limit: pageSize });
        if (!alive) return;
        setTasks(g.tasks);
        setStates((s) => ({ ...s, ...g.states }));
        setRuns((old) => {
          const fresh = new Set(g.runs.map((r) => r.runId));
          const lastFresh = g.runs[g.runs.length - 1];
          const older = lastFresh ? old.slice(old.findIndex((r) => r.runId === lastFresh.runId) + 1).filter((r) => !fresh.has(r.runId)) : [];
          return [...g.runs, ...older];
        });
        // the cursor of the first page only once: later polls must not rewind what scrolling loaded
        if (!gotCursor.current) {
          gotCursor.current = true;
          setCursor(g.nextCursor);
        }
        setLoaded(true);
        setError(null);
      } catch (e) {
        if (alive) setError((e as Error).message);
      }
      if (alive) timer = setTimeout(poll, 3000);
    };
    void poll();
    return () => {
      alive = false;
      clearTimeout(timer);
    };
  }, [dagId, pageSize]);

  const scrollRef = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: tasks.length, getScrollElement: () => scrollRef.current, estimateSize: () => ROW_H, overscan: 10 });
  const cols = useVirtualizer({
    horizontal: true,
    count: runs.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => COL_W,
    overscan: 10,
    paddingStart: LABEL_W,
  });
  const vcols = cols.getVirtualItems();
  const lastCol = vcols[vcols.length - 1]?.index ?? 0;

  // older runs when the user scrolls near the right edge
  useEffect(() => {
    if (!cursor || loadingMore.current || lastCol < runs.length - 5) return;
    loadingMore.current = true;
    api
      .grid(dagId, { limit: pageSize, cursor })
      .then((g) => {
        setStates((s) => ({ ...s, ...g.states }));
        setRuns((old) => [...old, ...g.runs.filter((r) => !old.some((o) => o.runId === r.runId))]);
        setCursor(g.nextCursor);
      }, (e: Error) => setError(e.message))
      .finally(() => (loadingMore.current = false));
  }, [lastCol, runs.length, cursor, dagId, pageSize]);

  if (error && !loaded) return <p className="error">{error}</p>;
  if (!loaded) return <div className="grid loading">Loading the grid…</div>;
  if (runs.length === 0) return <p className="muted">No runs yet.</p>;
  const width = cols.getTotalSize();
  const vrows = rows.getVirtualItems();
  return (
    <div className="grid" ref={scrollRef} data-testid="grid" data-tasks={tasks.length} data-runs={runs.length}>
      <div style={{ width, height: rows.getTotalSize() + HEAD_H, position: "relative" }}>
        <div className="grid-head" style={{ width, height: HEAD_H }}>
          <div className="grid-corner" style={{ width: LABEL_W, height: HEAD_H }}>
            {tasks.length} tasks × {runs.length}
            {cursor ? "+" : ""} runs
          </div>
          {vcols.map((c) => {
            const r = runs[c.index]!;
            return (
              <button
                type="button"
                key={r.runId}
                className={`grid-run${r.runId === selectedRun ? " selected" : ""}`}
                style={{ left: c.start, width: COL_W, height: HEAD_H }}
                title={`${r.runId}\n${r.state}\n${fmtTime(r.logicalDate ?? r.startedAt)}`}
                aria-label={`Run ${r.runId}`}
                onClick={() => onSelect(r.runId, null)}
              >
                <span className="bar" style={{ background: stateColor(r.state), height: barHeight(r) }} />
              </button>
            );
          })}
        </div>
        {vrows.map((row) => {
          const taskId = tasks[row.index]!;
          return (
            <div key={row.key} className={`grid-row${taskId === selectedTask ? " selected" : ""}`} style={{ top: row.start + HEAD_H, height: ROW_H, width }}>
              <div className="grid-label" style={{ width: LABEL_W }} title={taskId}>
                {taskId}
              </div>
              {vcols.map((c) => {
                const r = runs[c.index]!;
                const letter = states[r.runId]?.[row.index] ?? ".";
                const state = STATE_LETTERS[letter] ?? "none";
                return (
                  <span
                    key={c.key}
                    className={`cell${r.runId === selectedRun && taskId === selectedTask ? " selected" : ""}`}
                    data-state={state}
                    title={`${taskId} · ${r.runId}: ${state}`}
                    style={{ left: c.start, background: state === "absent" ? "transparent" : stateColor(state) }}
                    onClick={() => onSelect(r.runId, taskId)}
                  />
                );
              })}
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** Longer runs, taller bars: a glance shows the slow ones. */
function barHeight(r: GridRun): number {
  if (r.startedAt === null) return 6;
  const ms = (r.endedAt ?? Date.now()) - r.startedAt;
  return Math.max(6, Math.min(HEAD_H - 8, 6 + Math.log10(1 + ms / 1000) * 16));
}
