/**
 * How tries read after a clear. A task instance's try numbers run on across clears (a clear gives a fresh
 * set of retries: `tryBase` is the tries before it), so "try 4" of a task with one retry reads as
 * "attempt 2 of 2 (try 4 overall)": the count people reason about (retries left) and the number the store
 * keeps (logs, attempt ids) side by side.
 */

/** "attempt 1 of 2" before any clear; "attempt 1 of 2 (try 4 overall)" after one. */
export function describeTry(tryNumber: number, tryBase: number, maxTries: number | null): string {
  const round = tryNumber - tryBase;
  if (round < 1) return `try ${tryNumber} (before the last clear)`;
  return `attempt ${round}${maxTries !== null ? ` of ${maxTries}` : ""}${tryBase > 0 ? ` (try ${tryNumber} overall)` : ""}`;
}

interface EndedAttemptFacts {
  tryNumber: number;
  tryBase: number;
  maxTries: number | null;
  state: string;
  hostname: string;
  startedAt: number;
  endedAt: number | null;
  errorMessage: string | null;
}

/**
 * The log of an attempt that wrote no line: its own start and end, from its record. A quiet successful task
 * stores no log (the worker holds its own lines until the task writes one: thousands of no-op tasks would
 * otherwise cost thousands of files), yet `sluice logs` and the UI must never show nothing.
 */
export function quietAttemptLines(a: EndedAttemptFacts): { t: number; level: "info" | "error"; msg: string }[] {
  const what = describeTry(a.tryNumber, a.tryBase, a.maxTries);
  const lines: { t: number; level: "info" | "error"; msg: string }[] = [{ t: a.startedAt, level: "info", msg: `${what} started on ${a.hostname} (the task wrote no log lines)` }];
  if (a.endedAt === null) return lines;
  const verb = a.state === "success" ? "succeeded" : a.state === "failed" ? "failed" : `ended ${a.state}`;
  const why = a.state === "failed" && a.errorMessage ? `: ${a.errorMessage}` : "";
  lines.push({ t: a.endedAt, level: a.state === "failed" ? "error" : "info", msg: `${what} ${verb} after ${a.endedAt - a.startedAt} ms${why}` });
  return lines;
}
