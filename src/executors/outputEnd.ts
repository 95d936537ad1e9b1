/**
 * The line a process-isolated task's child prints on stdout and stderr after an attempt's output, before
 * the attempt's result goes over IPC (childMain.ts): the parent (childProcess.ts) logs what came before
 * it as that attempt's output and never shows the line. A reused process's pipes then carry no output of
 * one attempt into the next.
 */
export function outputEndMarker(attemptId: number): string {
  return `\u0000sluice:end-of-output:${attemptId}`;
}
