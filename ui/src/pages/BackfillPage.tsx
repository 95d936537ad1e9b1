/** Backfill a DAG over a date range, then follow its progress (done, failed, running of total). */
import { useState, type FormEvent } from "react";
import { api, type Backfill, type BackfillPlan } from "../api";
import { useCanOperate } from "../auth";
import { ErrorBox } from "../components/ErrorBox";
import { fmtTimeTz, fmtZone } from "../format";
import { useGetBackfill } from "../queries/useGetBackfill";
import { invalidateBackfills, useListBackfills } from "../queries/useListBackfills";
import { Link } from "../router";

export function BackfillPage({ dagId }: { dagId: string }) {
  const canOperate = useCanOperate();
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [reprocess, setReprocess] = useState<"missing" | "failed" | "all">("missing");
  const [maxActive, setMaxActive] = useState("");
  const [error, setError] = useState<Error | null>(null);
  const [dryRun, setDryRun] = useState<BackfillPlan | null>(null);
  const list = useListBackfills(dagId);

  const submit = async (e: FormEvent, dry: boolean) => {
    e.preventDefault();
    setError(null);
    try {
      const range = { dagId, from: new Date(from).getTime(), to: new Date(to).getTime(), reprocess };
      if (dry) setDryRun(await api.planBackfill(range));
      else {
        await api.createBackfill({ ...range, ...(maxActive ? { maxActive: Number(maxActive) } : {}) });
        setDryRun(null);
        void invalidateBackfills(dagId);
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
            From ({fmtZone(Date.now())}) <input type="datetime-local" name="from" required value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>
          <label>
            To ({fmtZone(Date.now())}) <input type="datetime-local" name="to" required value={to} onChange={(e) => setTo(e.target.value)} />
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
          {dryRun && <PlanTable plan={dryRun} />}
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
            <BackfillRow key={b.id} dagId={dagId} summary={b} canOperate={canOperate} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** One backfill; the list has no progress, so a running one polls its own detail. */
function BackfillRow({ dagId, summary, canOperate }: { dagId: string; summary: Backfill; canOperate: boolean }) {
  const detail = useGetBackfill(dagId, summary);
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
          <button type="button" onClick={() => void api.cancelBackfill(b.id).then(() => invalidateBackfills(dagId))}>
            Cancel
          </button>
        )}
      </td>
    </tr>
  );
}

const ACTION_TEXT: Record<string, string> = { create: "new run", reprocess: "run again", skip_exists: "skip: has a run", skip_in_flight: "skip: its run is still going" };

/** The dry run: each data interval the backfill covers, with what will happen to it. */
function PlanTable({ plan }: { plan: BackfillPlan }) {
  const counts = plan.intervals.reduce<Record<string, number>>((c, i) => ({ ...c, [i.action]: (c[i.action] ?? 0) + 1 }), {});
  return (
    <div data-testid="backfill-plan">
      <p className="small">
        {plan.total} interval{plan.total === 1 ? "" : "s"}: {Object.entries(counts).map(([a, n]) => `${n} ${ACTION_TEXT[a] ?? a}`).join(", ") || "none"}
        {plan.incomplete > 0 ? `; ${plan.incomplete} not ended yet (left to the scheduler)` : ""}
        {plan.total > plan.intervals.length ? `; the first ${plan.intervals.length} shown` : ""}
      </p>
      {plan.intervals.length > 0 && (
        <table className="list small backfill-plan">
          <thead>
            <tr>
              <th>Data interval start</th>
              <th>End</th>
              <th>Run now</th>
              <th>Backfill will</th>
            </tr>
          </thead>
          <tbody>
            {plan.intervals.map((i) => (
              <tr key={i.start} data-action={i.action}>
                <td>{fmtTimeTz(i.start)}</td>
                <td>{fmtTimeTz(i.end)}</td>
                <td>{i.existing ? `${i.existing.state} (${i.existing.runId})` : "—"}</td>
                <td className={`action-${i.action}`}>{ACTION_TEXT[i.action] ?? i.action}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
