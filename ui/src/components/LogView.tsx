/**
 * An attempt's log: earlier lines through the paged endpoint, then — while the attempt runs — a live tail
 * over server-sent events. Search filters the lines; download fetches the whole file. Lines are text
 * nodes: a log line with markup shows as markup.
 */
import { useEffect, useMemo, useRef, useState } from "react";
import { api, type AttemptId, type LogLine } from "../api";

const MAX_LINES = 20_000;

export function LogView({ attemptId, live }: { attemptId: AttemptId; live: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [status, setStatus] = useState<"loading" | "live" | "done" | "error">("loading");
  const [error, setError] = useState<AttemptId | null>(null);
  const [query, setQuery] = useState("");
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let alive = true;
    let source: EventSource | null = null;
    setLines([]);
    setStatus("loading");
    setError(null);
    (async () => {
      let offset = 0;
      const all: LogLine[] = [];
      for (;;) {
        const page = await api.logs(attemptId, offset, 1000);
        if (!alive) return;
        all.push(...page.lines);
        offset = page.nextOffset;
        if (page.eof || page.lines.length === 0 || all.length >= MAX_LINES) break;
      }
      setLines(all.slice(-MAX_LINES));
      if (!live) {
        setStatus("done");
        return;
      }
      // the stream starts where the pages ended, so no line shows twice
      source = new EventSource(api.logStreamUrl(attemptId, offset));
      setStatus("live");
      source.addEventListener("line", (e) => {
        const line = JSON.parse((e as MessageEvent<string>).data) as LogLine;
        setLines((l) => (l.length >= MAX_LINES ? [...l.slice(1), line] : [...l, line]));
      });
      source.addEventListener("end", () => {
        source?.close();
        if (alive) setStatus("done");
      });
      source.onerror = () => {
        // the browser reconnects by itself unless the stream was closed for good
        if (source?.readyState === EventSource.CLOSED && alive) setStatus("done");
      };
    })().catch((e: Error) => {
      if (!alive) return;
      setStatus("error");
      setError(e.message);
    });
    return () => {
      alive = false;
      source?.close();
    };
  }, [attemptId, live]);

  const shown = useMemo(() => {
    const q = query.trim().toLowerCase();
    return q ? lines.filter((l) => l.msg.toLowerCase().includes(q)) : lines;
  }, [lines, query]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown, follow]);

  return (
    <div className="logs">
      <div className="log-bar">
        <input type="search" placeholder="Search the log" aria-label="Search the log" value={query} onChange={(e) => setQuery(e.target.value)} />
        <label className="small">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> follow
        </label>
        <span className={`log-status ${status}`} data-testid="log-status">
          {status === "live" ? "● live" : status === "loading" ? "loading…" : status === "done" ? `${lines.length} lines` : "error"}
        </span>
        {query && <span className="small muted">{shown.length} matching</span>}
        <a href={api.logDownloadUrl(attemptId)} download>
          Download
        </a>
      </div>
      {error && <p className="error">{error}</p>}
      <div className="log-lines" ref={box} data-testid="log-lines">
        {shown.map((l, i) => (
          <div key={i} className={`log-line ${l.level}`}>
            <span className="log-t">{l.t ? new Date(l.t).toISOString().slice(11, 23) : ""}</span> <span className="log-level">{l.level}</span> <span className="log-msg">{l.msg}</span>
          </div>
        ))}
      </div>
    </div>
  );
}
