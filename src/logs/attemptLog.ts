/**
 * An attempt's log, as JSON lines `{ t, level, msg }` so that levels and sources (stdout/stderr of
 * subprocesses) survive, written to a sink of the log store (logs/logStore.ts): one file per attempt under
 * `<home>/logs/<dag>/<run>/<task>/[map-<i>/]attempt-<n>.log`, or the database. Ids are checked against the
 * id pattern before they become path segments, so no input can escape the logs folder.
 */
import { createWriteStream, type WriteStream, mkdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { formatWithOptions } from "node:util";
import { SluiceError } from "../errors.js";
import type { TaskLogger } from "../dsl/types.js";

export type LogLevel = "debug" | "info" | "warn" | "error" | "stdout" | "stderr";

export interface LogLine {
  t: number;
  level: LogLevel;
  msg: string;
}

const SAFE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,400}$/;

function segment(kind: string, v: string): string {
  if (!SAFE.test(v) || v.includes("..")) throw new SluiceError("USAGE", `invalid ${kind} ${JSON.stringify(v)}`);
  return v;
}

export function attemptLogPath(logsDir: string, a: { dagId: string; runId: string; taskId: string; mapIndex: number; tryNumber: number }): string {
  const parts = [logsDir, segment("DAG id", a.dagId), segment("run id", a.runId), segment("task id", a.taskId)];
  if (a.mapIndex >= 0) parts.push(`map-${Math.floor(a.mapIndex)}`);
  parts.push(`attempt-${Math.floor(a.tryNumber)}.log`);
  return join(...parts);
}

/** Where an attempt's JSON lines go; opened by its first write. */
export interface LogSink {
  /** Whole lines, each ending in a newline. */
  write(lines: string): void;
  /** Everything written is stored (or given up on) when this resolves. */
  close(): Promise<void>;
}

/** A file, created (with its folders) by the first write: a quiet attempt costs no file. */
export class FileLogSink implements LogSink {
  private stream: WriteStream | null = null;
  constructor(readonly path: string) {}

  write(lines: string): void {
    if (!this.stream) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.stream = createWriteStream(this.path, { flags: "a" });
    }
    this.stream.write(lines);
  }

  async close(): Promise<void> {
    const s = this.stream;
    if (!s) return;
    this.stream = null;
    await new Promise<void>((res) => s.end(res));
  }
}

export class AttemptLog {
  private opened = false;
  private held: [number, string][] = [];
  private readonly sink: LogSink;

  /**
   * `to`: a sink, or the path of a log file. `redact`: applied to every line before it reaches the sink
   * (the attempt's masker: secret values become `***` in both log stores, whatever wrote the line).
   */
  constructor(
    to: LogSink | string,
    private readonly now: () => number = Date.now,
    private readonly redact: (text: string) => string = (text) => text,
  ) {
    this.sink = typeof to === "string" ? new FileLogSink(to) : to;
  }

  /**
   * Sluice's own lines ("attempt 1 started"): held back until the task writes something or fails, so a
   * quiet successful task costs nothing (thousands of no-op tasks would otherwise cost thousands of files).
   */
  note(msg: string): void {
    if (this.opened) this.write("info", msg);
    else this.held.push([this.now(), msg]);
  }

  private line(level: LogLevel, msg: string, t = this.now()): string {
    return `${JSON.stringify({ t, level, msg: this.redact(msg) })}\n`;
  }

  write(level: LogLevel, msg: string): void {
    if (!this.opened) {
      this.opened = true;
      this.sink.write(this.held.map(([t, msg]) => this.line("info", msg, t)).join(""));
      this.held = [];
    }
    this.sink.write(this.line(level, msg));
  }

  /** A logger for task code: printf-style formatting like console.log. */
  logger(): TaskLogger {
    const at =
      (level: LogLevel) =>
      (message: string, ...args: unknown[]) =>
        this.write(level, args.length ? formatWithOptions({ colors: false }, message, ...args) : String(message));
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}

export async function readAttemptLog(path: string): Promise<LogLine[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return [];
  }
  return parseLogLines(text);
}

export function parseLogLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      out.push({ t: 0, level: "info", msg: line }); // a torn last line after a crash
    }
  }
  return out;
}
