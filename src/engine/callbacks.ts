/**
 * Running callbacks (decision 0019). A callback that fell due is a row of the store (store/callbacks.ts),
 * written with the state change it follows; any live process — worker, scheduler, `sluice dev` — claims
 * due rows with a lease and runs them, so a callback survives the crash of the process whose transition
 * made it due, and a crash mid-try only delays it (the lease ends, another process tries again).
 *
 * The code is the run's: the DAG file's callbacks resolved through the run's code bundle, as its tasks
 * are (engine/dagCode.ts). A callback that throws or times out is logged with its name and the reason and
 * tried again with backoff (core/callbacks.ts), up to CALLBACK_TRIES; it never changes a task's or a
 * run's state. Its log lines go through a Masker fed with what it can reach (connections it asked for, a
 * notifier's own secrets), so a password does not reach a log.
 */
import { randomBytes } from "node:crypto";
import type { JsonValue } from "../core/assets.js";
import { CALLBACK_TIMEOUT_MS, CALLBACK_TRIES, callbackKey, callbackRetryDelayMs, type CallbackEvent } from "../core/callbacks.js";
import { describeDeadline } from "../core/deadlines.js";
import type { Callback, CallbackContext } from "../dsl/callbacks.js";
import { SluiceError, toSluiceError } from "../errors.js";
import { attemptSecrets } from "../secrets/attempt.js";
import { metrics } from "../metrics/registry.js";
import { SpanStatusCode } from "@opentelemetry/api";
import { withSpan } from "../tracing/spans.js";
import { Masker } from "../secrets/mask.js";
import type { TaskSecrets } from "../secrets/secrets.js";
import type { CallbackRecord, RunRecord, Store } from "../store/store.js";
import type { DagCode } from "./dagCode.js";
import type { RunSpecs } from "./runSpecs.js";

export interface CallbackRunnerOptions {
  /** The base of links to the web UI (SLUICE_PUBLIC_URL); null: http://localhost:8080. */
  publicUrl?: string | null;
  /** Connections and variables for `ctx.connection` (the worker's backends); absent: none. */
  secrets?: TaskSecrets;
  /** Where its log lines go (default: stderr). */
  log?: (line: string) => void;
  /**
   * A claim's lease: a try not ended by then is taken over by another process (default 60 s). A try may
   * take half of it (at most CALLBACK_TIMEOUT_MS), so a live process ends its try well before that.
   */
  leaseMs?: number;
  /** How often a running process looks for due callbacks of others (default 2 s); its own are run at once. */
  pollMs?: number;
}

/** What `ctx.notifierSecrets` of a notifier gives: values to mask in its log lines (webhook secret, SMTP password). */
type WithSecrets = Callback & { readonly notifierSecrets?: readonly string[] };

export class CallbackRunner {
  /** This process's name in `callbacks.claimed_by`. */
  readonly owner = `cb-${randomBytes(5).toString("hex")}`;
  private opts: CallbackRunnerOptions = {};
  private running: Promise<number> | null = null;
  private again = false;
  private poll: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly store: Store,
    private readonly code: DagCode,
    private readonly specs: RunSpecs,
  ) {}

  configure(opts: CallbackRunnerOptions): void {
    this.opts = { ...this.opts, ...opts };
  }

  /**
   * Run due callbacks from now on: at once when this process's commits make some due, and every `pollMs`
   * those of other processes (and retries) that have come due (a read first: an idle poll writes nothing).
   * Only long-running processes start it; a command (`sluice runs cancel`) leaves its run's callbacks to them.
   */
  start(): void {
    if (this.poll) return;
    this.poll = setInterval(() => {
      void this.store.callbacks
        .nextDueIn()
        .then((d) => d === 0 && this.poke())
        .catch(() => undefined); // the next poll asks again
    }, this.opts.pollMs ?? 2000);
    this.poll.unref();
    this.poke();
  }

  /** Stop polling, and wait for a pass under way (its tries end in the store before it closes). */
  async stop(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    await this.running?.catch(() => undefined);
  }

  /** Callbacks fell due (a commit of this process): run them soon, if this process runs callbacks; one pass at a time. */
  poke(): void {
    if (!this.poll) return;
    if (this.running) {
      this.again = true;
      return;
    }
    void this.runDue().catch((e: unknown) => this.line(`error: callbacks could not be claimed: ${toSluiceError(e).message}`));
  }

  /**
   * Claim and run every callback due now (also what tests and `sluice run` call); returns how many tries
   * were made. Concurrent calls share one pass.
   */
  runDue(): Promise<number> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      let tries = 0;
      try {
        do {
          this.again = false;
          for (;;) {
            const claimed = await this.store.callbacks.claim(this.owner, 16, this.opts.leaseMs ?? 60_000);
            await Promise.all(claimed.map((c) => this.runOne(c)));
            tries += claimed.length;
            if (claimed.length < 16) break;
          }
        } while (this.again);
      } finally {
        this.running = null;
      }
      return tries;
    })();
    return this.running;
  }

  /** One try of one callback, ended in the store however it went. */
  private async runOne(c: CallbackRecord): Promise<void> {
    const masker = new Masker();
    const who = `callback ${c.name} (${describe(c)})`;
    let outcome: { ok: true } | { ok: false; error: unknown };
    let counter = metrics.callbacks;
    try {
      const run = await this.store.runs.get(c.runId);
      if (!run) throw new SluiceError("RUN_NOT_FOUND", `run "${c.runId}" is gone`);
      const fn = await this.resolve(run, c);
      for (const s of fn.notifierSecrets ?? []) masker.add(s);
      if (fn.notifierSecrets !== undefined) counter = metrics.notifications; // every notifier has the list (maybe empty)
      const ctx = await this.context(run, c, masker);
      const timeoutMs = Math.min(CALLBACK_TIMEOUT_MS, Math.floor((this.opts.leaseMs ?? 60_000) / 2));
      // a span per try, under the run's trace (a no-op unless tracing is on)
      outcome = await withSpan(
        `callback ${c.name}`,
        { "sluice.run_id": c.runId, "sluice.dag_id": run.dagId, "sluice.task_id": c.taskId, "sluice.event": c.event, "sluice.try": c.tries, "sluice.notifier": fn.notifierSecrets !== undefined },
        async (span) => {
          const o = await withTimeout(fn, ctx.value, ctx.controller, timeoutMs);
          if (!o.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: masker.mask(reasonOf(o.error)) });
          return o;
        },
      );
    } catch (e) {
      outcome = { ok: false, error: e };
    }
    counter.labels(outcome.ok ? "sent" : "failed").inc();
    if (outcome.ok) {
      if (await this.store.callbacks.finish(c, this.owner, { state: "done" })) this.line(`${who}: done${c.tries > 1 ? ` (try ${c.tries})` : ""}`);
      return;
    }
    const reason = masker.mask(reasonOf(outcome.error));
    if (c.tries < CALLBACK_TRIES) {
      const delay = callbackRetryDelayMs(c.tries);
      if (await this.store.callbacks.finish(c, this.owner, { state: "pending", error: reason, retryInMs: delay })) {
        this.line(`${who}: failed (try ${c.tries} of ${CALLBACK_TRIES}): ${reason}; trying again in ${Math.round(delay / 1000)}s`);
      }
    } else if (await this.store.callbacks.finish(c, this.owner, { state: "failed", error: reason })) {
      this.line(`${who}: failed (try ${c.tries} of ${CALLBACK_TRIES}): ${reason}; given up`);
    }
  }

  /** The callback's function in the run's code (its bundle), by its place in the list. */
  private async resolve(run: RunRecord, c: CallbackRecord): Promise<WithSecrets> {
    const loaded = await this.code.forVersion(run.dagId, run.dagVersion, run.codeHash);
    const fn = loaded?.dag.callbacks.get(callbackKey(c.taskId, c.event as CallbackEvent))?.[c.position];
    if (!fn) {
      throw new SluiceError("TASK_NOT_FOUND", `DAG "${run.dagId}" (version ${run.dagVersion}) has no callback ${c.name} for ${c.event}${c.taskId ? ` of task "${c.taskId}"` : ""} in its loaded code`);
    }
    return fn;
  }

  private async context(run: RunRecord, c: CallbackRecord, masker: Masker): Promise<{ value: CallbackContext; controller: AbortController }> {
    const task = c.taskId === "" ? null : await this.store.taskInstances.get(c.runId, c.taskId, c.mapIndex === -1 ? -1 : c.mapIndex);
    const attempt = c.tryNumber > 0 ? (await this.store.attempts.list(c.runId, c.taskId, c.mapIndex)).find((a) => a.tryNumber === c.tryNumber) ?? null : null;
    const miss = c.event === "deadline_miss" ? (await this.store.deadlines.ofRun(c.runId)).find((m) => m.taskId === c.taskId && m.mapIndex === c.mapIndex) ?? null : null;
    const idx = await this.specs.of(c.runId).catch(() => null);
    const deadlineSpec = c.taskId === "" ? idx?.spec.deadline : idx?.byId.get(c.taskId)?.deadline;
    const secrets = attemptSecrets(this.opts.secrets, masker, { dagId: run.dagId, taskId: c.taskId || "(run)" });
    const controller = new AbortController();
    const base = (this.opts.publicUrl ?? "http://localhost:8080").replace(/\/+$/, "");
    const q = new URLSearchParams({ run: run.runId, ...(c.taskId ? { task: c.taskId } : {}), ...(c.mapIndex >= 0 ? { map: String(c.mapIndex) } : {}) });
    const error =
      c.event === "failure" || c.event === "retry"
        ? attempt?.errorMessage
          ? { code: attempt.errorCode, message: masker.mask(attempt.errorMessage) }
          : c.taskId === "" && run.stateReason
            ? { code: null, message: run.stateReason }
            : c.taskId === ""
              ? { code: null, message: "a task of the run failed" }
              : null
        : null;
    const log = (level: string) => (m: string) => this.line(`callback ${c.name} (${describe(c)}) ${level}: ${masker.mask(m)}`);
    const value: CallbackContext = {
      id: `${c.runId}/${c.callbackId}`,
      event: c.event as CallbackEvent,
      dag: { id: run.dagId, version: run.dagVersion },
      run: { id: run.runId, state: run.state, reason: run.stateReason, logicalDate: run.logicalDate, queuedAt: run.createdAt, startedAt: run.startedAt, endedAt: run.endedAt },
      task: task ? { id: task.taskId, mapIndex: task.mapIndex, state: task.state } : null,
      attempt: attempt ? { tryNumber: attempt.tryNumber, startedAt: attempt.startedAt, endedAt: attempt.endedAt } : null,
      error,
      durationMs: attempt?.endedAt != null ? attempt.endedAt - attempt.startedAt : c.taskId === "" && run.endedAt !== null ? run.endedAt - (run.startedAt ?? run.createdAt) : null,
      deadline: miss ? { at: miss.deadlineAt, description: deadlineSpec ? describeDeadline(deadlineSpec) : "deadline" } : null,
      url: `${base}/dags/${encodeURIComponent(run.dagId)}?${q.toString()}`,
      log: { info: log("info"), warn: log("warning"), error: log("error") },
      connection: (id) => secrets.connection(id),
      variable: <T = JsonValue>(key: string, ...fallback: [T?]) => secrets.variable<T>(key, ...fallback),
      signal: controller.signal,
    };
    return { value, controller };
  }

  private line(text: string): void {
    (this.opts.log ?? ((t: string) => process.stderr.write(`${t}\n`)))(`sluice: ${text}`);
  }
}

function describe(c: Pick<CallbackRecord, "event" | "runId" | "taskId" | "mapIndex">): string {
  const task = c.taskId ? ` of task "${c.taskId}"${c.mapIndex >= 0 ? `[${c.mapIndex}]` : ""}` : "";
  return `${c.event}${task} in run ${c.runId}`;
}

function reasonOf(e: unknown): string {
  if (e instanceof Error) return e.message.split("\n")[0] || e.name;
  return String(e);
}

/** Run a callback; a try that takes longer than `timeoutMs` fails (its signal fires). */
async function withTimeout(fn: Callback, ctx: CallbackContext, controller: AbortController, timeoutMs: number): Promise<{ ok: true } | { ok: false; error: unknown }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = new SluiceError("TIMEOUT", `did not finish within ${timeoutMs / 1000}s`);
      controller.abort(e);
      reject(e);
    }, timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([Promise.resolve().then(() => fn(ctx)), timeout]);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: e };
  } finally {
    clearTimeout(timer);
  }
}
