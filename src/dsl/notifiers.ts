/**
 * Ready-made notifiers (decision 0019): callbacks that tell people or systems — a JSON webhook (signed
 * with HMAC-SHA256 when given a secret), a Slack-compatible incoming webhook (Mattermost too), and email
 * over SMTP (STARTTLS, login from a Sluice connection). Use them as any callback (`onFailure: webhook(...)`)
 * or in the DAG's `notify` lists. Each try is one delivery; a failed one (unreachable, refused, a non-2xx
 * answer, a rejected login) throws with the notifier's name and the reason, and the callback runner logs
 * it and tries again with backoff — the task and the run are never held up.
 *
 * Outbound HTTP goes through dsl/outbound.ts: the process's egress policy holds at connect time.
 * Messages are templates over the variables of TEMPLATE_VARIABLES (`{{dag}}`, `{{error}}`, …).
 *
 * @example
 * dag("etl", {
 *   notify: {
 *     onFailure: [slack({ url: process.env.SLACK_WEBHOOK_URL! }), email({ to: "data-oncall@example.com", connection: "smtp" })],
 *     onDeadlineMiss: [webhook({ url: "https://ops.example.com/hooks/sluice", secret: process.env.HOOK_SECRET })],
 *   },
 * }, build);
 */
import { createHmac } from "node:crypto";
import { isIP } from "node:net";
import { lookup } from "node:dns/promises";
import { egressRefusal, processEgressPolicy } from "../core/egress.js";
import { parseDuration, type Duration, formatDuration } from "../core/duration.js";
import { SluiceError } from "../errors.js";
import type { Callback, CallbackContext } from "./callbacks.js";
import { outbound } from "./outbound.js";

/** The variables a message template may use, each with what it holds. */
export const TEMPLATE_VARIABLES = {
  event: "what happened: failure, success, retry, skipped, deadline_miss",
  dag: "the DAG id",
  run: "the run id",
  task: "the task id (with [map index] when mapped); empty for a run's own event",
  logicalDate: "the run's logical date (ISO 8601, UTC)",
  state: "the task's state, or the run's for a run event",
  error: "the first line of the error (failure, retry), else empty",
  tryNumber: "the attempt's try number, else empty",
  duration: "how long the attempt (or the run) took, e.g. 2m5s",
  deadline: "the deadline missed, e.g. 06:00 Europe/Berlin (deadline_miss only)",
  url: "the link to the task (or run) in the web UI",
  subject: "the default one-line summary (what {{subject}} renders to when no template is given)",
} as const;

type Variable = keyof typeof TEMPLATE_VARIABLES;

/** A notifier's options shared by every kind. */
interface NotifierOptions {
  /** Its name in logs and in the API (default: the kind and the host). */
  name?: string;
  /** The message; default: a summary line and the link (see TEMPLATE_VARIABLES). */
  template?: string;
}

export interface WebhookOptions extends NotifierOptions {
  /** http(s) URL to POST the JSON body to. */
  url: string;
  /** With a secret, each request carries `X-Sluice-Signature: sha256=<hex HMAC-SHA256 of the body>`. */
  secret?: string;
  /** Extra request headers (an API key the receiver wants). */
  headers?: Record<string, string>;
  /** One request may take this long (default "10s"); the callback's own tries retry it with backoff. */
  timeout?: Duration;
}

export interface SlackOptions extends NotifierOptions {
  /** The incoming-webhook URL (Slack, Mattermost, and others that take `{ "text": … }`). Treated as a secret. */
  url: string;
  channel?: string;
  username?: string;
  iconEmoji?: string;
  timeout?: Duration;
}

export interface EmailOptions extends NotifierOptions {
  /** Recipients. */
  to: string | readonly string[];
  /**
   * The Sluice connection of the SMTP server (`sluice connections add smtp --uri smtp://user:pass@host:587`):
   * host, port (default 587), login and password; extra `from` (the sender), `ca` (a PEM to trust for a
   * private server), `starttls: false` (only for a server on the same host: the password then travels unencrypted).
   */
  connection: string;
  /** The sender; default: the connection's extra `from`, else its login. */
  from?: string;
  /** The subject line template (default: the summary). */
  subject?: string;
  timeout?: Duration;
}

/**
 * POST a JSON body (documented in docs/operations.md) to `url`. Headers: `X-Sluice-Event`,
 * `X-Sluice-Delivery` (the same on every try of one callback: receivers can drop repeats) and, with a
 * secret, `X-Sluice-Signature: sha256=<hex>` (HMAC-SHA256 of the exact body bytes with the secret).
 */
export function webhook(o: WebhookOptions): Callback {
  const where = "webhook";
  const url = checkUrl(where, o?.url);
  const timeoutMs = timeoutOf(where, o.timeout);
  const template = checkTemplate(where, o.template);
  if (o.secret !== undefined && (typeof o.secret !== "string" || o.secret.length === 0)) throw new SluiceError("INVALID_DAG", `${where}: secret must be a non-empty string`);
  const headers = o.headers ?? {};
  const name = o.name ?? `webhook(${url.host})`;
  const send = async (ctx: CallbackContext) => {
    const body = JSON.stringify(webhookBody(ctx, render(template, ctx)));
    const h: Record<string, string> = { "content-type": "application/json", "user-agent": "sluice-notifier", "x-sluice-event": ctx.event, "x-sluice-delivery": ctx.id, ...headers };
    if (o.secret) h["x-sluice-signature"] = signature(o.secret, body);
    await post(name, url, h, body, timeoutMs, ctx.signal);
  };
  return notifier(name, send, [o.secret, ...Object.values(headers)]);
}

/** A Slack-compatible incoming webhook: `{ "text": message }` (plus channel, username, icon when given). */
export function slack(o: SlackOptions): Callback {
  const where = "slack";
  const url = checkUrl(where, o?.url);
  const timeoutMs = timeoutOf(where, o.timeout);
  const template = checkTemplate(where, o.template);
  const name = o.name ?? `slack(${url.host})`;
  const send = async (ctx: CallbackContext) => {
    const body = JSON.stringify({ text: render(template, ctx), ...(o.channel ? { channel: o.channel } : {}), ...(o.username ? { username: o.username } : {}), ...(o.iconEmoji ? { icon_emoji: o.iconEmoji } : {}) });
    await post(name, url, { "content-type": "application/json", "user-agent": "sluice-notifier" }, body, timeoutMs, ctx.signal);
  };
  // the URL's path is the credential of an incoming webhook
  return notifier(name, send, [url.toString(), url.pathname]);
}

/** Email over SMTP with STARTTLS, plain text and HTML (the HTML escapes every value it shows). */
export function email(o: EmailOptions): Callback {
  const where = "email";
  const raw: unknown = o?.to;
  const to: unknown[] = typeof raw === "string" ? [raw] : Array.isArray(raw) ? [...(raw as unknown[])] : [];
  if (to.length === 0 || to.some((a) => typeof a !== "string" || !/^[^\s@<>]+@[^\s@<>]+$/.test(a))) {
    throw new SluiceError("INVALID_DAG", `${where}: to must be an address or a list of addresses, e.g. "oncall@example.com"`);
  }
  if (typeof o.connection !== "string" || o.connection === "") throw new SluiceError("INVALID_DAG", `${where}: connection must name the SMTP connection, e.g. connection: "smtp"`);
  const template = checkTemplate(where, o.template);
  const subject = checkTemplate(where, o.subject ?? "{{subject}}");
  const timeoutMs = timeoutOf(where, o.timeout);
  const name = o.name ?? `email(${to.join(", ")})`;
  const send = async (ctx: CallbackContext) => {
    const c = await ctx.connection(o.connection);
    if (!c.host) throw new Error(`${name}: connection "${o.connection}" has no host`);
    const port = c.port ?? 587;
    await checkEgress(name, c.host);
    const extra = c.extra as { from?: unknown; ca?: unknown; starttls?: unknown };
    const from = o.from ?? (typeof extra.from === "string" ? extra.from : c.login);
    if (!from) throw new Error(`${name}: no sender: set from, or the connection's extra "from"`);
    const nodemailer = await import("nodemailer");
    const transport = nodemailer.createTransport({
      host: c.host,
      port,
      // 465 is TLS from the first byte; every other port upgrades with STARTTLS, which is required (a
      // server that does not offer it fails the try instead of receiving the password in the clear)
      secure: port === 465,
      requireTLS: port !== 465 && extra.starttls !== false,
      ignoreTLS: extra.starttls === false,
      ...(c.login ? { auth: { user: c.login, pass: c.password ?? "" } } : {}),
      ...(typeof extra.ca === "string" ? { tls: { ca: extra.ca } } : {}),
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
    const text = render(template, ctx);
    try {
      await transport.sendMail({ from, to: to as string[], subject: render(subject, ctx).replace(/[\r\n]+/g, " "), text, html: htmlOf(text, ctx) });
    } catch (e) {
      throw new Error(`${name}: ${smtpReason(e)}`, { cause: e });
    } finally {
      transport.close();
    }
  };
  return notifier(name, send, []);
}

/** The webhook's JSON body (version 1; docs/operations.md). Times are ISO 8601 in UTC. */
export function webhookBody(ctx: CallbackContext, message: string): Record<string, unknown> {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    version: 1,
    id: ctx.id,
    event: ctx.event,
    dag: { id: ctx.dag.id, version: ctx.dag.version },
    run: { id: ctx.run.id, state: ctx.run.state, reason: ctx.run.reason, logicalDate: iso(ctx.run.logicalDate), queuedAt: iso(ctx.run.queuedAt), startedAt: iso(ctx.run.startedAt), endedAt: iso(ctx.run.endedAt) },
    task: ctx.task,
    attempt: ctx.attempt ? { tryNumber: ctx.attempt.tryNumber, startedAt: iso(ctx.attempt.startedAt), endedAt: iso(ctx.attempt.endedAt) } : null,
    error: ctx.error,
    durationMs: ctx.durationMs,
    deadline: ctx.deadline ? { at: iso(ctx.deadline.at), description: ctx.deadline.description } : null,
    url: ctx.url,
    message,
  };
}

/** `sha256=<hex>`: HMAC-SHA256 of the body with the secret (what X-Sluice-Signature carries). */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

/** A template filled in for this callback; `null` template: the default message (summary and link). */
export function render(template: string | null, ctx: CallbackContext): string {
  const vars = variablesOf(ctx);
  return (template ?? "{{subject}}\n{{url}}").replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => vars[k as Variable] ?? "");
}

function variablesOf(ctx: CallbackContext): Record<Variable, string> {
  const task = ctx.task ? `${ctx.task.id}${ctx.task.mapIndex >= 0 ? `[${ctx.task.mapIndex}]` : ""}` : "";
  const error = ctx.error?.message.split("\n")[0] ?? "";
  const what = task ? `Task ${task} of DAG ${ctx.dag.id}` : `Run of DAG ${ctx.dag.id}`;
  const logicalDate = new Date(ctx.run.logicalDate).toISOString();
  const verb: Record<string, string> = {
    failure: "failed",
    success: "succeeded",
    retry: `failed try ${ctx.attempt?.tryNumber ?? ""} and will be retried`.replace("  ", " "),
    skipped: "was skipped",
    deadline_miss: `missed its deadline${ctx.deadline ? ` (${ctx.deadline.description})` : ""}`,
  };
  return {
    event: ctx.event,
    dag: ctx.dag.id,
    run: ctx.run.id,
    task,
    logicalDate,
    state: ctx.task?.state ?? ctx.run.state,
    error,
    tryNumber: ctx.attempt ? String(ctx.attempt.tryNumber) : "",
    duration: ctx.durationMs === null ? "" : formatDuration(ctx.durationMs),
    deadline: ctx.deadline?.description ?? "",
    url: ctx.url,
    subject: `${what} ${verb[ctx.event] ?? ctx.event} (run ${ctx.run.id}, logical date ${logicalDate})${error ? `: ${error}` : ""}`,
  };
}

/** The HTML part: the text, every value escaped, and the link as a link. */
function htmlOf(text: string, ctx: CallbackContext): string {
  const lines = escapeHtml(text).split("\n").join("<br>\n");
  return `<!doctype html><html><body><p>${lines}</p><p><a href="${escapeHtml(ctx.url)}">Open in Sluice</a></p></body></html>`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

function notifier(name: string, send: (ctx: CallbackContext) => Promise<void>, secrets: readonly (string | undefined)[]): Callback {
  return Object.defineProperties(send, {
    notifierName: { value: name, enumerable: true },
    // values the callback runner masks in this notifier's log lines
    notifierSecrets: { value: secrets.filter((s): s is string => typeof s === "string" && s.length > 0), enumerable: false },
  });
}

async function post(name: string, url: URL, headers: Record<string, string>, body: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const timeout = AbortSignal.timeout(timeoutMs);
  let res;
  try {
    res = await outbound(url.toString(), { method: "POST", headers, body, signal: AbortSignal.any([signal, timeout]) });
  } catch (e) {
    const why = timeout.aborted ? `no answer within ${formatDuration(timeoutMs)}` : e instanceof Error ? (e as NodeJS.ErrnoException).code ?? e.message : String(e);
    throw new Error(`${name}: ${url.host} unreachable: ${why}`, { cause: e });
  }
  if (res.status < 200 || res.status >= 300) throw new Error(`${name}: ${url.host} answered HTTP ${res.status}${res.body ? `: ${res.body.slice(0, 200).split("\n")[0]}` : ""}`);
}

/** SMTP goes through the same egress policy as HTTP (a connection must not reach the metadata service). */
async function checkEgress(name: string, host: string): Promise<void> {
  const policy = processEgressPolicy();
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true }).catch((e: unknown) => { throw new Error(`${name}: cannot resolve ${host}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`); })).map((a) => a.address);
  for (const a of addresses) {
    const why = egressRefusal(policy, host, a);
    if (why) throw new SluiceError("EGRESS_DENIED", `${name}: SMTP refused: ${why}`);
  }
}

function smtpReason(e: unknown): string {
  const x = e as { code?: string; responseCode?: number; response?: string; message?: string };
  if (x.code === "EAUTH") return `SMTP login rejected${x.responseCode ? ` (${x.responseCode})` : ""}`;
  if (x.code === "ECONNECTION" || x.code === "ESOCKET" || x.code === "ETIMEDOUT") return `SMTP server unreachable: ${x.message ?? x.code}`;
  return x.response ? `SMTP ${x.response.split("\n")[0]}` : (x.message ?? String(e));
}

function checkUrl(where: string, v: unknown): URL {
  if (typeof v !== "string" || !URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol)) {
    throw new SluiceError("INVALID_DAG", `${where}: url must be an http(s) URL, got ${typeof v === "string" ? JSON.stringify(v.replace(/\/\/[^/]*@/, "//…@")) : typeof v}`);
  }
  return new URL(v);
}

function timeoutOf(where: string, v: Duration | undefined): number {
  const ms = parseDuration(v ?? "10s", `${where}: timeout`);
  if (ms <= 0) throw new SluiceError("INVALID_DAG", `${where}: timeout must be longer than 0`);
  return ms;
}

/** A template, its variables checked when the DAG is loaded (a typo is an import error, not a blank). */
function checkTemplate(where: string, t: unknown): string | null {
  if (t === undefined) return null;
  if (typeof t !== "string") throw new SluiceError("INVALID_DAG", `${where}: template must be a string`);
  for (const m of t.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
    if (!Object.hasOwn(TEMPLATE_VARIABLES, m[1]!)) throw new SluiceError("INVALID_DAG", `${where}: template uses {{${m[1]}}}, which is not a variable; use ${Object.keys(TEMPLATE_VARIABLES).map((k) => `{{${k}}}`).join(", ")}`);
  }
  return t;
}
