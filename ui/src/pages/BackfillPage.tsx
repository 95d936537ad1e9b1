/** Backfill a DAG over a date range, then follow its progress (done, failed, running of total). */
import { useState, type FormEvent } from "react";
import { api, type Backfill } from "../api";
import { useCanOperate } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { useData } from "../hooks";
import { Link } from "../router";

export function BackfillPage({ dagId }: { dagId: string }) {
  const canOperate = useCanOperate();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [reprocess, setReprocess] = useState<"missing" | "failed" | "all">("missing");
  const [maxActive, setMaxActive] = useState("");
  const [error, setError] = useState<Error | null>(null);
  const [dryRun, setDryRun] = useState<Backfill | null>(null);
  const list = useData(() => api.backfills({ dagId, limit: 20 }), `backfills|${dagId}`, 2000);

  const submit = async (e: FormEvent, dry: boolean) => {
    e.preventDefault();
    setError(null);
    try {
      const body = {
        dagId,
        from: new Date(from).getTime(),
        to: new Date(to).getTime(),
        reprocess,
        maxActive: maxActive ? Number(maxActive) : undefined,
        dryRun: dry,
      };
      const b = await api.createBackfill(body);
      if (dry) setDryRun(b);
      else {
        setDryRun(null);
        list.reload();
      }
    } catch (err) {
      setError(err as Error);
    }
  };

  return (
    <div className="page narrow">
      <h2>
        Backfill <Link to={`/dags/${encodeURIComponent(dagId)}`}>{dagId}</Link>
      </h2>
      {canOperate && (
        <form className="card" onSubmit={(e) => void submit(e, false)} aria-label="Backfill">
          <label>
            From <input type="datetime-local" name="from" required value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label>
            To <input type="datetime-local" name="to" required value={to} onChange={(e) => setTo(e.target.value)} />
          </label>
          <label>
            Intervals that already have a run
            <select name="reprocess" value={reprocess} onChange={(e) => setReprocess(e.target.value as typeof reprocess)}>
              <option value="missing">skip them (only missing runs)</option>
              <option value="failed">re-run the failed ones</option>
              <option value="all">re-run all of them</option>
            </select>
          </label>
          <label>
            Runs at once <input type="number" min={1} name="maxActive" value={maxActive} onChange={(e) => setMaxActive(e.target.value)} />
          </label>
          {error && <ErrorBox error={error} />}
          {dryRun && <pre className="preview">Dry run: {JSON.stringify(dryRun, null, 2)}</pre>}
          <div className="actions">
            <button type="button" onClick={(e) => void submit(e, true)} disabled={!from || !to}>
              Dry run
            </button>
            <button type="submit" className="primary">
              Start backfill
            </button>
          </div>
        </form>
      )}
      <h3>Backfills</h3>
      {list.error && <ErrorBox error={list.error} />}
      <table className="list" data-testid="backfills">
        <thead>
          <tr>
            <th>Id</th>
            <th>State</th>
            <th>Progress</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data?.items.map((b) => (
            <BackfillRow key={b.id} summary={b} canOperate={canOperate} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One backfill; the list has no progress, so a running one polls its own detail. */
function BackfillRow({ summary, canOperate }: { summary: Backfill; canOperate: boolean }) {
  const detail = useData(() => api.backfill(summary.id), `backfill|${summary.id}|${summary.state}`, summary.state === "running" ? 2000 : undefined);
  const b = detail.data ?? summary;
  const p = b.progress;
  return (
    <tr data-state={b.state}>
      <td>
        <code>{b.id}</code>
      </td>
      <td>{b.state}</td>
      <td>
        {p ? (
          <>
            <progress max={Math.max(1, p.total)} value={p.done} /> {p.succeeded} succeeded, {p.failed} failed, {p.running} running of {p.total}
          </>
        ) : (
          "…"
        )}
      </td>
      <td>
        {canOperate && b.state === "running" && (
          <button type="button" onClick={() => void api.cancelBackfill(b.id).then(detail.reload)}>
            Cancel
          </button>
        )}
      </td>
    </tr>
  );
}
