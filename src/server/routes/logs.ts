/**
 * Attempt logs: paged, downloaded, or streamed live (server-sent events). The file is found from the
 * attempt's id alone (attempt -> run -> attemptLogPath, whose segments are checked ids), and the result
 * must lie inside the logs folder: no part of a request ever becomes a path.
 */
import { open, stat } from "node:fs/promises";
import { relative, resolve, isAbsolute } from "node:path";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import { attemptLogPath, parseLogLines } from "../../worker/attemptLog.js";
import { notFound, query, route, type ApiEnv, type Route } from "../route.js";
import { attemptIdOf } from "./runs.js";

const CHUNK = 1024 * 1024;
export const STREAM_POLL_MS = 250;

async function logOf(env: ApiEnv, rawId: string): Promise<{ path: string; ended: () => Promise<boolean>; name: string }> {
  const id = attemptIdOf(rawId);
  const a = await env.sluice.store.getAttempt(id);
  if (!a) throw notFound("attempt", id);
  const run = await env.sluice.store.getRun(a.runId);
  if (!run) throw notFound("attempt", id);
  const logs = resolve(env.sluice.config.logsDir);
  const path = resolve(attemptLogPath(logs, { dagId: run.dagId, runId: a.runId, taskId: a.taskId, mapIndex: a.mapIndex, tryNumber: a.tryNumber }));
  const rel = relative(logs, path);
  if (rel.startsWith("..") || isAbsolute(rel)) throw notFound("attempt log", id); // defence in depth
  return {
    path,
    name: `${run.dagId}_${a.runId}_${a.taskId}${a.mapIndex >= 0 ? `_${a.mapIndex}` : ""}_attempt-${a.tryNumber}.log`,
    ended: async () => {
      const now = await env.sluice.store.getAttempt(id);
      return !now || (now.endedAt !== null && now.state !== "up_for_reschedule");
    },
  };
}

/** Complete lines from byte `offset` (at most `maxLines`); a torn last line waits for its newline. */
export async function readLines(path: string, offset: number, maxLines: number): Promise<{ lines: ReturnType<typeof parseLogLines>; nextOffset: number; size: number }> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch {
    return { lines: [], nextOffset: offset, size: 0 };
  }
  try {
    const size = (await fh.stat()).size;
    if (offset >= size) return { lines: [], nextOffset: offset, size };
    const buf = Buffer.alloc(Math.min(CHUNK, size - offset));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    const text = buf.subarray(0, bytesRead);
    let end = 0;
    let count = 0;
    for (let i = 0; i < text.length && count < maxLines; i++) {
      if (text[i] === 0x0a) {
        end = i + 1;
        count++;
      }
    }
    // one line longer than a chunk: hand it out in pieces rather than never
    if (count === 0 && bytesRead === CHUNK) end = bytesRead;
    return { lines: parseLogLines(text.subarray(0, end).toString("utf8")), nextOffset: offset + end, size };
  } finally {
    await fh.close();
  }
}

export function logRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/attempts/:attemptId/logs",
      access: "viewer",
      tag: "logs",
      summary: "Log lines of an attempt from a byte offset: { lines, nextOffset, eof } (eof: the attempt ended and every line was read)",
      query: query({ offset: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(10_000).default(1000) }),
      async handler({ env, params, query: q }) {
        const log = await logOf(env, params["attemptId"]!);
        const ended = await log.ended();
        const r = await readLines(log.path, q.offset, q.limit);
        return { lines: r.lines, nextOffset: r.nextOffset, eof: ended && r.nextOffset >= r.size };
      },
    }),
    route({
      method: "get",
      path: "/attempts/:attemptId/logs/download",
      access: "viewer",
      tag: "logs",
      produces: "text/plain",
      summary: "The whole log as text (one `time level message` line per entry), as an attachment",
      async handler({ c, env, params }) {
        const log = await logOf(env, params["attemptId"]!);
        const size = await stat(log.path).then((s) => s.size, () => 0);
        const out: string[] = [];
        for (let offset = 0; offset < size; ) {
          const r = await readLines(log.path, offset, 100_000);
          if (r.nextOffset === offset) break;
          for (const l of r.lines) out.push(`${l.t ? new Date(l.t).toISOString() : "-"} ${l.level} ${l.msg}`);
          offset = r.nextOffset;
        }
        return c.body(out.join("\n") + (out.length ? "\n" : ""), 200, {
          "Content-Type": "text/plain; charset=utf-8",
          "Content-Disposition": `attachment; filename="${log.name.replace(/[^A-Za-z0-9_.-]/g, "_")}"`,
        });
      },
    }),
    route({
      method: "get",
      path: "/attempts/:attemptId/logs/stream",
      access: "viewer",
      tag: "logs",
      produces: "text/event-stream",
      summary: "Live log lines (SSE): `event: line` with { t, level, msg } (id: the byte offset after it), then `event: end` once the attempt ended and the log is drained",
      query: query({ offset: z.coerce.number().int().min(0).default(0) }),
      async handler({ c, env, params, query: q }) {
        const log = await logOf(env, params["attemptId"]!);
        const resume = Number(c.req.header("Last-Event-ID"));
        let offset = Number.isInteger(resume) && resume >= 0 ? resume : q.offset;
        return streamSSE(c, async (stream) => {
          let closed = false;
          stream.onAbort(() => {
            closed = true;
          });
          while (!closed) {
            // read "ended" first: lines written before the end are then surely in the file
            const ended = await log.ended();
            let drained = false;
            while (!closed) {
              const r = await readLines(log.path, offset, 1000);
              if (r.nextOffset === offset) {
                drained = true;
                break;
              }
              offset = r.nextOffset;
              // the id (for Last-Event-ID on reconnect) goes on the last line of a batch: the offset after it
              for (let i = 0; i < r.lines.length; i++) {
                const l = r.lines[i]!;
                await stream.writeSSE({ event: "line", data: JSON.stringify({ t: l.t, level: l.level, msg: l.msg }), ...(i === r.lines.length - 1 ? { id: String(offset) } : {}) });
              }
            }
            if (ended && drained) {
              await stream.writeSSE({ event: "end", data: JSON.stringify({ nextOffset: offset }) });
              break;
            }
            await stream.sleep(STREAM_POLL_MS);
          }
        });
      },
    }),
  ];
}
