/** A run's timeline: one bar per task instance from start to end, rows virtualised for large runs. */
import { useRef } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import type { Run, TaskInstance } from "../api";
import { fmtDuration, fmtTime } from "../format";
import { stateColor } from "./StateBadge";

const ROW_H = 22;
const LABEL_W = 260;

export function Gantt({ run, instances, onSelect }: { run: Run; instances: TaskInstance[]; onSelect: (taskId: string, mapIndex: number) => void }) {
  const started = instances.filter((t) => t.startedAt !== null).sort((a, b) => a.startedAt! - b.startedAt!);
  const t0 = run.startedAt ?? started[0]?.startedAt ?? Date.now();
  const t1 = Math.max(run.endedAt ?? Date.now(), ...started.map((t) => t.endedAt ?? Date.now()));
  const span = Math.max(1, t1 - t0);
  const ref = useRef<HTMLDivElement>(null);
  const rows = useVirtualizer({ count: started.length, getScrollElement: () => ref.current, estimateSize: () => ROW_H, overscan: 10 });
  if (started.length === 0) return <p className="muted">No task of this run has started yet.</p>;
  return (
    <div className="gantt" ref={ref} data-testid="gantt">
      <div className="gantt-axis muted small">
        <span style={{ marginLeft: LABEL_W }}>{fmtTime(t0)}</span>
        <span>{fmtDuration(span)}</span>
      </div>
      <div style={{ height: rows.getTotalSize(), position: "relative" }}>
        {rows.getVirtualItems().map((v) => {
          const t = started[v.index]!;
          const left = ((t.startedAt! - t0) / span) * 100;
          const width = Math.max(0.2, (((t.endedAt ?? Date.now()) - t.startedAt!) / span) * 100);
          const label = t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId;
          return (
            <div key={v.key} className="gantt-row" style={{ top: v.start, height: ROW_H }} onClick={() => onSelect(t.taskId, t.mapIndex)}>
              <div className="grid-label" style={{ width: LABEL_W }} title={label}>
                {label}
              </div>
              <div className="gantt-track">
                <span
                  className="gantt-bar"
                  title={`${label}: ${t.state}, ${fmtDuration((t.endedAt ?? Date.now()) - t.startedAt!)}`}
                  style={{ left: `${left}%`, width: `${width}%`, background: stateColor(t.state) }}
                />
              </div>
            </div>
          );
        })}
      </div>
    </div>
  );
}
