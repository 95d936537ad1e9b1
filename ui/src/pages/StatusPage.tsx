/**
 * Status: what GET /status returns — schedulers and workers (host, pid, queues, capacity, running, last
 * heartbeat), queues, pools, active runs. The payload grows over time, so every section is rendered from
 * the data: known columns first, then any other field generically; a missing section or field is skipped,
 * never an error. Everything is React text.
 */
import type { Status } from "../api";
import { ErrorBox } from "../components/ErrorBox";
import { fmtTime } from "../format";
import { useGetStatus } from "../queries/useGetStatus";

/** Sections in display order, with the columns to show first. Other array fields follow, by name. */
const SECTIONS: { key: string; title: string; empty: string; columns: string[] }[] = [
  { key: "schedulers", title: "Schedulers", empty: "No schedulers recorded.", columns: ["schedulerId", "id", "hostname", "host", "pid", "state", "startedAt", "heartbeatAt", "lastHeartbeat"] },
  {
    key: "workers",
    title: "Workers",
    empty: "No workers running.",
    columns: ["workerId", "id", "hostname", "host", "pid", "queues", "concurrency", "capacity", "running", "state", "startedAt", "heartbeatAt", "lastHeartbeat"],
  },
  { key: "queues", title: "Queues", empty: "No task instances waiting in any queue.", columns: ["queue", "name", "ready", "running"] },
  { key: "pools", title: "Pools", empty: "No pools.", columns: ["pool", "name", "slots", "running", "queued", "open"] },
  { key: "runs", title: "Active runs", empty: "No active runs.", columns: ["state", "count"] },
];

const LABELS: Record<string, string> = {
  schedulerId: "Scheduler",
  workerId: "Worker",
  id: "Id",
  hostname: "Host",
  host: "Host",
  pid: "PID",
  queues: "Queues",
  concurrency: "Capacity",
  capacity: "Capacity",
  running: "Running",
  state: "State",
  startedAt: "Started",
  heartbeatAt: "Last heartbeat",
  lastHeartbeat: "Last heartbeat",
  lastHeartbeatAt: "Last heartbeat",
  queue: "Queue",
  ready: "Ready",
  count: "Count",
  database: "Database",
};

/** camelCase or snake_case to "Words like this". */
function label(key: string): string {
  if (LABELS[key]) return LABELS[key]!;
  const words = key
    .replace(/_/g, " ")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const isTimeKey = (key: string) => /(At|_at|Time|heartbeat)$/i.test(key) || /heartbeat/i.test(key);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function ago(ms: number, now: number): string {
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return "in the future";
  if (s < 90) return `${s} s ago`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** One value as text (or a time with its age). Unknown shapes become compact JSON. */
function Value({ k, v, now }: { k: string; v: unknown; now: number }) {
  if (v === null || v === undefined || v === "") return <span className="muted">—</span>;
  if (typeof v === "number" && isTimeKey(k) && v > 1e11) {
    const stale = /heartbeat/i.test(k) && now - v > 60_000;
    return (
      <span className={stale ? "warn" : undefined} title={fmtTime(v)}>
        {fmtTime(v)} <span className="muted small">({ago(v, now)})</span>
      </span>
    );
  }
  if (typeof v === "boolean") return <>{v ? "yes" : "no"}</>;
  if (typeof v === "string" || typeof v === "number" || typeof v === "bigint") return <>{String(v)}</>;
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== "object")) return v.length ? <>{v.map(String).join(", ")}</> : <span className="muted">—</span>;
  let text: string;
  try {
    text = JSON.stringify(v);
  } catch {
    text = String(v);
  }
  return <code className="small">{text}</code>;
}

/** A list of records as a table: preferred columns that occur, then every other field seen. */
function Table({ rows, columns, name, now }: { rows: unknown[]; columns: string[]; name: string; now: number }) {
  const records = rows.map((r) => (isRecord(r) ? r : { value: r }));
  const seen = new Set<string>();
  for (const r of records) for (const k of Object.keys(r)) seen.add(k);
  const cols = [...columns.filter((c) => seen.has(c)), ...[...seen].filter((c) => !columns.includes(c))];
  return (
    <table className="list status-table" data-testid={`status-${name}`}>
      <thead>
        <tr>
          {cols.map((c) => (
            <th key={c}>{label(c)}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {records.map((r, i) => (
          <tr key={i}>
            {cols.map((c) => (
              <td key={c}>
                <Value k={c} v={r[c]} now={now} />
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Section({ name, title, value, empty, columns, now }: { name: string; title: string; value: unknown; empty: string; columns: string[]; now: number }) {
  return (
    <section className="status-section" data-section={name}>
      <h3>
        {title}
        {Array.isArray(value) && <span className="muted small"> ({value.length})</span>}
      </h3>
      {Array.isArray(value) ? (
        value.length ? (
          <Table rows={value} columns={columns} name={name} now={now} />
        ) : (
          <p className="muted">{empty}</p>
        )
      ) : isRecord(value) ? (
        <Fields record={value} now={now} />
      ) : (
        <p>
          <Value k={name} v={value} now={now} />
        </p>
      )}
    </section>
  );
}

function Fields({ record, now }: { record: Record<string, unknown>; now: number }) {
  const entries = Object.entries(record);
  if (!entries.length) return <p className="muted">—</p>;
  return (
    <dl className="status-fields">
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{label(k)}</dt>
          <dd>
            <Value k={k} v={v} now={now} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function StatusPage() {
  const s = useGetStatus();
  const now = Date.now();
  return (
    <div className="page" data-testid="status-page">
      <h2>Status</h2>
      {s.error && <ErrorBox error={s.error} />}
      {s.data === undefined ? !s.error && <p className="muted">Loading…</p> : <StatusBody data={s.data} now={now} />}
    </div>
  );
}

function StatusBody({ data, now }: { data: Status; now: number }) {
  if (!isRecord(data)) {
    return (
      <pre className="preview">
        <Value k="status" v={data} now={now} />
      </pre>
    );
  }
  const known = new Set(SECTIONS.map((x) => x.key));
  const scalars = Object.entries(data).filter(([k, v]) => !known.has(k) && !Array.isArray(v) && !isRecord(v));
  const others = Object.entries(data).filter(([k, v]) => !known.has(k) && (Array.isArray(v) || isRecord(v)));
  return (
    <>
      {scalars.length > 0 && <Fields record={Object.fromEntries(scalars)} now={now} />}
      {SECTIONS.filter((x) => x.key in data).map((x) => (
        <Section key={x.key} name={x.key} title={x.title} value={(data as Record<string, unknown>)[x.key]} empty={x.empty} columns={x.columns} now={now} />
      ))}
      {others.map(([k, v]) => (
        <Section key={k} name={k} title={label(k)} value={v} empty="None." columns={[]} now={now} />
      ))}
    </>
  );
}
