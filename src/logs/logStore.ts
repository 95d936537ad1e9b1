/**
 * Where attempts' logs live, for the worker that writes them and for `sluice logs`, the API and the UI that
 * read them. Files under SLUICE_HOME on SQLite (one machine); the database on PostgreSQL, so that a
 * `sluice server` or `sluice logs` on any host shows the lines of a task that ran on any other
 * (docs/decisions/0014-artifacts-in-the-database.md). SLUICE_LOGS chooses otherwise.
 *
 * Readers page by an opaque offset: a byte offset in the file, a line number in the database. Only
 * complete lines are handed out.
 */
import { open } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Store } from "../store/store.js";
import { attemptLogPath, FileLogSink, parseLogLines, type LogLine, type LogSink } from "./attemptLog.js";

/** Which attempt: its id (the database) and the ids its file path is made of. */
export interface LogRef {
  attemptId: number;
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  tryNumber: number;
}

export interface LogPage {
  lines: LogLine[];
  /** Pass back to read on after these lines. */
  nextOffset: number;
  /** The offset of the end of what is stored now: nextOffset ≥ end means everything was read. */
  end: number;
}

export interface LogStore {
  /** Where the logs live, for banners and messages. */
  readonly location: string;
  sink(a: LogRef): LogSink;
  /** Complete lines from `offset`, at most `maxLines`. */
  read(a: LogRef, offset: number, maxLines: number): Promise<LogPage>;
}

/** Where a run's logs are, for a person: a folder, or the command that prints them. */
export function runLogsHint(logs: LogStore, dagId: string, runId: string): string {
  return logs instanceof FileLogStore ? join(logs.location, dagId, runId) : `npx sluice logs ${runId} <task>`;
}

/** Every line of an attempt's log. */
export async function readWholeLog(logs: LogStore, a: LogRef): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for (let offset = 0; ; ) {
    const page = await logs.read(a, offset, 100_000);
    out.push(...page.lines);
    if (page.nextOffset === offset) return out;
    offset = page.nextOffset;
  }
}

const CHUNK = 1024 * 1024;

export class FileLogStore implements LogStore {
  readonly location: string;
  constructor(dir: string) {
    this.location = resolve(dir);
  }

  private pathOf(a: LogRef): string {
    const path = resolve(attemptLogPath(this.location, a));
    const rel = relative(this.location, path);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new Error(`log path outside ${this.location}`); // defence in depth: ids are checked already
    return path;
  }

  sink(a: LogRef): LogSink {
    return new FileLogSink(this.pathOf(a));
  }

  /** Complete lines from byte `offset`; a torn last line waits for its newline. */
  async read(a: LogRef, offset: number, maxLines: number): Promise<LogPage> {
    let fh;
    try {
      fh = await open(this.pathOf(a), "r");
    } catch {
      return { lines: [], nextOffset: offset, end: 0 };
    }
    try {
      const size = (await fh.stat()).size;
      if (offset >= size) return { lines: [], nextOffset: offset, end: size };
      const buf = Buffer.alloc(Math.min(CHUNK, size - offset));
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      const text = buf.subarray(0, bytesRead);
      let cut = 0;
      let count = 0;
      for (let i = 0; i < text.length && count < maxLines; i++) {
        if (text[i] === 0x0a) {
          cut = i + 1;
          count++;
        }
      }
      // one line longer than a chunk: hand it out in pieces rather than never
      if (count === 0 && bytesRead === CHUNK) cut = bytesRead;
      return { lines: parseLogLines(text.subarray(0, cut).toString("utf8")), nextOffset: offset + cut, end: size };
    } finally {
      await fh.close();
    }
  }
}

/** How often a worker writes the lines its running tasks logged (and always when the attempt ends). */
export const LOG_FLUSH_MS = 500;
const LOG_CHUNK_CHARS = 1024 * 1024;

export class DatabaseLogStore implements LogStore {
  readonly location = "the database (table attempt_logs)";
  constructor(private readonly store: Store) {}

  sink(a: LogRef): LogSink {
    return new DatabaseLogSink(this.store, a.attemptId);
  }

  async read(a: LogRef, offset: number, maxLines: number): Promise<LogPage> {
    const chunks = await this.store.attemptLogs.read(a.attemptId, offset, maxLines);
    const lines: LogLine[] = [];
    let next = offset;
    for (const c of chunks) {
      const all = parseLogLines(c.body);
      const from = Math.max(0, next - c.firstLine);
      const take = all.slice(from, from + (maxLines - lines.length));
      lines.push(...take);
      next = c.firstLine + from + take.length;
      if (lines.length >= maxLines) break;
    }
    // a full page may have more behind it: say so, and the next read finds out
    return { lines, nextOffset: next, end: lines.length >= maxLines ? next + 1 : next };
  }
}

/**
 * Lines buffered in the worker and appended in chunks, every LOG_FLUSH_MS while they come and at the end:
 * a chatty task costs a statement per half second, not per line. Appends go one at a time, in order.
 */
class DatabaseLogSink implements LogSink {
  private buffered: string[] = [];
  private bufferedLines = 0;
  private bufferedBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private fenced = false;

  constructor(private readonly store: Store, private readonly attemptId: number) {}

  write(lines: string): void {
    if (!lines || this.fenced) return;
    this.buffered.push(lines);
    this.bufferedBytes += lines.length;
    for (let i = lines.indexOf("\n"); i >= 0; i = lines.indexOf("\n", i + 1)) this.bufferedLines++;
    // a flood of lines goes out in chunks of about a megabyte, not as one huge row
    if (this.bufferedBytes >= LOG_CHUNK_CHARS) {
      void this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, LOG_FLUSH_MS).unref();
  }

  private flush(): Promise<void> {
    this.chain = this.chain.then(async () => {
      if (this.bufferedLines === 0 || this.fenced) return;
      const body = this.buffered.join("");
      const n = this.bufferedLines;
      this.buffered = [];
      this.bufferedLines = 0;
      this.bufferedBytes = 0;
      try {
        // the attempt is no longer live: its worker is aborting it
        if (!(await this.store.attemptLogs.append(this.attemptId, n, body))) this.fenced = true;
      } catch {
        // the database is unreachable: keep the lines for the next flush
        this.buffered.unshift(body);
        this.bufferedLines += n;
        this.bufferedBytes += body.length;
      }
    });
    return this.chain;
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    // still unwritten (the database was away): one more try, then the lines are given up
    if (this.bufferedLines > 0) await this.flush();
  }
}
