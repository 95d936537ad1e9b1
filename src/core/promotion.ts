/**
 * The model registry's rules (pure, table-tested in test/core/promotion.test.ts): what a model name and an
 * alias may be, whether a candidate passes a promotion gate against the alias's current holder, and which
 * version a rollback returns an alias to. `store/models.ts` only reads, locks and writes; the gate task
 * (worker/promotionGate.ts) and the app layer (app/models.ts) decide with these.
 */
import { SluiceError } from "../errors.js";

const MODEL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;
const ALIAS = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$/;

/** A model's name: letters, digits, `_ . -`, 1-200 characters, not starting with `.` or `-`. */
export function checkModelName(where: string, name: unknown): string {
  if (typeof name !== "string" || !MODEL_NAME.test(name)) {
    throw new SluiceError("INVALID_INPUT", `${where}: model name ${JSON.stringify(name)} is not valid (1-200 letters, digits, "_", "." or "-", not starting with "." or "-")`, { details: { field: "model" } });
  }
  return name;
}

/**
 * An alias: letters, digits, `_ -`, 1-100 characters. As in MLflow, `latest` and `v<N>` are refused: they
 * read as version selectors (`spam@latest`, `spam@v3`) and would be ambiguous.
 */
export function checkAlias(where: string, alias: unknown): string {
  if (typeof alias !== "string" || !ALIAS.test(alias) || alias.toLowerCase() === "latest" || /^v\d+$/i.test(alias)) {
    throw new SluiceError("INVALID_INPUT", `${where}: alias ${JSON.stringify(alias)} is not valid (1-100 letters, digits, "_" or "-"; not "latest" or "v<number>")`, { details: { field: "alias" } });
  }
  return alias;
}

/** A version number: a whole number ≥ 1. */
export function checkVersion(where: string, version: unknown): number {
  const v = typeof version === "string" && /^\d+$/.test(version) ? Number(version) : version;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
    throw new SluiceError("INVALID_INPUT", `${where}: version must be a whole number ≥ 1, got ${JSON.stringify(version)}`, { details: { field: "version" } });
  }
  return v;
}

/**
 * One metric's rule in a gate's `compare`. `notWorseBy`: compared with the alias's holder (skipped when
 * there is none, or it lacks the metric) — higher is better unless `lowerIsBetter`; `min`/`max`: absolute
 * bounds the candidate must meet whether or not there is a holder.
 */
export interface MetricRule {
  notWorseBy?: number;
  lowerIsBetter?: boolean;
  min?: number;
  max?: number;
}

/** A promotion gate as its TaskSpec records it (`d.promote`). */
export interface PromoteSpec {
  model: string;
  alias: string;
  /** Metric → rule, in the order given. */
  compare: Record<string, MetricRule>;
  /** Wait for a person's decision, at most `timeoutMs`; null: move the alias as soon as the comparison passes. */
  approval: { timeoutMs: number } | null;
}

/** How long a gate waits for a decision by default (Airflow's sensor default). */
export const DEFAULT_APPROVAL_TIMEOUT_MS = 7 * 86_400_000;

/** One metric's line of a gate's verdict. */
export interface MetricCheck {
  metric: string;
  candidate: number | null;
  champion: number | null;
  /** The rule as a person reads it: "≥ champion − 0.005", "≤ 120". */
  threshold: string;
  passed: boolean;
}

export interface GateComparison {
  passed: boolean;
  /** The holder compared with (null: none, so only absolute bounds applied). */
  championVersion: number | null;
  checks: MetricCheck[];
}

/** Check a gate's `compare` option (at DAG load): each rule a non-empty object of finite numbers. */
export function checkRules(where: string, compare: unknown): Record<string, MetricRule> {
  if (typeof compare !== "object" || compare === null || Array.isArray(compare)) throw new SluiceError("INVALID_DAG", `${where}: "compare" must be an object of metric name → rule`);
  const out: Record<string, MetricRule> = {};
  for (const [metric, rule] of Object.entries(compare as Record<string, unknown>)) {
    if (typeof rule !== "object" || rule === null) throw new SluiceError("INVALID_DAG", `${where}: compare.${metric} must be an object ({ notWorseBy }, { max }, { min })`);
    const r = rule as Record<string, unknown>;
    const known = new Set(["notWorseBy", "lowerIsBetter", "min", "max"]);
    for (const k of Object.keys(r)) if (!known.has(k)) throw new SluiceError("INVALID_DAG", `${where}: compare.${metric}.${k} is not a rule (notWorseBy, lowerIsBetter, min, max)`);
    for (const k of ["notWorseBy", "min", "max"] as const) {
      if (r[k] !== undefined && (typeof r[k] !== "number" || !Number.isFinite(r[k]))) throw new SluiceError("INVALID_DAG", `${where}: compare.${metric}.${k} must be a finite number`);
    }
    if (r["notWorseBy"] !== undefined && (r["notWorseBy"] as number) < 0) throw new SluiceError("INVALID_DAG", `${where}: compare.${metric}.notWorseBy must be ≥ 0`);
    if (r["lowerIsBetter"] !== undefined && typeof r["lowerIsBetter"] !== "boolean") throw new SluiceError("INVALID_DAG", `${where}: compare.${metric}.lowerIsBetter must be a boolean`);
    if (r["notWorseBy"] === undefined && r["min"] === undefined && r["max"] === undefined) throw new SluiceError("INVALID_DAG", `${where}: compare.${metric} has no rule (notWorseBy, min or max)`);
    out[metric] = { ...(r["notWorseBy"] !== undefined ? { notWorseBy: r["notWorseBy"] as number } : {}), ...(r["lowerIsBetter"] ? { lowerIsBetter: true } : {}), ...(r["min"] !== undefined ? { min: r["min"] as number } : {}), ...(r["max"] !== undefined ? { max: r["max"] as number } : {}) };
  }
  return out;
}

/**
 * Compare a candidate's metrics with the holder's under `rules` (in the rules' order). A metric the
 * candidate lacks fails its rule; a holder lacking one (or no holder) leaves `notWorseBy` out.
 */
export function compareWithChampion(rules: Record<string, MetricRule>, candidate: Record<string, number>, champion: { version: number; metrics: Record<string, number> } | null): GateComparison {
  const checks: MetricCheck[] = [];
  for (const [metric, rule] of Object.entries(rules)) {
    const c = typeof candidate[metric] === "number" ? candidate[metric] : null;
    const h = champion && typeof champion.metrics[metric] === "number" ? champion.metrics[metric] : null;
    const parts: string[] = [];
    let passed = c !== null;
    if (rule.notWorseBy !== undefined) {
      if (h !== null) {
        const bound = rule.lowerIsBetter ? h + rule.notWorseBy : h - rule.notWorseBy;
        parts.push(rule.lowerIsBetter ? `≤ champion + ${rule.notWorseBy} (${round(bound)})` : `≥ champion − ${rule.notWorseBy} (${round(bound)})`);
        if (c !== null && (rule.lowerIsBetter ? c > bound + 1e-12 : c < bound - 1e-12)) passed = false;
      } else parts.push(champion ? "champion has no value: not compared" : "no champion: not compared");
    }
    if (rule.min !== undefined) {
      parts.push(`≥ ${rule.min}`);
      if (c !== null && c < rule.min) passed = false;
    }
    if (rule.max !== undefined) {
      parts.push(`≤ ${rule.max}`);
      if (c !== null && c > rule.max) passed = false;
    }
    if (c === null) parts.push("candidate has no value");
    checks.push({ metric, candidate: c, champion: h, threshold: parts.join(", "), passed });
  }
  return { passed: checks.every((k) => k.passed), championVersion: champion?.version ?? null, checks };
}

function round(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

/** The verdict as lines a person reads in the gate's error and log. */
export function describeComparison(name: string, alias: string, candidateVersion: number, cmp: GateComparison): string {
  const head = `model "${name}" version ${candidateVersion} ${cmp.passed ? "passes" : "fails"} the gate for alias "${alias}" (champion: ${cmp.championVersion === null ? "none" : `version ${cmp.championVersion}`})`;
  const fmt = (v: number | null) => (v === null ? "—" : String(v));
  const lines = cmp.checks.map((k) => `  ${k.passed ? "ok  " : "FAIL"} ${k.metric}: candidate ${fmt(k.candidate)}, champion ${fmt(k.champion)}, threshold ${k.threshold}`);
  return [head, ...lines].join("\n");
}

/** One alias move as a rollback reads it. */
export interface AliasMove {
  fromVersion: number | null;
  toVersion: number;
  kind: "promote" | "rollback" | "gate";
}

/**
 * Where a rollback takes an alias: an undo stack over its history (newest first). Each rollback undoes the
 * latest move not yet undone, so v1 → v2 → v3, rollback, rollback gives v2 then v1 (not v2, v3, v2…). Null
 * when nothing is left to undo (the alias's first holder).
 */
export function rollbackTarget(newestFirst: readonly AliasMove[]): number | null {
  let undone = 0;
  for (const m of newestFirst) {
    if (m.kind === "rollback") undone++;
    else if (undone > 0) undone--;
    else return m.fromVersion;
  }
  return null;
}
