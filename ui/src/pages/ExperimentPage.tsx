/**
 * An experiment's runs side by side: a row per trial (a task instance that tracked something), columns
 * for its params, each metric's last / min / max and its tags; sortable by any column, filtered by a text
 * box (`accuracy > 0.9 optimizer=adam resnet`, experimentTable.ts), rows selected for the chart of one
 * metric's series (MetricChart, uPlot). Sort, filter and the charted metric live in the URL, so a view can
 * be shared. Every name and value is user text and is rendered as text.
 */
import { memo, useCallback, useMemo, useState } from "react";
import type { Trial } from "../api";
import { seriesColor } from "../chartData";
import { ErrorBox } from "../components/ErrorBox";
import { MetricChart, type ChartSeries } from "../components/MetricChart";
import { chartableMetrics, columnsOf, cellValue, filterTrials, parseFilter, sortTrials, trialKey, type Column } from "../experimentTable";
import { fmtTime } from "../format";
import { useGetExperiment } from "../queries/useGetExperiment";
import { useListMetricSeries } from "../queries/useListMetricSeries";
import { Link, navigate, useLocation, withQuery } from "../router";

/** Rows charted when the user has not picked any: the first ones shown. */
const DEFAULT_SELECTED = 10;

export function ExperimentPage({ name }: { name: string }) {
  const loc = useLocation();
  const exp = useGetExperiment(name);
  const trials = useMemo(() => exp.data?.pages.flatMap((p) => p.trials) ?? [], [exp.data]);
  const runs = exp.data?.pages.reduce((n, p) => n + p.runs.length, 0) ?? 0;
  const columns = useMemo(() => columnsOf(trials), [trials]);
  const sortKey = loc.query.get("sort") ?? "run";
  const dir = loc.query.get("dir") === "asc" ? "asc" : "desc";
  const filterText = loc.query.get("q") ?? "";
  const [draft, setDraft] = useState(filterText);
  const filter = useMemo(() => parseFilter(filterText), [filterText]);
  const rows = useMemo(() => sortTrials(filterTrials(trials, filter), columns.find((c) => c.key === sortKey), dir), [trials, filter, columns, sortKey, dir]);
  const [picked, setPicked] = useState<Set<string> | null>(null);
  const defaultKeys = useMemo(() => rows.slice(0, DEFAULT_SELECTED).map(trialKey), [rows]);
  const selected = useMemo(() => {
    const shown = new Set(rows.map(trialKey));
    return picked ? new Set([...picked].filter((k) => shown.has(k))) : new Set(defaultKeys);
  }, [picked, rows, defaultKeys]);
  const metrics = useMemo(() => chartableMetrics(trials), [trials]);
  const metric = loc.query.get("metric") ?? metrics[0] ?? null;
  const chartRows = useMemo(() => rows.filter((t) => selected.has(trialKey(t))), [rows, selected]);
  // a colour per trial, the same in the table and the chart, kept while other rows are (un)selected
  const colorOf = useMemo(() => new Map(trials.map((t, i) => [trialKey(t), seriesColor(i)])), [trials]);

  const setQuery = (changes: Record<string, string | null>) => navigate(withQuery(loc, changes), { replace: true });
  const sortBy = (c: Column) => setQuery({ sort: c.key, dir: c.key === sortKey && dir === "desc" ? "asc" : "desc" });
  // stable across renders, so that toggling one row re-renders that row only (TrialRow is memoised)
  const toggle = useCallback(
    (k: string) =>
      setPicked((prev) => {
        const next = new Set(prev ?? defaultKeys);
        if (next.has(k)) next.delete(k);
        else next.add(k);
        return next;
      }),
    [defaultKeys],
  );
  const allShown = rows.length > 0 && rows.every((t) => selected.has(trialKey(t)));

  if (exp.error) return <div className="page"><ErrorBox error={exp.error} /></div>;
  if (!exp.data) return <div className="page muted">Loading…</div>;

  return (
    <div className="page experiment-page" data-testid="experiment-page">
      <h2>
        <Link to="/experiments">Experiments</Link> / <span data-testid="experiment-name">{name}</span>
      </h2>
      <p className="muted small">
        {runs} run(s), {trials.length} trial(s); {rows.length} shown, {chartRows.length} selected.
      </p>
      <form
        className="filters"
        aria-label="Filter trials"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ q: draft.trim() || null });
        }}
      >
        <input
          type="search"
          aria-label="Filter"
          name="q"
          placeholder="accuracy > 0.9  loss.min < 0.2  optimizer=adam  text"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
        />
        <button type="submit">Filter</button>
        {filterText && (
          <button
            type="button"
            className="link"
            onClick={() => {
              setDraft("");
              setQuery({ q: null });
            }}
          >
            Clear filter
          </button>
        )}
      </form>

      <section className="card chart-card">
        <label className="small">
          Metric{" "}
          <select aria-label="Metric" value={metric ?? ""} onChange={(e) => setQuery({ metric: e.target.value })}>
            {metrics.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
        {metric && chartRows.length > 0 ? (
          <Chart metric={metric} trials={chartRows} colorOf={colorOf} />
        ) : (
          <p className="muted small">{metric ? "Select runs in the table to chart them." : "No metric tracked."}</p>
        )}
      </section>

      <div className="table-scroll">
        <table className="list small compare-table" data-testid="compare-table">
          <thead>
            <tr>
              <th>
                <input type="checkbox" aria-label="Select all shown" checked={allShown} onChange={() => setPicked(allShown ? new Set() : new Set(rows.map(trialKey)))} />
              </th>
              {columns.map((c) => (
                <th key={c.key} aria-sort={c.key === sortKey ? (dir === "asc" ? "ascending" : "descending") : "none"} className={`col-${c.kind}`}>
                  <button type="button" className="link sort" data-col={c.key} onClick={() => sortBy(c)}>
                    <ColumnLabel c={c} />
                    {c.key === sortKey ? (dir === "asc" ? " ▲" : " ▼") : ""}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => {
              const k = trialKey(t);
              const on = selected.has(k);
              return <TrialRow key={k} t={t} columns={columns} selected={on} color={on ? colorOf.get(k) : undefined} toggle={toggle} />;
            })}
          </tbody>
        </table>
      </div>
      {rows.length === 0 && <p className="muted">No trial matches this filter.</p>}
      {exp.hasNextPage && (
        <button type="button" onClick={() => void exp.fetchNextPage()} disabled={exp.isFetchingNextPage}>
          Load more runs
        </button>
      )}
    </div>
  );
}

const TrialRow = memo(function TrialRow({ t, columns, selected, color, toggle }: { t: Trial; columns: Column[]; selected: boolean; color: string | undefined; toggle: (k: string) => void }) {
  const k = trialKey(t);
  return (
    <tr data-run={t.runId} data-trial={k} className={selected ? "selected" : undefined}>
      <td>
        <input type="checkbox" aria-label={`Select ${t.runId} ${t.taskId}`} checked={selected} onChange={() => toggle(k)} />
        {color && <span className="swatch" style={{ background: color }} aria-hidden="true" />}
      </td>
      {columns.map((c) => (
        <td key={c.key} className={c.kind === "metric" || typeof cellValue(t, c) === "number" ? "num" : undefined}>
          <Cell t={t} c={c} />
        </td>
      ))}
    </tr>
  );
});

function ColumnLabel({ c }: { c: Column }) {
  switch (c.kind) {
    case "run":
      return <>Run</>;
    case "task":
      return <>Task</>;
    case "param":
      return <span title="param">{c.name}</span>;
    case "metric":
      return (
        <span title={`metric, ${c.stat} value`}>
          {c.name} <span className="muted">{c.stat}</span>
        </span>
      );
    case "tag":
      return (
        <span title="tag">
          <span className="muted">#</span>
          {c.name}
        </span>
      );
  }
}

function Cell({ t, c }: { t: Trial; c: Column }) {
  if (c.kind === "run")
    return (
      <Link to={`/runs/${encodeURIComponent(t.runId)}`} title={t.runId}>
        {fmtTime(t.createdAt)}
      </Link>
    );
  if (c.kind === "task")
    return (
      <Link to={`/dags/${encodeURIComponent(t.dagId)}?run=${encodeURIComponent(t.runId)}&task=${encodeURIComponent(t.taskId)}${t.mapIndex >= 0 ? `&map=${t.mapIndex}` : ""}`}>
        {String(cellValue(t, c))}
      </Link>
    );
  const v = cellValue(t, c);
  if (v === undefined) return <span className="muted">—</span>;
  return <>{typeof v === "number" ? fmtNumber(v) : String(v)}</>;
}

/** Numbers as they were logged, cut to 6 significant digits when longer. */
function fmtNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
}

function Chart({ metric, trials, colorOf }: { metric: string; trials: Trial[]; colorOf: Map<string, string> }) {
  const queries = useListMetricSeries(trials, metric);
  const pending = queries.filter((q) => q.isPending).length;
  const failed = queries.find((q) => q.error)?.error ?? null;
  const datas = queries.map((q) => q.data);
  // rebuild the series only when a series' data changed (useQueries returns new wrappers on each render)
  const stamp = queries.map((q) => q.dataUpdatedAt).join(",");
  const series = useMemo<ChartSeries[]>(
    () =>
      pending > 0
        ? []
        : trials.map((t, i) => {
            const pts = datas[i] ?? [];
            return {
              key: trialKey(t),
              label: `${fmtTime(t.createdAt)} ${t.taskId}${t.mapIndex >= 0 ? `[${t.mapIndex}]` : ""}`,
              color: colorOf.get(trialKey(t)) ?? "#333",
              steps: pts.map((p) => p.step),
              values: pts.map((p) => p.value),
            };
          }),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `datas` changes exactly when `stamp` does
    [pending, trials, metric, stamp, colorOf],
  );
  if (failed) return <ErrorBox error={failed} />;
  if (pending > 0) return <p className="muted small" data-testid="chart-loading">Loading {pending} series…</p>;
  return <MetricChart metric={metric} series={series} />;
}
