/**
 * The grid: tasks (rows) × runs (columns), one cell per task instance, in Airflow 3's orientation: the
 * oldest run on the left, the newest on the right, where the view opens. Columns are ordered by logical
 * date (creation time for runs without one), so a backfill of old dates sits among those dates instead of
 * at the newest end. Each column head shows its date and a bar as tall as the run was long.
 *
 * Virtualised in both directions with @tanstack/react-virtual — a 10,000-task DAG draws only the cells on
 * screen — and older runs are paged in with the API's cursor as the user scrolls left. Cells carry their
 * state's symbol as well as its colour, and the grid is one keyboard stop: arrow keys move the active
 * cell (aria-activedescendant), Home/End jump to the oldest/newest run, Enter opens the task panel.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { api, type Grid } from "../api";
import { STATE_LETTERS, StateLegend, stateColor, stateIcon, stateInk } from "./StateBadge";
import { fmtDuration, fmtTime } from "../format";

const ROW_H = 22;
const COL_W = 22;
const LABEL_W = 260;
const BAR_H = 56;
const DATE_H = 74;
const HEAD_H = BAR_H + DATE_H;

type GridRun = Grid["runs"][number];

/** Oldest first: by logical date, then creation time, then id (a stable order for equal dates). */
function gridOrder(runs: GridRun[]): GridRun[] {
  const at = (r: GridRun) => r.logicalDate ?? r.createdAt ?? 0;
  return [...runs].sort((a, b) => at(a) - at(b) || (a.createdAt ?? 0) - (b.createdAt ?? 0) || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0));
}

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
  const [fetched, setFetched] = useState<GridRun[]>([]);
  const [states, setStates] = useState<Record<string, string>>({});
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const loadingMore = useRef(false);
  const gotCursor = useRef(false);

  // the first page, polled: new runs appear at the right, running ones change colour
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout>;
    const poll = async () => {
      try {
        const g = await api.grid(dagId, { limit: pageSize });
        if (!alive) return;
        setTasks(g.tasks);
        setStates((s) => ({ ...s, ...g.states }));
        setFetched((old) => {
          const fresh = new Map(g.runs.map((r) => [r.runId, r]));
          return [...g.runs, ...old.filter((r) => !fresh.has(r.runId))];
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

  const runs = useMemo(() => gridOrder(fetched), [fetched]);
  const scrollRef = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: tasks.length, getScrollElement: () => scrollRef.current, estimateSize: () => ROW_H, overscan: 10, paddingStart: HEAD_H, scrollPaddingStart: HEAD_H });
  const cols = useVirtualizer({
    horizontal: true,
    count: runs.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => COL_W,
    overscan: 10,
    paddingStart: LABEL_W,
    scrollPaddingStart: LABEL_W,
  });
  const vcols = cols.getVirtualItems();
  const firstCol = vcols[0]?.index ?? 0;

  // The view follows the newest run (scrolled fully right) until the user scrolls away; then the column
  // at the left edge stays put while runs are added on either side.
  const follow = useRef(true);
  const anchor = useRef<{ runId: string; offset: number } | null>(null);
  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    follow.current = el.scrollLeft + el.clientWidth >= el.scrollWidth - COL_W / 2;
    // the label column is sticky: the first run right of it starts at content x = scrollLeft + LABEL_W
    const i = Math.min(runs.length - 1, Math.max(0, Math.floor(el.scrollLeft / COL_W)));
    const r = runs[i];
    anchor.current = r ? { runId: r.runId, offset: LABEL_W + i * COL_W - el.scrollLeft } : null;
  };
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    if (follow.current) el.scrollLeft = el.scrollWidth;
    else if (anchor.current) {
      const i = runs.findIndex((r) => r.runId === anchor.current!.runId);
      if (i >= 0) el.scrollLeft = LABEL_W + i * COL_W - anchor.current.offset;
    }
  }, [runs, loaded]);

  // older runs when the user scrolls near the left edge
  useEffect(() => {
    if (!cursor || loadingMore.current || firstCol > 5) return;
    loadingMore.current = true;
    api
      .grid(dagId, { limit: pageSize, cursor })
      .then((g) => {
        setStates((s) => ({ ...s, ...g.states }));
        setFetched((old) => [...old, ...g.runs.filter((r) => !old.some((o) => o.runId === r.runId))]);
        setCursor(g.nextCursor);
      }, (e: Error) => setError(e.message))
      .finally(() => (loadingMore.current = false));
  }, [firstCol, cursor, dagId, pageSize]);

  // the keyboard's cell: starts on the selected run and task (or the newest run's first task)
  const [active, setActive] = useState<{ runId: string; taskId: string } | null>(null);
  const activeRun = active?.runId ?? selectedRun ?? runs[runs.length - 1]?.runId ?? null;
  const activeTask = active?.taskId ?? selectedTask ?? tasks[0] ?? null;
  const activeCol = Math.max(0, runs.findIndex((r) => r.runId === activeRun));
  const activeRow = Math.max(0, activeTask === null ? 0 : tasks.indexOf(activeTask));
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (runs.length === 0 || tasks.length === 0) return;
    let row = activeRow;
    let col = activeCol;
    switch (e.key) {
      case "ArrowLeft": col = Math.max(0, col - 1); break;
      case "ArrowRight": col = Math.min(runs.length - 1, col + 1); break;
      case "ArrowUp": row = Math.max(0, row - 1); break;
      case "ArrowDown": row = Math.min(tasks.length - 1, row + 1); break;
      case "PageUp": row = Math.max(0, row - 20); break;
      case "PageDown": row = Math.min(tasks.length - 1, row + 20); break;
      case "Home": col = 0; break;
      case "End": col = runs.length - 1; break;
      case "Enter":
      case " ":
        e.preventDefault();
        onSelect(runs[col]!.runId, tasks[row]!);
        return;
      default:
        return;
    }
    e.preventDefault();
    follow.current = col === runs.length - 1 && follow.current;
    setActive({ runId: runs[col]!.runId, taskId: tasks[row]! });
    rows.scrollToIndex(row, { align: "auto" });
    cols.scrollToIndex(col, { align: "auto" });
  };

  if (error && !loaded) return <p className="error">{error}</p>;
  if (!loaded) return <div className="grid loading">Loading the grid…</div>;
  if (runs.length === 0) return <p className="muted">No runs yet.</p>;
  const width = cols.getTotalSize();
  const vrows = rows.getVirtualItems();
  const longest = Math.max(1, ...runs.map(runMs));
  const cellId = (col: number, row: number) => `grid-cell-${col}-${row}`;
  return (
    <div className="grid-view">
      <div
        className="grid"
        ref={scrollRef}
        onScroll={onScroll}
        data-testid="grid"
        data-tasks={tasks.length}
        data-runs={runs.length}
        role="grid"
        aria-label={`Task instances of ${dagId}: ${tasks.length} tasks by ${runs.length} runs, oldest run first`}
        aria-rowcount={tasks.length + 1}
        aria-colcount={runs.length + 1}
        tabIndex={0}
        aria-activedescendant={cellId(activeCol, activeRow)}
        onKeyDown={onKeyDown}
      >
        <div style={{ width, height: rows.getTotalSize(), position: "relative" }}>
          <div className="grid-head" role="row" style={{ width, height: HEAD_H }}>
            <div className="grid-corner" style={{ width: LABEL_W, height: HEAD_H }}>
              {tasks.length} tasks × {runs.length}
              {cursor ? "+" : ""} runs
              <div className="muted small">oldest ← → newest</div>
            </div>
            {vcols.map((c) => {
              const r = runs[c.index]!;
              const ms = runMs(r);
              return (
                <button
                  type="button"
                  key={r.runId}
                  role="columnheader"
                  className={`grid-run${r.runId === selectedRun ? " selected" : ""}`}
                  data-run={r.runId}
                  data-index={c.index}
                  style={{ left: c.start, width: COL_W, height: HEAD_H }}
                  title={`${r.runId}\n${r.runType ?? ""} · ${r.state}\n${fmtTime(r.logicalDate ?? r.createdAt ?? r.startedAt)}${ms > 0 ? `\n${fmtDuration(ms)}` : ""}`}
                  aria-label={`Run ${r.runId}`}
                  onClick={() => onSelect(r.runId, null)}
                >
                  <span className="run-date" style={{ height: DATE_H }}>
                    {shortDate(r.logicalDate ?? r.createdAt ?? null)}
                  </span>
                  <span className="bar-slot" style={{ height: BAR_H }}>
                    <span className="bar" data-state={r.state} style={{ background: stateColor(r.state), color: stateInk(r.state), height: barHeight(ms, longest) }}>
                      {stateIcon(r.state)}
                    </span>
                  </span>
                </button>
              );
            })}
          </div>
          {vrows.map((row) => {
            const taskId = tasks[row.index]!;
            return (
              <div
                key={row.key}
                role="row"
                aria-rowindex={row.index + 2}
                className={`grid-row${taskId === selectedTask ? " selected" : ""}`}
                style={{ top: row.start, height: ROW_H, width }}
              >
                <div className="grid-label" role="rowheader" style={{ width: LABEL_W }} title={taskId}>
                  {taskId}
                </div>
                {vcols.map((c) => {
                  const r = runs[c.index]!;
                  const letter = states[r.runId]?.[row.index] ?? ".";
                  const state = STATE_LETTERS[letter] ?? "none";
                  const isActive = c.index === activeCol && row.index === activeRow;
                  return (
                    <span
                      key={c.key}
                      id={cellId(c.index, row.index)}
                      role="gridcell"
                      aria-colindex={c.index + 2}
                      aria-selected={r.runId === selectedRun && taskId === selectedTask}
                      aria-label={`${taskId}, run ${r.runId}: ${state.replace(/_/g, " ")}`}
                      className={`cell${r.runId === selectedRun && taskId === selectedTask ? " selected" : ""}${isActive ? " active" : ""}`}
                      data-state={state}
                      data-run={r.runId}
                      data-task={taskId}
                      title={`${taskId} · ${r.runId}: ${state}`}
                      style={{ left: c.start, background: state === "absent" ? "transparent" : stateColor(state), color: stateInk(state) }}
                      onClick={() => {
                        setActive({ runId: r.runId, taskId });
                        onSelect(r.runId, taskId);
                      }}
                    >
                      {stateIcon(state)}
                    </span>
                  );
                })}
              </div>
            );
          })}
        </div>
      </div>
      <StateLegend />
    </div>
  );
}

function runMs(r: GridRun): number {
  if (r.startedAt === null) return 0;
  return Math.max(0, (r.endedAt ?? Date.now()) - r.startedAt);
}

/** Bars scale to the longest run shown (as Airflow's do), with a floor so that a short run stays visible. */
function barHeight(ms: number, longest: number): number {
  return Math.round(6 + (ms / longest) * (BAR_H - 10));
}

/** "Dec 07 14:00": enough to tell columns apart, read top to bottom in the rotated head. */
function shortDate(ms: number | null): string {
  if (ms === null) return "";
  const d = new Date(ms);
  const mon = d.toLocaleString(undefined, { month: "short" });
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${mon} ${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
