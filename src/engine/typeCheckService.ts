/**
 * `sluice dev`'s background type check: after the DAGs folder is parsed, and again after each change, the
 * folder is type-checked in a child process (typeCheckMain.ts) while the last good code keeps running —
 * loading never waits for it. Requests while a check runs coalesce into one more check; each result
 * replaces the stored set (`type_errors`), which the CLI and the UI show next to import errors.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Store } from "../store/store.js";
import { findDagFiles } from "./dagLoader.js";
import type { DagTypeError } from "./typeCheck.js";

export interface TypeCheckRequest {
  dir: string;
  cacheDir: string;
  files: string[];
}

export type TypeCheckReply = { errors: DagTypeError[] } | { failure: string };

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const MAIN = fileURLToPath(new URL(FROM_SOURCE ? "./typeCheckMain.ts" : "./typeCheckMain.js", import.meta.url));
/** Saves within this window (an editor writing several files) make one check. */
const DEBOUNCE_MS = 200;

export class BackgroundTypeCheck {
  private child: ChildProcess | null = null;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly opts: {
      dir: string;
      cacheDir: string;
      store: Store;
      /** Each check's errors (stored already), or why the check could not run. */
      onResult: (r: TypeCheckReply) => void;
    },
  ) {}

  /** Check soon (debounced); a check under way is followed by one more. */
  request(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, DEBOUNCE_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.child?.kill("SIGKILL");
    this.child = null;
  }

  private async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      const files = await findDagFiles(this.opts.dir).catch(() => []);
      const reply = await this.ask({ dir: this.opts.dir, cacheDir: this.opts.cacheDir, files });
      if (this.stopped) return;
      if ("errors" in reply) await this.opts.store.tx((tx) => tx.dags.replaceTypeErrors(reply.errors, this.opts.store.now()));
      this.opts.onResult(reply);
    } catch (e) {
      if (!this.stopped) this.opts.onResult({ failure: e instanceof Error ? e.message : String(e) });
    } finally {
      this.running = false;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.run();
      }
    }
  }

  private ask(req: TypeCheckRequest): Promise<TypeCheckReply> {
    const child = (this.child ??= this.spawn());
    return new Promise((resolve) => {
      const onMessage = (m: TypeCheckReply) => {
        child.off("exit", onExit);
        resolve(m);
      };
      const onExit = (code: number | null, signal: string | null) => {
        child.off("message", onMessage);
        if (this.child === child) this.child = null;
        resolve({ failure: `the type checker stopped (${signal ?? `exit code ${code}`})` });
      };
      child.once("message", onMessage);
      child.once("exit", onExit);
      child.send(req);
    });
  }

  private spawn(): ChildProcess {
    const child = fork(MAIN, [], { execArgv: FROM_SOURCE ? ["--import", "tsx"] : [], stdio: ["ignore", "ignore", "inherit", "ipc"] });
    // dev's own exit must not wait for it
    child.unref();
    child.channel?.unref();
    return child;
  }
}
