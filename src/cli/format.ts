/** Terminal output: aligned tables, states in colour on a TTY, times in ISO-8601 UTC. */
import { escapeControls } from "../core/controlChars.js";
import { formatDuration } from "../core/duration.js";

const COLORS: Record<string, string> = {
  success: "32",
  failed: "31",
  upstream_failed: "33",
  running: "36",
  scheduled: "34",
  up_for_retry: "33",
  up_for_reschedule: "36",
  skipped: "35",
  queued: "34",
};

export function colorState(state: string, tty = process.stdout.isTTY === true): string {
  const c = COLORS[state];
  return tty && c && !process.env["NO_COLOR"] ? `\x1b[${c}m${state}\x1b[0m` : state;
}

export function iso(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : new Date(ms).toISOString();
}

export function duration(start: number | null, end: number | null): string {
  if (start === null) return "";
  if (end === null) return "…";
  return formatDuration(end - start);
}

// eslint-disable-next-line no-control-regex -- a state word in the colour colorState gives it
const COLORED_STATE = /^\x1b\[\d+m[a-z_]+\x1b\[0m$/;

/**
 * Render rows as an aligned table; ANSI colour codes do not count towards widths. Cells are escaped
 * (core/controlChars): a cell holds task text (ids, errors, descriptions) that must not move the cursor or
 * break a row in two; only colorState's own colouring is kept.
 */
export function table(headers: string[], rows: (string | number | null)[][]): string {
  // eslint-disable-next-line no-control-regex -- ESC starts the colour codes to leave out
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "").length;
  const cell = (c: string | number | null) => (c === null ? "" : typeof c === "number" || COLORED_STATE.test(c) ? String(c) : escapeControls(c));
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => visible(r[i] ?? ""))));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat(widths[i]! - visible(c))))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
