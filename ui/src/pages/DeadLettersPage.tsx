/**
 * The dead-letter queue: task instances that failed after their last try (retries exhausted, or a
 * non-retryable error), newest first, with filters (DAG, state) and "older" pages through the API's
 * cursor. Open entries can be selected and retried (a fresh set of retries; the run resumes) or discarded
 * (acknowledged, kept for history) in bulk; the server checks each entry's DAG and reports each id's
 * outcome. Everything shown is React text: task errors come from anyone and are never parsed as HTML.
 */
import { useState, type FormEvent } from "react";
import { api, type BulkResult, type DeadLetter } from "../api";
import { useCanOperate } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { STATE_COLORS } from "../components/StateBadge";
import { fmtTime } from "../format";
import { invalidateDeadLetters, useListDeadLetters } from "../queries/useListDeadLetters";
import { Link, useLocation } from "../router";
import { CursorPager } from "../components/CursorPager";

interface Filters {
  dagId: string;
  state: string;
}
const DEFAULT_FILTERS: Filters = { dagId: "", state: "open" };
const ENTRY_COLORS: Record<string, string> = { open: STATE_COLORS["failed"]!, retried: STATE_COLORS["running"]!, discarded: STATE_COLORS["removed"]! };

export function DeadLettersPage() {
  const canOperate = useCanOperate();
  // `/dlq?dagId=…` (a run's "N parked tasks" link) opens the page filtered by that DAG
  const initial: Filters = { ...DEFAULT_FILTERS, dagId: useLocation().query.get("dagId") ?? "" };
  const [draft, setDraft] = useState<Filters>(initial);
  const [filters, setFilters] = useState<Filters>(initial);
  const [cursors, setCursors] = useState<string[]>([]);
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ action: string; result: BulkResult } | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const cursor = cursors[cursors.length - 1];
  const list = useListDeadLetters({ ...(filters.dagId ? { dagId: filters.dagId } : {}), ...(filters.state !== "all" ? { state: filters.state } : {}), limit: 50, ...(cursor ? { cursor } : {}) });
  const items = list.data?.items ?? [];
  const selectable = items.filter((e) => e.state === "open");
  const allSelected = selectable.length > 0 && selectable.every((e) => selected.has(e.id));

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setCursors([]);
    setSelected(new Set());
    setFilters(draft);
  };
  const toggle = (id: number) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const act = async (action: "retry" | "discard") => {
    const ids = [...selected];
    if (ids.length === 0) return;
    setBusy(true);
    setError(null);
    try {
      const result = action === "retry" ? await api.retryDeadLetters(ids) : await api.discardDeadLetters(ids);
      setOutcome({ action, result });
      setSelected(new Set());
      void invalidateDeadLetters();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="page">
      <h2>Dead-letter queue</h2>
      <p className="muted">
        Task instances that failed after their last try (retries exhausted, or an error marked non-retryable). Retry gives an instance a fresh set of retries and resumes its
        run; discard acknowledges it and keeps it here for history.
      </p>
      <form className="filters" onSubmit={apply} aria-label="Filter the dead-letter queue">
        <input aria-label="DAG" name="dlq-dag" placeholder="DAG" value={draft.dagId} onChange={(e) => setDraft({ ...draft, dagId: e.target.value })} />
        <select aria-label="state" name="dlq-state" value={draft.state} onChange={(e) => setDraft({ ...draft, state: e.target.value })}>
          <option value="open">open</option>
          <option value="retried">retried</option>
          <option value="discarded">discarded</option>
          <option value="all">all</option>
        </select>
        <button type="submit">Filter</button>
      </form>
      {canOperate && (
        <div className="filters" role="toolbar" aria-label="Act on the selected dead letters">
          <span className="muted">{selected.size} selected</span>
          <button type="button" disabled={busy || selected.size === 0} onClick={() => void act("retry")}>
            Retry
          </button>
          <button type="button" disabled={busy || selected.size === 0} onClick={() => void act("discard")}>
            Discard
          </button>
        </div>
      )}
      {error && <ErrorBox error={error} />}
      {outcome && <Outcome action={outcome.action} result={outcome.result} />}
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="dead-letters">
        <thead>
          <tr>
            {canOperate && (
              <th>
                <input type="checkbox" aria-label="select all open" checked={allSelected} disabled={selectable.length === 0} onChange={() => setSelected(allSelected ? new Set() : new Set(selectable.map((e) => e.id)))} />
              </th>
            )}
            <th>Id</th>
            <th>State</th>
            <th>DAG / run</th>
            <th>Task</th>
            <th>Attempts</th>
            <th>Reason</th>
            <th>Error</th>
            <th>When</th>
          </tr>
        </thead>
        <tbody>
          {items.map((e) => (
            <Row key={e.id} e={e} canOperate={canOperate} selected={selected.has(e.id)} onToggle={() => toggle(e.id)} />
          ))}
        </tbody>
      </table>
      {list.data && items.length === 0 && <p className="muted">No {filters.state !== "all" ? `${filters.state} ` : ""}dead letters{cursor ? " on this page" : ""}.</p>}
      <CursorPager cursors={cursors} next={list.data?.nextCursor} onChange={setCursors} />
    </div>
  );
}

function Row({ e, canOperate, selected, onToggle }: { e: DeadLetter; canOperate: boolean; selected: boolean; onToggle: () => void }) {
  const task = `${e.taskId}${e.mapIndex >= 0 ? `[${e.mapIndex}]` : ""}`;
  return (
    <tr data-testid="dead-letter" data-id={e.id} data-state={e.state}>
      {canOperate && (
        <td>
          {e.state === "open" && <input type="checkbox" aria-label={`select dead letter ${e.id}`} checked={selected} onChange={onToggle} />}
        </td>
      )}
      <td>{e.id}</td>
      <td>
        <span className="badge" data-state={e.state} style={{ background: ENTRY_COLORS[e.state] }}>
          {e.state}
        </span>
        {e.resolvedBy && <div className="muted small">by {e.resolvedBy}</div>}
      </td>
      <td>
        <Link to={`/dags/${encodeURIComponent(e.dagId)}?run=${encodeURIComponent(e.runId)}`}>{e.dagId}</Link>
        <div className="muted small">{e.runId}</div>
      </td>
      <td>
        <code>{task}</code>
        {Object.keys(e.inputs).length > 0 && <div className="muted small">inputs: {Object.entries(e.inputs).map(([name, from]) => `${name} ← ${from}`).join(", ")}</div>}
      </td>
      <td>{e.attempts}</td>
      <td>
        {e.reason.replace("_", " ")}
        {e.parked && <div className="muted small">parked: the run did not fail</div>}
      </td>
      <td className="small">
        {e.error?.code && <code>{e.error.code}</code>} {e.error?.message}
      </td>
      <td className="small">{fmtTime(e.createdAt)}</td>
    </tr>
  );
}

/** What a bulk action did: how many, and each refused id with why. */
function Outcome({ action, result }: { action: string; result: BulkResult }) {
  const failed = result.results.filter((r): r is Extract<BulkResult["results"][number], { ok: false }> => !r.ok);
  return (
    <div role="status" data-testid="dlq-outcome">
      <p>
        {action === "retry" ? "Retried" : "Discarded"} {result.succeeded} of {result.results.length}
        {action === "retry" && result.succeeded > 0 ? "; their runs are running again." : "."}
      </p>
      {failed.length > 0 && (
        <ul className="error">
          {failed.map((r) => (
            <li key={r.id}>
              {r.id}: {r.error.code}: {r.error.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
