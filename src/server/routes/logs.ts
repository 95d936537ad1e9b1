/**
 * Attempt logs: paged, downloaded, or streamed live (server-sent events), from the log store (files, or
 * the database on PostgreSQL: logs/logStore.ts). The log is found from the attempt's id alone; no part of
 * a request ever becomes a path. Offsets are opaque: pass `nextOffset` (or the SSE id) back. Per-DAG: the
 * log of an attempt of a DAG the caller may not read is not found (app/access.ts), in all three forms.
 */
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { Actor } from "../../app/actor.js";
import { escapeControls } from "../../core/controlChars.js";
import { readWholeLog, type LogRef } from "../../logs/logStore.js";
import { query, route, type ApiEnv, type Route } from "../route.js";
import { requireAttempt } from "./runs.js";
import { logPageSchema } from "../schemas.js";

export const STREAM_POLL_MS = 250;

async function logOf(env: ApiEnv, actor: Actor, rawId: string): Promise<{ ref: LogRef; ended: () => Promise<boolean>; name: string }> {
  const { id, a, dagId } = await requireAttempt(env, actor, rawId);
  return {
    ref: { attemptId: id, dagId, runId: a.runId, taskId: a.taskId, mapIndex: a.mapIndex, tryNumber: a.tryNumber },
    name: `${dagId}_${a.runId}_${a.taskId}${a.mapIndex >= 0 ? `_${a.mapIndex}` : ""}_attempt-${a.tryNumber}.log`,
    ended: async () => {
      const now = await env.sluice.store.attempts.get(id);
      return !now || (now.endedAt !== null && now.state !== "up_for_reschedule");
    },
  };
}

export function logRoutes(): Route[] {
  return [
    route({
      method: "get",
      path: "/attempts/:attemptId/logs",
      response: logPageSchema,
      access: "viewer",
      scope: "dag",
      tag: "logs",
      summary: "Log lines of an attempt from an offset (0, or a nextOffset given before): { lines, nextOffset, eof } (eof: the attempt ended and every line was read)",
      query: query({ offset: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(10_000).default(1000) }),
      async handler({ env, actor, params, query: q }) {
        const log = await logOf(env, actor!, params["attemptId"]!);
        const ended = await log.ended();
        const r = await env.sluice.engine.logs.read(log.ref, q.offset, q.limit);
        return { lines: r.lines, nextOffset: r.nextOffset, eof: ended && r.nextOffset >= r.end };
      },
    }),
    route({
      method: "get",
      path: "/attempts/:attemptId/logs/download",
      access: "viewer",
      scope: "dag",
      tag: "logs",
      produces: "text/plain",
      summary: "The whole log as text (one `time level message` line per entry, control characters escaped as `\\r`, `\\n`, `\\x1b`), as an attachment",
      async handler({ c, env, actor, params }) {
        const log = await logOf(env, actor!, params["attemptId"]!);
        const out = (await readWholeLog(env.sluice.engine.logs, log.ref)).map((l) => `${l.t ? new Date(l.t).toISOString() : "-"} ${l.level} ${escapeControls(l.msg)}`);
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
      scope: "dag",
      tag: "logs",
      produces: "text/event-stream",
      summary: "Live log lines (SSE): `event: line` with { t, level, msg } (id: the offset after it), then `event: end` once the attempt ended and the log is drained",
      query: query({ offset: z.coerce.number().int().min(0).default(0) }),
      async handler({ c, env, actor, params, query: q }) {
        const log = await logOf(env, actor!, params["attemptId"]!);
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
              const r = await env.sluice.engine.logs.read(log.ref, offset, 1000);
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
