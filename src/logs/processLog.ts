/**
 * The processes' own logs (scheduler, worker, server, dev; not tasks' logs, which are attemptLog.ts's):
 * text lines as they always were — the banner on stdout, warnings and task progress on stderr — or, with
 * `--log-format json` / SLUICE_LOG_FORMAT=json (what containers should set), one JSON object a line on
 * stdout through pino: `level`, `time` (ISO), `msg`, `role`, `pid`, `hostname` and the record's fields.
 * Text stays the default even on a pipe: scripts and tests read these lines, and a format that changed
 * with what stdout is connected to would surprise them.
 */
import { createRequire } from "node:module";
import { hostname } from "node:os";
import type { Logger, pino as Pino } from "pino";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
type Fields = Record<string, unknown>;

export interface ProcessLogger {
  // properties, not methods: they are passed around unbound (`(ok ? log.info : log.warn)(...)`)
  debug: (msg: string, fields?: Fields) => void;
  info: (msg: string, fields?: Fields) => void;
  warn: (msg: string, fields?: Fields) => void;
  error: (msg: string, fields?: Fields) => void;
  /** Text only: what is for people at a terminal (tables, blank lines, hints); JSON has records for it. */
  banner: (text: string) => void;
  /** JSON only: an info record whose text form is a banner (a table's row). */
  data: (msg: string, fields: Fields) => void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
// ANSI colour codes (format.ts colorState) mean nothing to a log collector
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

let format: LogFormat = "text";
let level: LogLevel = "info";
let json: Logger | null = null;

/**
 * Set this process's format and level (a long-running role does at start; a command keeps text at info).
 * `role` names the process in every JSON record.
 */
export function configureProcessLog(opts: { format: LogFormat; level: LogLevel; role?: string }): void {
  format = opts.format;
  level = opts.level;
  // loaded for JSON only: every command imports this module (the engine logs through it), and pino
  // takes tens of milliseconds to load
  const pino = format === "json" ? (createRequire(import.meta.url)("pino") as { pino: typeof Pino }).pino : null;
  json =
    pino
      ? pino(
          {
            level,
            base: { ...(opts.role ? { role: opts.role } : {}), pid: process.pid, hostname: hostname() },
            timestamp: pino.stdTimeFunctions.isoTime,
            // "level":"info" rather than 30: readable without pino's table
            formatters: { level: (label) => ({ level: label }) },
          },
          // synchronous: the last lines before process.exit() (a second SIGINT) are not lost
          pino.destination({ dest: 1, sync: true }),
        )
      : null;
}

/** A logger whose text lines go to `stream` (JSON always goes to stdout). */
export function processLog(stream: "stdout" | "stderr" = "stdout"): ProcessLogger {
  return stream === "stdout" ? toStdout : toStderr;
}

function make(stream: NodeJS.WriteStream): ProcessLogger {
  const at =
    (l: LogLevel) =>
    (msg: string, fields?: Fields): void => {
      if (RANK[l] < RANK[level]) return;
      if (json) json[l](fields ?? {}, msg.replace(ANSI, "").trim());
      else stream.write(`${msg}\n`);
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    banner: (text) => {
      if (!json && RANK.info >= RANK[level]) stream.write(`${text}\n`);
    },
    data: (msg, fields) => {
      if (json && RANK.info >= RANK[level]) json.info(fields, msg);
    },
  };
}

const toStdout = make(process.stdout);
const toStderr = make(process.stderr);
