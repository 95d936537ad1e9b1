/**
 * A DAG file that loops forever at import time (`while (true) {}`) blocks the thread that imports it, so
 * no timer of that thread can ever fire. The scheduler imports files in a child process (DAG processor);
 * the CLI imports them in its own process, because it runs their tasks. Rather than parse every file
 * twice (a child costs ~350 ms per command), a watchdog thread — which keeps running while the main
 * thread is stuck — watches the current import: past the deadline it prints an import error naming the
 * file and ends the process (non-zero exit), as nothing else can interrupt a busy JavaScript thread.
 * The same deadline catches an import whose top-level await never settles.
 */
import { Worker } from "node:worker_threads";

// Plain CommonJS, evaluated as a string: the thread needs no loader (tsx) and no file of its own.
const THREAD = `
const { parentPort } = require("node:worker_threads");
const { writeSync } = require("node:fs");
let timer = null;
parentPort.on("message", (m) => {
  if (timer) clearTimeout(timer);
  timer = null;
  if (m === null) return;
  timer = setTimeout(() => {
    writeSync(2, "error [DAG_IMPORT_TIMEOUT]: " + m.file + ": importing the file took longer than " + m.seconds + " s (an endless loop or a hanging await at import time?); fix the file or move it out of the DAGs folder (SLUICE_DAG_IMPORT_TIMEOUT_MS sets the limit)\\n");
    // process.exit() here would only end this thread; the main thread is stuck and cannot exit itself
    process.kill(process.pid, "SIGKILL");
  }, m.timeoutMs);
});
`;

export class ImportWatchdog {
  private constructor(
    private readonly thread: Worker,
    private readonly timeoutMs: number,
  ) {}

  static async start(timeoutMs: number): Promise<ImportWatchdog> {
    const thread = new Worker(THREAD, { eval: true });
    // messages posted before the thread is up would wait for the main thread's loop: the one that may hang
    await new Promise<void>((resolve, reject) => {
      thread.once("online", resolve);
      thread.once("error", reject);
    });
    thread.unref();
    return new ImportWatchdog(thread, timeoutMs);
  }

  /** `file` (as shown to the user) is being imported from now on. */
  watch(file: string): void {
    this.thread.postMessage({ file, timeoutMs: this.timeoutMs, seconds: Math.round(this.timeoutMs / 100) / 10 });
  }

  /** The import ended (loaded or failed). */
  clear(): void {
    this.thread.postMessage(null);
  }

  async stop(): Promise<void> {
    await this.thread.terminate();
  }
}
