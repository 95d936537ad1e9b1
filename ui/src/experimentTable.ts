/**
 * The comparison table of an experiment, as data: its columns (params × metric summaries × tags, from
 * whatever the trials tracked), sorting by any column, and the filter box's language. Pure functions, so
 * that test/ui/experimentTable.test.ts checks them without a browser. Every name and value here is user
 * text (what tasks tracked); it is only ever rendered as React text.
 */

/**
 * A trial as the table reads it: the generated API type (api.ts `Trial`) fits it. Declared here so that
 * this module imports nothing and the node tests load it as it is.
 */
export interface Trial {
  runId: string;
  dagId: string;
  taskId: string;
  mapIndex: number;
  createdAt: number;
  params: Record<string, unknown>;
  metrics: Record<string, { last: number; min: number; max: number; points: number }>;
  tags: Record<string, string>;
}

export type Stat = "last" | "min" | "max";
export const STATS: readonly Stat[] = ["last", "min", "max"];

export type Column =
  | { kind: "run"; key: "run" }
  | { kind: "task"; key: "task" }
  | { kind: "param"; key: string; name: string }
  | { kind: "metric"; key: string; name: string; stat: Stat }
  | { kind: "tag"; key: string; name: string };

/** A trial's row key: a run's task instance. */
export const trialKey = (t: Pick<Trial, "runId" | "taskId" | "mapIndex">) => `${t.runId}|${t.taskId}|${t.mapIndex}`;

/** Column keys are `p:<name>`, `m:<name>:<stat>`, `t:<name>`: a name may hold any character, the prefix tells the kind. */
export function columnsOf(trials: readonly Trial[]): Column[] {
  const params = new Set<string>();
  const metrics = new Set<string>();
  const tags = new Set<string>();
  for (const t of trials) {
    for (const k of Object.keys(t.params)) params.add(k);
    for (const k of Object.keys(t.metrics)) metrics.add(k);
    for (const k of Object.keys(t.tags)) tags.add(k);
  }
  const sorted = (s: Set<string>) => [...s].sort((a, b) => a.localeCompare(b));
  return [
    { kind: "run", key: "run" },
    { kind: "task", key: "task" },
    ...sorted(params).map((name): Column => ({ kind: "param", key: `p:${name}`, name })),
    ...sorted(metrics).flatMap((name) => STATS.map((stat): Column => ({ kind: "metric", key: `m:${stat}:${name}`, name, stat }))),
    ...sorted(tags).map((name): Column => ({ kind: "tag", key: `t:${name}`, name })),
  ];
}

/** A cell's value: a number, a string, or undefined (the trial did not track it). */
export function cellValue(t: Trial, c: Column): number | string | boolean | undefined {
  switch (c.kind) {
    case "run":
      return t.createdAt;
    case "task":
      return t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId;
    case "param": {
      const v = t.params[c.name];
      if (v === undefined) return undefined;
      return typeof v === "number" || typeof v === "string" || typeof v === "boolean" ? v : JSON.stringify(v);
    }
    case "metric":
      return t.metrics[c.name]?.[c.stat];
    case "tag":
      return t.tags[c.name];
  }
}

/** Sorted by a column: numbers numerically, text naturally, missing values last in both directions. */
export function sortTrials<T extends Trial>(trials: readonly T[], col: Column | undefined, dir: "asc" | "desc"): T[] {
  if (!col) return trials.slice();
  const sign = dir === "asc" ? 1 : -1;
  return trials
    .map((t, i) => ({ t, i, v: cellValue(t, col) }))
    .sort((a, b) => {
      if (a.v === undefined || b.v === undefined) return a.v === b.v ? a.i - b.i : a.v === undefined ? 1 : -1;
      let c: number;
      if (typeof a.v === "number" && typeof b.v === "number") c = a.v - b.v;
      else c = String(a.v).localeCompare(String(b.v), undefined, { numeric: true });
      return c === 0 ? a.i - b.i : sign * c;
    })
    .map((x) => x.t);
}

type Op = ">" | ">=" | "<" | "<=" | "=" | "!=";
/** `name op value`: on a metric (its last value, or `name.min` / `name.max`), a param or a tag. */
export interface Condition {
  name: string;
  stat: Stat | null;
  op: Op;
  value: string;
}
export interface Filter {
  conditions: Condition[];
  /** Words that must each appear in a param, tag, task or run id (case-insensitive). */
  words: string[];
}

// a name is anything up to an operator: names are user text (dots, slashes, dashes, brackets)
const CONDITION = /([^\s<>=!]+)\s*(>=|<=|!=|==|=|>|<)\s*("[^"]*"|[^\s]+)/g;

/** Parse the filter box: `accuracy > 0.9 loss.min<0.2 optimizer=adam resnet` (conditions and words, all must hold). */
export function parseFilter(text: string): Filter {
  const conditions: Condition[] = [];
  const rest = text.replace(CONDITION, (_m, rawName: string, op: string, rawValue: string) => {
    const stat = /\.(last|min|max)$/.exec(rawName)?.[1] as Stat | undefined;
    conditions.push({
      name: stat ? rawName.slice(0, -stat.length - 1) : rawName,
      stat: stat ?? null,
      op: (op === "==" ? "=" : op) as Op,
      value: rawValue.startsWith('"') ? rawValue.slice(1, -1) : rawValue,
    });
    return " ";
  });
  return { conditions, words: rest.split(/\s+/).filter(Boolean).map((w) => w.toLowerCase()) };
}

function compare(a: number | string, op: Op, b: string): boolean {
  const n = Number(b);
  if (typeof a === "number" && b.trim() !== "" && Number.isFinite(n)) {
    switch (op) {
      case ">":
        return a > n;
      case ">=":
        return a >= n;
      case "<":
        return a < n;
      case "<=":
        return a <= n;
      case "=":
        return a === n;
      case "!=":
        return a !== n;
    }
  }
  const s = String(a);
  switch (op) {
    case "=":
      return s === b;
    case "!=":
      return s !== b;
    default:
      // text ordering only when both sides are text; a number against text never matches
      return typeof a === "number" ? false : op === ">" ? s > b : op === ">=" ? s >= b : op === "<" ? s < b : s <= b;
  }
}

function matches(t: Trial, c: Condition): boolean {
  const metric = t.metrics[c.name];
  if (metric) return compare(metric[c.stat ?? "last"], c.op, c.value);
  if (c.stat) return false;
  const p = t.params[c.name];
  if (p !== undefined && p !== null) return compare(typeof p === "number" ? p : typeof p === "string" ? p : JSON.stringify(p), c.op, c.value);
  const tag = t.tags[c.name];
  if (tag !== undefined) return compare(tag, c.op, c.value);
  // not tracked by this trial: only "is not" holds
  return c.op === "!=";
}

/** The trials the filter keeps. */
export function filterTrials<T extends Trial>(trials: readonly T[], f: Filter): T[] {
  if (f.conditions.length === 0 && f.words.length === 0) return trials.slice();
  return trials.filter((t) => {
    if (!f.conditions.every((c) => matches(t, c))) return false;
    if (f.words.length === 0) return true;
    const hay = [
      t.runId,
      t.taskId,
      ...Object.entries(t.params).flatMap(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
      ...Object.entries(t.tags).flatMap(([k, v]) => [k, v]),
    ]
      .join("\n")
      .toLowerCase();
    return f.words.every((w) => hay.includes(w));
  });
}

/** Metric names the trials tracked, for the chart's picker (those with more than one point first). */
export function chartableMetrics(trials: readonly Trial[]): string[] {
  const points = new Map<string, number>();
  for (const t of trials) for (const [k, m] of Object.entries(t.metrics)) points.set(k, Math.max(points.get(k) ?? 0, m.points));
  return [...points.entries()].sort((a, b) => Number(b[1] > 1) - Number(a[1] > 1) || a[0].localeCompare(b[0])).map(([k]) => k);
}
