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
// The main thread says which file it imports by writing to shared memory, not by messages: a message per
// import and per end cost ~0.3 ms of the main thread each, 1.2 s for 2,000 files on a busy machine. The
// thread looks every `tick` ms: an import that is still the same one (same sequence number) after the
// timeout is the stuck one.
const THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const { writeSync } = require("node:fs");
const { state, files, timeoutMs, seconds, tick } = workerData;
let seen = 0, since = 0;
setInterval(() => {
  const seq = Atomics.load(state, 1), current = Atomics.load(state, 0);
  if (current === 0 || seq !== seen) { seen = seq; since = Date.now(); return; }
  if (Date.now() - since < timeoutMs) return;
  writeSync(2, "error [DAG_IMPORT_TIMEOUT]: " + files[current - 1] + ": importing the file took longer than " + seconds + " s (an endless loop or a hanging await at import time?); fix the file or move it out of the DAGs folder (SLUICE_DAG_IMPORT_TIMEOUT_MS sets the limit)\\n");
  // process.exit() here would only end this thread; the main thread is stuck and cannot exit itself
  process.kill(process.pid, "SIGKILL");
}, tick);
parentPort.postMessage("ready");
`;

export class ImportWatchdog {
  private constructor(
    private readonly thread: Worker,
    /** [index + 1 of the file being imported (0: none), sequence number of imports] */
    private readonly state: Int32Array,
  ) {}

  /** Watch imports of `files` (as shown to the user), each allowed `timeoutMs`. */
  static async start(timeoutMs: number, files: readonly string[]): Promise<ImportWatchdog> {
    const state = new Int32Array(new SharedArrayBuffer(8));
    // the deadline is kept within a tenth of the timeout (at most 1 s late)
    const tick = Math.max(5, Math.min(1000, Math.floor(timeoutMs / 10)));
    const thread = new Worker(THREAD, { eval: true, workerData: { state, files, timeoutMs, seconds: Math.round(timeoutMs / 100) / 10, tick } });
    // an import started before the thread's timer runs would go unwatched while the main thread hangs
    await new Promise<void>((resolve, reject) => {
      thread.once("message", () => resolve());
      thread.once("error", reject);
    });
    thread.unref();
    return new ImportWatchdog(thread, state);
  }

  /** `files[index]` is being imported from now on. */
  watch(index: number): void {
    Atomics.add(this.state, 1, 1);
    Atomics.store(this.state, 0, index + 1);
  }

  /** The import ended (loaded or failed). */
  clear(): void {
    Atomics.store(this.state, 0, 0);
  }

  async stop(): Promise<void> {
    await this.thread.terminate();
  }
}
