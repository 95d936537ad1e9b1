/**
 * Drift statistics (issue 15, item 5): does the data a model sees now look like the data it was trained on?
 *
 * - Numeric features: the population stability index (PSI, bins at the reference's deciles) and the
 *   two-sample Kolmogorov–Smirnov test (statistic D and its asymptotic p-value).
 * - Categorical features: PSI over the categories and Pearson's chi-square test of homogeneity (statistic,
 *   degrees of freedom, p-value).
 * - `driftReport(reference, current, { features, thresholds })` runs them per feature over rows of objects
 *   and says which features drifted.
 *
 * Written here rather than taken from a library: simple-statistics has no two-sample KS and its chi-square
 * only compares against a table of fixed significance levels (no p-value); jStat has the distributions but
 * neither PSI nor a two-sample KS. What is needed is two special functions (the Kolmogorov distribution and
 * the regularised incomplete gamma function), each a few well-known lines. The tests check them against
 * values computed with SciPy. Pure functions, no I/O: DAG files import them from "sluice".
 */
import { SluiceError } from "../errors.js";

/** Proportion given to an empty bin or category so that PSI's logarithm stays finite (as most tools do). */
export const PSI_EPSILON = 1e-4;

// ---------------------------------------------------------------------------------------------------------
// Special functions

/** Q_KS(λ) = P(K > λ), the Kolmogorov distribution's survival function (SciPy: `scipy.special.kolmogorov`). */
export function kolmogorovSurvival(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 1.18) {
    // P(K ≤ λ) = √(2π)/λ · Σ_{j≥1} exp(−(2j−1)²π²/(8λ²)): converges in a few terms for small λ, where the
    // alternating series below would need many.
    const k = (Math.PI * Math.PI) / (8 * lambda * lambda);
    let sum = 0;
    for (let j = 1; j <= 6; j++) sum += Math.exp(-((2 * j - 1) ** 2) * k);
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / lambda) * sum));
  }
  // Q(λ) = 2 Σ_{j≥1} (−1)^{j−1} exp(−2j²λ²): for λ ≥ 1.18 the terms vanish after a handful.
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += j % 2 === 1 ? term : -term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** Lanczos' coefficients (g = 7, n = 9): ln Γ(z) to about 15 digits. */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

function lnGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z); // reflection
  const x = z - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * Q(a, x) = Γ(a, x)/Γ(a), the regularised upper incomplete gamma function: the series for P = 1 − Q below
 * x < a + 1, Lentz's continued fraction above (Numerical Recipes' gammq), each where it converges fast.
 */
function upperRegularizedGamma(a: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = a * Math.log(x) - x - lnGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-16) break;
    }
    return Math.min(1, Math.max(0, 1 - sum * Math.exp(logPrefix)));
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.min(1, Math.max(0, Math.exp(logPrefix) * h));
}

/** P(X > x) for X ~ χ²(k) (SciPy: `scipy.stats.chi2.sf(x, k)`). */
export function chiSquareSurvival(x: number, degreesOfFreedom: number): number {
  if (degreesOfFreedom <= 0) return 1;
  return upperRegularizedGamma(degreesOfFreedom / 2, x / 2);
}

// ---------------------------------------------------------------------------------------------------------
// Tests on two samples

export interface KsResult {
  /** D: the largest distance between the two empirical distribution functions, in [0, 1]. */
  statistic: number;
  /** Two-sided asymptotic p-value: small means the samples are unlikely to come from one distribution. */
  pValue: number;
}

/**
 * Two-sample Kolmogorov–Smirnov test. D is exact (ties handled: both functions step past a repeated value
 * together). The p-value is Smirnov's asymptotic distribution with Stephens' small-sample correction,
 * Q_KS((√n + 0.12 + 0.11/√n)·D) with n = n₁n₂/(n₁+n₂) (Numerical Recipes' kstwo; SciPy before 1.5 used the
 * same): within a few per cent of the exact value from about 20 values per sample, and driftReport asks
 * for more (`minSamples`).
 */
export function ksTest(reference: readonly number[], current: readonly number[], feature = "values"): KsResult {
  const a = sortedFinite(reference, feature, "reference");
  const b = sortedFinite(current, feature, "current");
  let i = 0;
  let j = 0;
  let statistic = 0;
  while (i < a.length && j < b.length) {
    const v = Math.min(a[i]!, b[j]!);
    while (i < a.length && a[i] === v) i++;
    while (j < b.length && b[j] === v) j++;
    statistic = Math.max(statistic, Math.abs(i / a.length - j / b.length));
  }
  // once one sample is used up its function is 1 and the other's only grows towards 1: no larger gap after
  const n = Math.sqrt((a.length * b.length) / (a.length + b.length));
  return { statistic, pValue: kolmogorovSurvival((n + 0.12 + 0.11 / n) * statistic) };
}

export interface ChiSquareResult {
  statistic: number;
  degreesOfFreedom: number;
  pValue: number;
}

/**
 * Pearson's chi-square test of homogeneity on the 2 × k table of category counts (reference, current), over
 * the categories seen in either sample. No Yates correction: SciPy's `chi2_contingency(table,
 * correction=False)`. One category in all (a constant feature in both samples): nothing can differ, so the
 * statistic is 0 with 0 degrees of freedom and p = 1.
 */
export function chiSquareTest(reference: readonly string[], current: readonly string[], feature = "values"): ChiSquareResult {
  nonEmpty(reference, feature, "reference");
  nonEmpty(current, feature, "current");
  const ref = countCategories(reference);
  const cur = countCategories(current);
  const categories = new Set([...ref.keys(), ...cur.keys()]);
  const total = reference.length + current.length;
  let statistic = 0;
  for (const c of categories) {
    const column = (ref.get(c) ?? 0) + (cur.get(c) ?? 0);
    for (const [observed, rowTotal] of [
      [ref.get(c) ?? 0, reference.length],
      [cur.get(c) ?? 0, current.length],
    ] as const) {
      const expected = (rowTotal * column) / total; // > 0: every category was seen at least once
      statistic += (observed - expected) ** 2 / expected;
    }
  }
  const degreesOfFreedom = categories.size - 1;
  return { statistic, degreesOfFreedom, pValue: chiSquareSurvival(statistic, degreesOfFreedom) };
}

// ---------------------------------------------------------------------------------------------------------
// Population stability index

export interface PsiBin {
  /**
   * Numeric: the bin's upper bound (inclusive; Infinity for the last), or "< v", "= v", "> v" for a constant
   * reference; categorical: the category.
   */
  bin: number | string;
  /** Share of each sample in the bin, before smoothing. */
  reference: number;
  current: number;
}

export interface PsiResult {
  /** Σ (current − reference) · ln(current / reference) over the bins, shares of 0 counted as PSI_EPSILON. */
  psi: number;
  bins: PsiBin[];
}

/** PSI's sum, with empty shares smoothed to PSI_EPSILON (an empty bin would make the logarithm infinite). */
function psiOf(bins: readonly PsiBin[]): number {
  return bins.reduce((sum, b) => {
    const r = Math.max(b.reference, PSI_EPSILON);
    const c = Math.max(b.current, PSI_EPSILON);
    return sum + (c - r) * Math.log(c / r);
  }, 0);
}

/**
 * PSI of a numeric feature. Bins are cut at the reference's quantiles (i/bins, linear interpolation as
 * NumPy's default), so each holds about the same share of the reference; equal cut points (a feature with
 * few distinct values) merge. A constant reference gets three bins — below, at and above its value — so a
 * current sample that moves either way shows.
 */
export function numericPsi(reference: readonly number[], current: readonly number[], options: { bins?: number; feature?: string } = {}): PsiResult {
  const feature = options.feature ?? "values";
  const bins = options.bins ?? 10;
  if (!Number.isInteger(bins) || bins < 2) throw invalid(feature, `bins must be an integer of at least 2, got ${bins}`);
  const a = sortedFinite(reference, feature, "reference");
  const b = sortedFinite(current, feature, "current");
  let uppers: number[];
  if (a[0] === a[a.length - 1]) {
    const v = a[0]!;
    uppers = [-Infinity, v, Infinity]; // bin 0 takes x < v: see binIndex
  } else {
    const cuts = new Set<number>();
    for (let i = 1; i < bins; i++) cuts.add(quantile(a, i / bins));
    uppers = [...cuts, Infinity];
  }
  const constant = uppers[0] === -Infinity;
  const binIndex = (x: number): number => {
    if (constant) return x < uppers[1]! ? 0 : x === uppers[1] ? 1 : 2;
    // first bin whose upper bound is ≥ x (binary search: the bounds are increasing)
    let lo = 0;
    let hi = uppers.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (x <= uppers[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
  const refCounts = new Array<number>(uppers.length).fill(0);
  const curCounts = new Array<number>(uppers.length).fill(0);
  for (const x of a) refCounts[binIndex(x)]!++;
  for (const x of b) curCounts[binIndex(x)]!++;
  const result = uppers.map((upper, i) => ({
    bin: constant ? `${["<", "=", ">"][i]} ${uppers[1]}` : upper,
    reference: refCounts[i]! / a.length,
    current: curCounts[i]! / b.length,
  }));
  return { psi: psiOf(result), bins: result };
}

/** PSI of a categorical feature, one bin per category seen in either sample (an unseen one counts). */
export function categoricalPsi(reference: readonly string[], current: readonly string[], feature = "values"): PsiResult {
  nonEmpty(reference, feature, "reference");
  nonEmpty(current, feature, "current");
  const ref = countCategories(reference);
  const cur = countCategories(current);
  const categories = [...new Set([...ref.keys(), ...cur.keys()])].sort();
  const bins = categories.map((c) => ({ bin: c, reference: (ref.get(c) ?? 0) / reference.length, current: (cur.get(c) ?? 0) / current.length }));
  return { psi: psiOf(bins), bins };
}

// ---------------------------------------------------------------------------------------------------------
// The report

export type FeatureKind = "numeric" | "categorical";

export interface DriftThresholds {
  /** A feature drifted when its PSI is at least this (default 0.2: the usual "significant shift" line). */
  psi?: number;
  /** …or when its test's p-value is below this (default 0.01). */
  pValue?: number;
}

export interface DriftReportOptions<Row extends object = Record<string, unknown>> {
  /** The features to compare and how: `{ temp_max: "numeric", location: "categorical" }`. */
  features: { readonly [K in keyof Row & string]?: FeatureKind };
  thresholds?: DriftThresholds;
  /** Bins of numeric PSI (default 10). */
  bins?: number;
  /** Fewer values than this in either sample is an error, not a statistic (default 30). */
  minSamples?: number;
}

interface FeatureDriftBase {
  psi: number;
  /** Whether this feature crossed a threshold, and which. */
  drifted: boolean;
  reasons: string[];
}

export interface NumericDrift extends FeatureDriftBase {
  kind: "numeric";
  ks: KsResult;
  referenceMean: number;
  currentMean: number;
}

export interface CategoricalDrift extends FeatureDriftBase {
  kind: "categorical";
  chiSquare: ChiSquareResult;
  /** Categories of the current sample the reference never had. */
  unseen: string[];
}

export type FeatureDrift = NumericDrift | CategoricalDrift;

export interface DriftReport {
  /** Whether any feature drifted. */
  drifted: boolean;
  driftedFeatures: string[];
  thresholds: Required<DriftThresholds>;
  referenceRows: number;
  currentRows: number;
  features: Record<string, FeatureDrift>;
}

/**
 * Compare two samples of rows feature by feature. Every value of a listed feature must be present: a
 * finite number for a numeric feature, a string, number or boolean for a categorical one (compared as
 * text). Anything else is an error naming the feature, the sample and the row, as is a sample smaller
 * than `minSamples`: a drift statistic on data that is broken or too small would be a false alarm or a
 * false all-clear.
 */
export function driftReport<Row extends object>(reference: readonly Row[], current: readonly Row[], options: DriftReportOptions<Row>): DriftReport {
  const thresholds = { psi: options.thresholds?.psi ?? 0.2, pValue: options.thresholds?.pValue ?? 0.01 };
  const minSamples = options.minSamples ?? 30;
  const kinds = options.features as Readonly<Record<string, FeatureKind | undefined>>;
  const names = Object.keys(kinds);
  if (names.length === 0) throw new SluiceError("INVALID_INPUT", "drift: no features to compare (options.features is empty)", { details: { field: "features" } });
  const features: Record<string, FeatureDrift> = {};
  for (const name of names) {
    const kind = kinds[name];
    for (const [sample, rows] of [
      ["reference", reference],
      ["current", current],
    ] as const) {
      if (rows.length < minSamples) throw invalid(name, `the ${sample} sample has ${rows.length} rows; drift statistics need at least ${minSamples} (minSamples)`);
    }
    if (kind === "numeric") {
      const ref = column(reference, name, "reference", toNumber);
      const cur = column(current, name, "current", toNumber);
      const ks = ksTest(ref, cur, name);
      const { psi } = numericPsi(ref, cur, { feature: name, ...(options.bins === undefined ? {} : { bins: options.bins }) });
      const reasons = reasonsFor(psi, ks.pValue, "KS", thresholds);
      features[name] = { kind, psi, ks, referenceMean: mean(ref), currentMean: mean(cur), drifted: reasons.length > 0, reasons };
    } else if (kind === "categorical") {
      const ref = column(reference, name, "reference", toCategory);
      const cur = column(current, name, "current", toCategory);
      const chiSquare = chiSquareTest(ref, cur, name);
      const { psi } = categoricalPsi(ref, cur, name);
      const known = new Set(ref);
      const unseen = [...new Set(cur.filter((c) => !known.has(c)))].sort();
      const reasons = reasonsFor(psi, chiSquare.pValue, "chi-square", thresholds);
      if (unseen.length > 0) reasons.push(`unseen categories: ${unseen.join(", ")}`);
      features[name] = { kind, psi, chiSquare, unseen, drifted: reasons.length > 0, reasons };
    } else {
      throw invalid(name, `unknown kind ${JSON.stringify(kind)}; expected "numeric" or "categorical"`);
    }
  }
  const driftedFeatures = names.filter((n) => features[n]!.drifted);
  return { drifted: driftedFeatures.length > 0, driftedFeatures, thresholds, referenceRows: reference.length, currentRows: current.length, features };
}

function reasonsFor(psi: number, pValue: number, test: string, t: Required<DriftThresholds>): string[] {
  const reasons: string[] = [];
  if (psi >= t.psi) reasons.push(`PSI ${psi.toFixed(3)} ≥ ${t.psi}`);
  if (pValue < t.pValue) reasons.push(`${test} p-value ${pValue.toExponential(2)} < ${t.pValue}`);
  return reasons;
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function invalid(feature: string, message: string): SluiceError {
  return new SluiceError("INVALID_INPUT", `drift: feature "${feature}": ${message}`, { details: { feature } });
}

function nonEmpty(values: readonly unknown[], feature: string, sample: string): void {
  if (values.length === 0) throw invalid(feature, `the ${sample} sample is empty`);
}

function sortedFinite(values: readonly number[], feature: string, sample: string): number[] {
  nonEmpty(values, feature, sample);
  values.forEach((v, i) => {
    if (typeof v !== "number" || !Number.isFinite(v)) throw invalid(feature, `${sample} value ${i} is ${String(v)}, not a finite number`);
  });
  return [...values].sort((x, y) => x - y);
}

/** Linear interpolation between the closest ranks (NumPy's default, R's type 7) on sorted values. */
function quantile(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

function countCategories(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

function mean(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0) / values.length;
}

type Convert<T> = (value: unknown) => T | undefined;

const toNumber: Convert<number> = (v) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const toCategory: Convert<string> = (v) => (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)) ? String(v) : undefined);

function column<T>(rows: readonly object[], feature: string, sample: string, convert: Convert<T>): T[] {
  return rows.map((row, i) => {
    const raw = (row as Readonly<Record<string, unknown>>)[feature];
    const value = convert(raw);
    if (value === undefined) {
      const shown = raw === undefined ? "missing" : (JSON.stringify(raw) ?? `a ${typeof raw}`); // functions, symbols: no JSON
      throw invalid(feature, `${sample} row ${i}: ${shown} is not ${convert === toNumber ? "a finite number" : "a category (a string, number or boolean)"}`);
    }
    return value;
  });
}
