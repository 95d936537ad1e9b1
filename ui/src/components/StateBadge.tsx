/** Run and task states as coloured marks, and the grid endpoint's one-letter state codes. */

export const STATE_COLORS: Record<string, string> = {
  success: "#2e9d4f",
  failed: "#d1383d",
  running: "#27a0d9",
  queued: "#8c8c8c",
  scheduled: "#b9a431",
  none: "#d6d6d6",
  skipped: "#e58ed4",
  upstream_failed: "#f29c3c",
  up_for_retry: "#f5d142",
  up_for_reschedule: "#6fd1c5",
  removed: "#bbbbbb",
};

/** The grid endpoint's letters (docs/api.md). */
export const STATE_LETTERS: Record<string, string> = {
  n: "none",
  q: "scheduled",
  r: "running",
  s: "success",
  f: "failed",
  k: "skipped",
  u: "upstream_failed",
  y: "up_for_retry",
  w: "up_for_reschedule",
  x: "removed",
  ".": "absent",
};

export function stateColor(state: string | undefined): string {
  return (state && STATE_COLORS[state]) || "transparent";
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span className="badge" data-state={state} style={{ background: stateColor(state) }}>
      {state.replace(/_/g, " ")}
    </span>
  );
}

export function StateDot({ state, title }: { state: string; title?: string }) {
  return <span className="dot" data-state={state} title={title ?? state} style={{ background: stateColor(state) }} />;
}
