/**
 * Run and task states as coloured marks with a symbol each (colour is never the only signal: WCAG 1.4.1),
 * the legend that explains both, and the grid endpoint's one-letter state codes.
 */

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

/**
 * One symbol per state, drawn on every coloured mark (graph node, grid cell, timeline bar, legend).
 * Geometric shapes and arrows from fonts every system has (DejaVu/Segoe/SF), no icon font.
 */
export const STATE_ICONS: Record<string, string> = {
  success: "✓",
  failed: "✕",
  running: "▶",
  queued: "◔",
  scheduled: "◷",
  none: "○",
  skipped: "»",
  upstream_failed: "!",
  up_for_retry: "↻",
  up_for_reschedule: "◑",
  removed: "−",
  absent: "",
};

/** The states a legend lists, in the order people look for them. */
const LEGEND_STATES = ["success", "failed", "running", "queued", "scheduled", "up_for_retry", "up_for_reschedule", "upstream_failed", "skipped", "removed", "none"];

export function stateIcon(state: string | undefined): string {
  return (state && STATE_ICONS[state]) ?? "";
}

/** Text colour readable on the state's colour. */
export function stateInk(state: string | undefined): string {
  return state === "none" || state === "up_for_retry" || state === "removed" || state === "up_for_reschedule" || state === "scheduled" || state === undefined ? "#1d2330" : "#fff";
}

/** What each colour and symbol means; `states` narrows it to those a view can show. */
export function StateLegend({ states = LEGEND_STATES }: { states?: string[] }) {
  return (
    <ul className="legend" data-testid="state-legend" aria-label="State legend">
      {states.map((s) => (
        <li key={s} data-state={s}>
          <span className="legend-mark" style={{ background: stateColor(s), color: stateInk(s) }} aria-hidden="true">
            {stateIcon(s)}
          </span>
          {s.replace(/_/g, " ")}
        </li>
      ))}
    </ul>
  );
}

export function stateColor(state: string | undefined): string {
  return (state && STATE_COLORS[state]) || "transparent";
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span className="badge" data-state={state} style={{ background: stateColor(state) }}>
      <span aria-hidden="true">{stateIcon(state)}</span> {state.replace(/_/g, " ")}
    </span>
  );
}

export function StateDot({ state, title }: { state: string; title?: string }) {
  return (
    <span className="dot" data-state={state} title={title ?? state} style={{ background: stateColor(state), color: stateInk(state) }}>
      {stateIcon(state)}
    </span>
  );
}
