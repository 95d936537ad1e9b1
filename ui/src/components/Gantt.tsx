/**
 * A run's timeline: one row per task instance, every attempt on it (retries side by side), each as the
 * time it waited (hatched) then the time it ran (its state's colour and symbol), under a time axis.
 * Hovering a segment shows its details; clicking a row opens the task panel. Rows are virtualised.
 */
import { useEffect, useMemo, useRef, useState, type MouseEvent } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { Run, Structure, TaskInstance } from "../api";
import { fmtDuration, fmtTime } from "../format";
import { invalidateRunAttempts, useListRunAttempts } from "../queries/useListRunAttempts";
import { timelineRows, timeTicks, type Segment, type TimelineRow } from "../timeline/rows";
import { StateLegend, stateColor, stateIcon, stateInk } from "./StateBadge";

const ROW_H = 24;
const LABEL_W = 260;
const AXIS_H = 26;
const FINISHED = new Set(["success", "failed"]);

export function Gantt({
  run,
  instances,
  structure,
  onSelect,
}: {
  run: Run;
  instances: TaskInstance[];
  /** For the wait before a first attempt (its upstream tasks); without it, waits before first attempts are not shown. */
  structure?: Structure | undefined;
  onSelect: (taskId: string, mapIndex: number) => void;
}) {
  const live = !FINISHED.has(run.state);
  const attempts = useListRunAttempts(run.runId, live, 2000);
  // the run moved on (e.g. finished, so polling stops): fetch its attempts once more, as they are now
  const seenState = useRef(run.state);
  useEffect(() => {
    if (seenState.current === run.state) return;
    seenState.current = run.state;
    void invalidateRunAttempts(run.runId);
  }, [run.runId, run.state]);
  const upstream = useMemo(() => new Map((structure?.tasks ?? []).map((t) => [t.id, t.upstream])), [structure]);
  const rowsData = useMemo(
    () => timelineRows(instances, attempts.data ?? [], (id) => upstream.get(id) ?? [], run.startedAt),
    [instances, attempts.data, upstream, run.startedAt],
  );
  const now = Date.now();
  const t0 = Math.min(run.startedAt ?? Infinity, ...rowsData.map((r) => r.segments[0]!.queuedAt));
  const t1 = Math.max(run.endedAt ?? now, ...rowsData.flatMap((r) => r.segments.map((s) => s.endedAt ?? now)));
  const span = Math.max(1, t1 - t0);
  const ref = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: rowsData.length, getScrollElement: () => ref.current, estimateSize: () => ROW_H, overscan: 10, paddingStart: AXIS_H, scrollPaddingStart: AXIS_H });
  const [hover, setHover] = useState<{ row: TimelineRow; seg: Segment; x: number; y: number } | null>(null);
  if (rowsData.length === 0) return <p className="muted">No task of this run has started yet.</p>;
  const pct = (t: number) => ((t - t0) / span) * 100;
  const ticks = timeTicks(t0, t1, 8);
  return (
    <div className="gantt-view">
      <div className="gantt" ref={ref} data-testid="gantt" onMouseLeave={() => setHover(null)}>
        <div style={{ height: rows.getTotalSize(), position: "relative" }}>
          <div className="gantt-axis" data-testid="gantt-axis" style={{ height: AXIS_H }}>
            <div className="gantt-axis-label muted small" style={{ width: LABEL_W }}>
              {fmtTime(t0)} · {fmtDuration(span)}
            </div>
            <div className="gantt-track">
              {ticks.map((off) => (
                <span key={off} className="tick" style={{ left: `${(off / span) * 100}%` }}>
                  +{fmtDuration(off)}
                </span>
              ))}
            </div>
          </div>
          {rows.getVirtualItems().map((v) => {
            const r = rowsData[v.index]!;
            return (
              <div
                key={v.key}
                className="gantt-row"
                data-task={r.taskId}
                data-attempts={r.segments.length}
                style={{ top: v.start, height: ROW_H }}
                onClick={() => onSelect(r.taskId, r.mapIndex)}
              >
                <div className="grid-label" style={{ width: LABEL_W }} title={r.label}>
                  {r.label}
                  {r.segments.length > 1 && <span className="muted small"> ×{r.segments.length}</span>}
                </div>
                <div className="gantt-track">
                  {ticks.map((off) => (
                    <span key={off} className="gridline" style={{ left: `${(off / span) * 100}%` }} />
                  ))}
                  {r.segments.map((s) => {
                    const end = s.endedAt ?? now;
                    const show = (e: MouseEvent) => setHover({ row: r, seg: s, x: e.clientX, y: e.clientY });
                    return (
                      <span key={String(s.attemptId)} onMouseEnter={show} onMouseMove={show}>
                        {s.startedAt > s.queuedAt && (
                          <span className="gantt-queued" data-testid="gantt-queued" style={{ left: `${pct(s.queuedAt)}%`, width: `${pct(s.startedAt) - pct(s.queuedAt)}%` }} />
                        )}
                        <span
                          className="gantt-bar"
                          data-testid="gantt-attempt"
                          data-state={s.state}
                          data-try={s.tryNumber}
                          aria-label={`${r.label} try ${s.tryNumber}: ${s.state}, ${fmtDuration(end - s.startedAt)}`}
                          style={{ left: `${pct(s.startedAt)}%`, width: `max(3px, ${pct(end) - pct(s.startedAt)}%)`, background: stateColor(s.state), color: stateInk(s.state) }}
                        >
                          {stateIcon(s.state)}
                          {r.segments.length > 1 ? s.tryNumber : ""}
                        </span>
                      </span>
                    );
                  })}
                </div>
              </div>
            );
          })}
        </div>
      </div>
      {hover && <HoverCard row={hover.row} seg={hover.seg} x={hover.x} y={hover.y} now={now} />}
      <StateLegend states={["success", "failed", "running", "up_for_reschedule"]} />
      <div className="muted small gantt-key">
        <span className="gantt-queued-key" /> waiting (queued, or the retry delay before a retry)
      </div>
    </div>
  );
}

function HoverCard({ row, seg, x, y, now }: { row: TimelineRow; seg: Segment; x: number; y: number; now: number }) {
  const end = seg.endedAt ?? now;
  return (
    <div className="gantt-hover" role="tooltip" data-testid="gantt-hover" style={{ left: x + 12, top: y + 12 }}>
      <strong>{row.label}</strong> · try {seg.tryNumber}
      <dl className="timings">
        <dt>state</dt>
        <dd>{seg.state.replace(/_/g, " ")}</dd>
        <dt>waited</dt>
        <dd>{fmtDuration(seg.startedAt - seg.queuedAt)}</dd>
        <dt>started</dt>
        <dd>{fmtTime(seg.startedAt)}</dd>
        <dt>ended</dt>
        <dd>{seg.endedAt === null ? "running" : fmtTime(seg.endedAt)}</dd>
        <dt>ran</dt>
        <dd>{fmtDuration(end - seg.startedAt)}</dd>
        {seg.hostname && (
          <>
            <dt>worker</dt>
            <dd>{seg.hostname}</dd>
          </>
        )}
        {seg.error && (
          <>
            <dt>error</dt>
            <dd className="error">{seg.error.slice(0, 200)}</dd>
          </>
        )}
      </dl>
    </div>
  );
}
