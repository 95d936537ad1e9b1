/**
 * Callbacks of the authoring API (decision 0019): functions of the DAG file that run after a task or a
 * run changed state — `onFailure`, `onSuccess`, `onRetry`, `onSkipped` on tasks (and `defaults`),
 * `onFailure`, `onSuccess` on the DAG, `onDeadlineMiss` on either, and the DAG's `notify` lists. They run
 * after the change is committed, from a row in the store (engine/callbacks.ts), with retries of their own;
 * a callback that throws is logged and never changes a state.
 *
 * @example
 * dag("etl", { onFailure: (ctx) => page(`run ${ctx.run.id} failed: ${ctx.error?.message}`) }, (d) => {
 *   d.task("load", { onRetry: (ctx) => ctx.log.warn(`try ${ctx.attempt?.tryNumber} failed`) }, load);
 * });
 */
import { type CallbackEvent, type CallbackNames, callbackKey, EVENT_OPTIONS } from "../core/callbacks.js";
import type { JsonValue } from "../core/assets.js";
import { SluiceError } from "../errors.js";
import type { Connection } from "../secrets/connection.js";

/** What a callback receives. Times are epoch milliseconds. */
export interface CallbackContext {
  /** The same on every try of this callback: a receiver can drop repeats by it (webhook `X-Sluice-Delivery`). */
  readonly id: string;
  /** Why it runs: "failure", "success", "retry", "skipped" (tasks), "deadline_miss". */
  readonly event: CallbackEvent;
  readonly dag: { readonly id: string; readonly version: string };
  readonly run: {
    readonly id: string;
    readonly state: string;
    /** Why the run ended so, when it says (cancelled, timed out). */
    readonly reason: string | null;
    readonly logicalDate: number;
    readonly queuedAt: number;
    readonly startedAt: number | null;
    readonly endedAt: number | null;
  };
  /** The task, for task events and task deadlines; null for the run's own. */
  readonly task: { readonly id: string; readonly mapIndex: number; readonly state: string } | null;
  /** The attempt that ended (task events with an attempt); null when none ran (skipped). */
  readonly attempt: { readonly tryNumber: number; readonly startedAt: number; readonly endedAt: number | null } | null;
  /** The error of a failure or retry (the attempt's, or the run's reason); null otherwise. */
  readonly error: { readonly code: string | null; readonly message: string } | null;
  /** How long the attempt (task events) or the run (run events) took, when it ended. */
  readonly durationMs: number | null;
  /** The deadline that was missed (deadline_miss only). */
  readonly deadline: { readonly at: number; readonly description: string } | null;
  /**
   * A link to the task (or the run) in the web UI: SLUICE_PUBLIC_URL when set, else the address the API
   * would be served at on this host.
   */
  readonly url: string;
  /** Lines of this callback's log (written with its name, run and task; secrets masked). */
  readonly log: { info(message: string): void; warn(message: string): void; error(message: string): void };
  /** A connection, as `ctx.connection` of a task (SMTP logins, tokens); its secrets are masked in the log. */
  connection(id: string): Promise<Connection>;
  variable<T = JsonValue>(key: string, fallback?: T): Promise<T>;
  /** Aborted when the try takes too long (30 s, or half of two leases): outbound calls should pass it on. */
  readonly signal: AbortSignal;
}

/** A callback: any function of the context; a notifier (webhook, slack, email) is one with a name. */
export type Callback = ((ctx: CallbackContext) => unknown) & { readonly notifierName?: string };

/** One callback or several, run independently (each with its own retries). */
export type Callbacks = Callback | readonly Callback[];

/** The callback options of a task and of `defaults`. */
export interface TaskCallbackOptions {
  onFailure?: Callbacks;
  onSuccess?: Callbacks;
  onRetry?: Callbacks;
  onSkipped?: Callbacks;
}

/** The display name of a callback in the spec, the log and the API: the notifier's, or the function's. */
export function callbackName(cb: Callback): string {
  return cb.notifierName ?? (cb.name ? `function ${cb.name}` : "function");
}

/**
 * The functions given for one option, checked: a callback that is not a function is INVALID_DAG naming
 * where it was declared (the DAG, the task) and the option.
 */
export function callbackList(value: unknown, where: string, option: string): Callback[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  list.forEach((cb, i) => {
    if (typeof cb !== "function") {
      const which = Array.isArray(value) ? `${option}[${i}]` : option;
      throw new SluiceError("INVALID_DAG", `${where}: ${which} must be a function (a callback, or a notifier such as webhook({ url })), got ${cb === null ? "null" : typeof cb}`, {
        details: { field: option },
      });
    }
  });
  return list as Callback[];
}

/** Collects the callbacks of a DAG while it is built: their names for the spec, their code beside it. */
export class CallbackSet {
  readonly code = new Map<string, Callback[]>();
  /** The scopes that have any: `names` of one without is a set lookup (once per task of a 100,000-task DAG). */
  private readonly scopes = new Set<string>();

  /** Add callbacks of `scope` (a task id, "" for the DAG) for `event`; returns the names now held. */
  add(scope: string, event: CallbackEvent, list: readonly Callback[]): void {
    if (list.length === 0) return;
    const k = callbackKey(scope, event);
    this.code.set(k, [...(this.code.get(k) ?? []), ...list]);
    this.scopes.add(scope);
  }

  /** The spec's names of a scope's callbacks (absent when it has none: specs and versions stay as they were). */
  names(scope: string): CallbackNames | null {
    if (!this.scopes.has(scope)) return null;
    const out: CallbackNames = {};
    for (const event of Object.keys(EVENT_OPTIONS) as CallbackEvent[]) {
      const list = this.code.get(callbackKey(scope, event));
      if (list?.length) out[event] = list.map(callbackName);
    }
    return Object.keys(out).length ? out : null;
  }

  /** Their source, for the DAG's version (a changed callback is a new version, as a changed task is). */
  source(): string[] {
    return [...this.code.keys()].sort().map((k) => `${k}\0${this.code.get(k)!.map((cb) => `${callbackName(cb)}\n${cb.toString()}`).join("\0")}`);
  }
}
