/** Formatting of times, durations and sizes for display. */

export function fmtTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** The browser's time zone offset at `ms`, as "UTC+01:00" ("UTC" at zero). */
export function fmtZone(ms: number): string {
  const off = -new Date(ms).getTimezoneOffset();
  if (off === 0) return "UTC";
  const a = Math.abs(off);
  return `UTC${off > 0 ? "+" : "-"}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

/** A time with its zone: "2026-03-01 01:00:00 UTC+01:00" (forms and run pages, where the zone matters). */
export function fmtTimeTz(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  return `${fmtTime(ms)} ${fmtZone(ms)}`;
}

/**
 * Try numbers run on across clears (a clear gives a fresh set of retries; tryBase: the tries before it):
 * "attempt 1 of 2 (try 4 overall)" after a clear, "attempt 2 of 2" before any (the server's core/tries.ts).
 */
export function describeTry(tryNumber: number, tryBase: number, maxTries: number | null | undefined): string {
  const round = tryNumber - tryBase;
  if (round < 1) return `try ${tryNumber} (before the last clear)`;
  return `attempt ${round}${maxTries ? ` of ${maxTries}` : ""}${tryBase > 0 ? ` (try ${tryNumber} overall)` : ""}`;
}
