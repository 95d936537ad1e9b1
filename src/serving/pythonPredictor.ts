/**
 * The `python` flavor: a long-lived Python process per loaded version (python/sluice_serve.py, standard
 * library only) that imports the model's script, calls its `load(path)` once, then answers batches as JSON
 * lines over stdin/stdout. Requests are answered in order by id; one process handles one batch at a time
 * (the batcher sends the next when the last answered).
 *
 * If the process dies (the model crashed it, it was killed, it ran out of memory), the batches it held and
 * every request until it is back fail at once with MODEL_UNAVAILABLE naming the model — never a hang — and
 * it is started again with backoff (0.5 s doubling to 10 s), loading the model again.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ModelVersionRecord, Predictor } from "../core/models.js";
import { SluiceError } from "../errors.js";

const RUNNER = fileURLToPath(new URL("../../python/sluice_serve.py", import.meta.url));
const MIN_RESTART_MS = 500;
const MAX_RESTART_MS = 10_000;
/** stderr lines kept for the message when loading fails. */
const STDERR_TAIL = 20;

interface Waiter {
  resolve(predictions: unknown[]): void;
  reject(e: unknown): void;
}

export interface PythonPredictorOptions {
  python: string;
  /** The model's script (absolute). */
  script: string;
  /** The artifact, written to a file. */
  artifactPath: string;
  /**
   * The process's environment: the clean base tasks get (config.taskEnv), never Sluice's own SLUICE_*
   * variables (database URL, tokens) — model code is user code like a task's.
   */
  env: NodeJS.ProcessEnv;
  /** The first restart's delay (default 500 ms; it doubles per failure to 10 s). */
  restartDelayMs?: number;
  /** Where the process's stderr lines and restarts are reported. */
  log: (line: string) => void;
}

export class PythonPredictor implements Predictor {
  private child: ChildProcessWithoutNullStreams | null = null;
  private waiters = new Map<number, Waiter>();
  private nextId = 1;
  private closed = false;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  /** Why the process is not there now (null: it is up). */
  private down: string | null = "starting";
  /** Whether the model ever loaded: a process that dies after that is restarted (even if a restart fails to load). */
  private loadedOnce = false;
  /** Times the process was started (tests check a restart happened). */
  starts = 0;
  private readonly what: string;

  private constructor(
    private readonly v: ModelVersionRecord,
    private readonly opts: PythonPredictorOptions,
  ) {
    this.what = `model "${v.name}" version ${v.version}`;
  }

  /** Start the process and wait until the model is loaded; a failed load is MODEL_LOAD with Python's message. */
  static async start(v: ModelVersionRecord, opts: PythonPredictorOptions): Promise<PythonPredictor> {
    const p = new PythonPredictor(v, opts);
    await p.spawnOnce();
    return p;
  }

  /** Whether the process is up (GET /health). */
  get healthy(): boolean {
    return this.down === null;
  }

  /** The pid of the current process (tests kill it). */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  private spawnOnce(): Promise<void> {
    this.starts++;
    const child = spawn(this.opts.python, ["-u", RUNNER, this.opts.script, this.opts.artifactPath], { stdio: ["pipe", "pipe", "pipe"], env: { ...this.opts.env, PYTHONUNBUFFERED: "1" } });
    this.child = child;
    const stderrTail: string[] = [];
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      createInterface({ input: child.stderr }).on("line", (line) => {
        stderrTail.push(line);
        if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
        this.opts.log(`[${this.v.name}@${this.v.version} python] ${line}`);
      });
      createInterface({ input: child.stdout }).on("line", (line) => {
        let msg: { ready?: boolean; fatal?: string; id?: number; predictions?: unknown[]; error?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          this.opts.log(`[${this.v.name}@${this.v.version} python] unexpected output: ${line.slice(0, 200)}`);
          return;
        }
        if (!ready) {
          if (msg.ready) {
            ready = true;
            this.loadedOnce = true;
            this.down = null;
            this.failures = 0;
            resolve();
          } else if (msg.fatal) {
            reject(new SluiceError("MODEL_LOAD", `${this.what}: loading ${this.opts.script} failed: ${msg.fatal}`));
          }
          return;
        }
        const w = msg.id === undefined ? undefined : this.waiters.get(msg.id);
        if (!w) return;
        this.waiters.delete(msg.id!);
        if (msg.error !== undefined) w.reject(new SluiceError("PREDICT_FAILED", `${this.what}: predict failed in Python: ${msg.error}`));
        else w.resolve(msg.predictions ?? []);
      });
      child.on("error", (e) => {
        if (!ready) reject(new SluiceError("MODEL_LOAD", `${this.what}: cannot start ${this.opts.python}: ${e.message} (set SLUICE_PYTHON)`, { cause: e }));
      });
      child.on("exit", (code, signal) => {
        if (this.child === child) this.child = null;
        const why = `the Python process of ${this.what} exited (${signal ?? `code ${code}`})`;
        if (!ready) {
          const tail = stderrTail.length ? `:\n${stderrTail.join("\n")}` : "";
          reject(new SluiceError("MODEL_LOAD", `${why} while loading${tail}`));
        }
        this.lost(this.loadedOnce ? why : null);
      });
      // a write to a process that just died is reported by its exit: nothing to do here
      child.stdin.on("error", () => undefined);
    });
  }

  /** The process is gone: fail what it held, and start it again unless closing (or it never loaded). */
  private lost(why: string | null): void {
    const err = new SluiceError("MODEL_UNAVAILABLE", `${why ?? `the Python process of ${this.what} is not running`}; it is being restarted, try again shortly`);
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    if (this.closed || why === null) return;
    this.down = err.message;
    this.failures++;
    const delay = Math.min(MAX_RESTART_MS, (this.opts.restartDelayMs ?? MIN_RESTART_MS) * 2 ** Math.min(this.failures - 1, 10));
    this.opts.log(`${why}; restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.closed) return;
      this.spawnOnce().then(
        () => this.opts.log(`the Python process of ${this.what} is back`),
        (e: Error) => this.opts.log(`restarting the Python process of ${this.what} failed: ${e.message}`),
      );
    }, delay);
    this.restartTimer.unref();
  }

  predict(rows: readonly unknown[]): Promise<unknown[]> {
    const child = this.child;
    if (this.closed) return Promise.reject(new SluiceError("MODEL_UNAVAILABLE", `${this.what} is closed`));
    if (!child || this.down !== null) return Promise.reject(new SluiceError("MODEL_UNAVAILABLE", this.down ?? `the Python process of ${this.what} is not running; try again shortly`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ id, rows })}\n`);
    });
  }

  /** Close stdin (the runner exits by itself); kill it if it has not within 5 s. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      child.once("exit", () => {
        clearTimeout(kill);
        resolve();
      });
      child.stdin.end();
    });
  }
}
