/**
 * A small strict parser of the Prometheus text exposition format (0.0.4), for tests: it throws on any line
 * that is not a HELP, TYPE, blank line or well-formed sample, on a sample before its family's TYPE, on a
 * family declared twice or split, on a duplicate series, and on histograms whose buckets do not add up
 * (non-decreasing, the +Inf bucket equal to _count).
 * https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A value as Go's strconv.ParseFloat reads it (the format's definition): NaN and Inf in any case — prom-client
 * writes "Nan" for an event-loop gauge before its first sample, which Prometheus accepts.
 */
function parseValue(text: string, line: string): number {
  const lower = text.toLowerCase();
  if (lower === "+inf" || lower === "inf" || lower === "+infinity" || lower === "infinity") return Infinity;
  if (lower === "-inf" || lower === "-infinity") return -Infinity;
  if (lower === "nan") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value "${text}" in: ${line}`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` from index `i` (at the `{`): the labels and the index after the `}`. */
function parseLabels(line: string, i: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  i++; // {
  while (line[i] !== "}") {
    const eq = line.indexOf("=", i);
    if (eq < 0) throw new Error(`bad labels in: ${line}`);
    const name = line.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`bad label name "${name}" in: ${line}`);
    if (line[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let j = eq + 2;
    let value = "";
    for (;;) {
      const ch = line[j];
      if (ch === undefined) throw new Error(`unterminated label value in: ${line}`);
      if (ch === "\\") {
        const next = line[j + 1];
        if (next === "n") value += "\n";
        else if (next === "\\" || next === '"') value += next;
        else throw new Error(`bad escape in: ${line}`);
        j += 2;
        continue;
      }
      if (ch === '"') break;
      value += ch;
      j++;
    }
    if (name in labels) throw new Error(`label "${name}" twice in: ${line}`);
    labels[name] = value;
    i = j + 1;
    if (line[i] === ",") i++;
    else if (line[i] !== "}") throw new Error(`expected , or } in: ${line}`);
  }
  return { labels, end: i + 1 };
}

/** The family a sample name belongs to (a histogram's _bucket, _sum and _count belong to it). */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  if (families.has(name)) return families.get(name);
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    if (name.endsWith(suffix)) {
      const f = families.get(name.slice(0, -suffix.length));
      if (f && (f.type === "histogram" || f.type === "summary")) return f;
    }
  }
  return undefined;
}

export function parseExposition(text: string): Map<string, Family> {
  if (!text.endsWith("\n")) throw new Error("the text must end with a newline");
  const families = new Map<string, Family>();
  const series = new Set<string>();
  let current: Family | null = null;
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // other comments are allowed
      const [, kind, name, rest] = m as unknown as [string, "HELP" | "TYPE", string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name "${name}"`);
      let f = families.get(name);
      if (f && f !== current) throw new Error(`family ${name} declared again after another one`);
      if (!f) {
        f = { name, type: "untyped", help: "", samples: [] };
        families.set(name, f);
      }
      current = f;
      if (kind === "TYPE") {
        if (f.samples.length > 0) throw new Error(`TYPE of ${name} after its samples`);
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) throw new Error(`bad type "${rest}" of ${name}`);
        f.type = rest as MetricType;
      } else f.help = rest;
      continue;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`bad sample line: ${line}`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`bad metric name "${name}" in: ${line}`);
    let labels: Record<string, string> = {};
    let i = nameEnd;
    if (line[i] === "{") ({ labels, end: i } = parseLabels(line, i));
    if (line[i] !== " ") throw new Error(`expected a space before the value in: ${line}`);
    const parts = line.slice(i + 1).split(" ");
    if (parts.length > 2) throw new Error(`trailing text in: ${line}`);
    const value = parseValue(parts[0]!, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`bad timestamp in: ${line}`);
    const f = familyOf(name, families);
    if (!f) throw new Error(`sample ${name} without its family's TYPE`);
    if (f !== current) throw new Error(`sample of ${f.name} outside its family's block`);
    if (f.type === "counter" && !(value >= 0)) throw new Error(`counter ${name} is ${value}`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`duplicate series ${key}`);
    series.add(key);
    f.samples.push({ name, labels, value });
  }
  for (const f of families.values()) if (f.type === "histogram") checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { buckets: [] }));
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${s.name} without le`);
      g.buckets.push([parseValue(le, s.name), s.value]);
    } else if (s.name === `${f.name}_count`) g.count = s.value;
    else if (s.name === `${f.name}_sum`) g.sum = s.value;
    else throw new Error(`unexpected sample ${s.name} in histogram ${f.name}`);
  }
  for (const [key, g] of groups) {
    if (g.count === undefined || g.sum === undefined) throw new Error(`histogram ${f.name}${key} lacks _count or _sum`);
    const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
    if (sorted.at(-1)?.[0] !== Infinity) throw new Error(`histogram ${f.name}${key} has no +Inf bucket`);
    for (let i = 1; i < sorted.length; i++) if (sorted[i]![1] < sorted[i - 1]![1]) throw new Error(`histogram ${f.name}${key}: buckets decrease`);
    if (sorted.at(-1)![1] !== g.count) throw new Error(`histogram ${f.name}${key}: +Inf bucket ${sorted.at(-1)![1]} != _count ${g.count}`);
  }
}

/** The sum of the series of `name` whose labels include `labels` (0 when there is none). */
export function sumOf(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const f = familyOf(name, families);
  const s = f?.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)) ?? [];
  return s.reduce((n, x) => n + x.value, 0);
}
