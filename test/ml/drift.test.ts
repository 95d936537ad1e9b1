/**
 * Drift statistics against values computed independently: SciPy 1.10 (scipy.special.kolmogorov,
 * scipy.stats.chi2.sf, chi2_contingency(correction=False), ks_2samp) and NumPy for PSI (np.quantile cut
 * points, np.searchsorted(side="left") bins, shares of 0 smoothed to 1e-4), printed once and pasted here.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { categoricalPsi, chiSquareSurvival, chiSquareTest, driftReport, isSluiceError, kolmogorovSurvival, ksTest, numericPsi, PSI_EPSILON } from "../../src/index.js";

/** |a − b| ≤ tol · max(1, |b|) */
function close(actual: number, expected: number, tol = 1e-9, what = "") {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${what} ${actual} ≠ ${expected} (±${tol})`);
}

// the samples the reference values were computed on (same expressions in Python)
const A = Array.from({ length: 60 }, (_, i) => ((i * 37) % 101) / 10);
const B = Array.from({ length: 45 }, (_, i) => ((i * 53) % 97) / 8 + 1.5);
const TIES_A = Array.from({ length: 5 }, () => [1, 2, 2, 3, 3, 3, 4, 4, 4, 4]).flat();
const TIES_B = Array.from({ length: 4 }, () => [2, 3, 3, 4, 4, 4, 5, 5, 5, 5]).flat();
const repeat = (value: string, n: number) => Array.from({ length: n }, () => value);

describe("special functions", () => {
  test("the Kolmogorov survival function matches scipy.special.kolmogorov on both sides of its switch", () => {
    const scipy: [number, number][] = [
      [0.1, 1.0],
      [0.3, 0.9999906941986655],
      [0.5, 0.9639452436648751],
      [0.8, 0.5441424115741981],
      [1.0, 0.26999967167735456],
      [1.17, 0.12939004218561884],
      [1.19, 0.11774229287977166],
      [1.36, 0.049485876755377876],
      [1.63, 0.009846364888486529],
      [2.0, 0.0006709252557796953],
      [3.0, 3.045995948942526e-8],
    ];
    for (const [x, q] of scipy) close(kolmogorovSurvival(x), q, 1e-12, `Q_KS(${x})`);
    assert.equal(kolmogorovSurvival(0), 1);
  });

  test("the chi-square survival function matches scipy.stats.chi2.sf (critical values give their level)", () => {
    const scipy: [number, number, number][] = [
      [3.841458820694124, 1, 0.05],
      [0.5, 1, 0.47950012218695337],
      [6.634896601021214, 1, 0.01],
      [5.991464547107979, 2, 0.05],
      [1.0, 3, 0.8012519569012009],
      [9.487729036781154, 4, 0.05],
      [30.0, 4, 4.894437128029217e-6],
      [18.307038053275146, 10, 0.05],
      [2.0, 10, 0.9963401531726563],
      [120.0, 50, 1.0958807112599678e-7],
      [0.001, 7, 0.9999999999997597],
    ];
    for (const [x, k, p] of scipy) close(chiSquareSurvival(x, k), p, 1e-10, `chi2.sf(${x}, ${k})`);
    // two degrees of freedom have a closed form: e^(−x/2)
    for (const x of [0.2, 1, 4, 13.8]) close(chiSquareSurvival(x, 2), Math.exp(-x / 2), 1e-12, `chi2.sf(${x}, 2)`);
  });
});

describe("Kolmogorov–Smirnov", () => {
  test("D is exact and the p-value is Stephens' asymptotic one (close to SciPy's exact and asymptotic)", () => {
    const r = ksTest(A, B);
    close(r.statistic, 0.2722222222222222, 1e-12, "D");
    close(r.pValue, 0.03565285562452956, 1e-10, "p (kolmogorov((√n + 0.12 + 0.11/√n)·D))");
    // SciPy's own answers by other methods, for scale: exact 0.0372, asymp (kstwo) 0.0342
    assert.ok(Math.abs(r.pValue - 0.03721242907069057) < 0.005 && Math.abs(r.pValue - 0.03415004727910431) < 0.005);
    assert.deepEqual(ksTest(A, A), { statistic: 0, pValue: 1 });
  });

  test("tied values step together (ks_2samp on samples with repeats)", () => {
    const r = ksTest(TIES_A, TIES_B);
    close(r.statistic, 0.4, 1e-12, "D");
    assert.ok(r.pValue < 0.005, `p ${r.pValue} (SciPy asymp: 0.00109)`);
    // order of the inputs does not matter for a two-sided test
    assert.deepEqual(ksTest(TIES_B, TIES_A), r);
  });

  test("an empty sample or a value that is not a finite number is an error naming the feature", () => {
    assert.throws(() => ksTest([], A, "temp"), /drift: feature "temp": the reference sample is empty/);
    assert.throws(() => ksTest(A, [1, Number.NaN], "temp"), /drift: feature "temp": current value 1 is NaN, not a finite number/);
  });
});

describe("chi-square", () => {
  test("matches chi2_contingency(correction=False) on 2 × k tables", () => {
    const ref = [...repeat("a", 30), ...repeat("b", 50), ...repeat("c", 20)];
    const r = chiSquareTest(ref, [...repeat("a", 25), ...repeat("b", 40), ...repeat("c", 35)]);
    close(r.statistic, 5.656565656565656, 1e-12, "statistic");
    assert.equal(r.degreesOfFreedom, 2);
    close(r.pValue, 0.05911427592751336, 1e-10, "p");

    // a category the reference never had adds a column (a zero count is fine: its expected count is not 0)
    const unseen = chiSquareTest(ref, [...repeat("a", 25), ...repeat("b", 40), ...repeat("c", 30), ...repeat("d", 5)]);
    close(unseen.statistic, 8.565656565656566, 1e-12, "statistic");
    assert.equal(unseen.degreesOfFreedom, 3);
    close(unseen.pValue, 0.03565944848599733, 1e-10, "p");

    // two categories: no Yates correction
    const two = chiSquareTest([...repeat("x", 60), ...repeat("y", 40)], [...repeat("x", 45), ...repeat("y", 55)]);
    close(two.statistic, 4.511278195488721, 1e-12, "statistic");
    close(two.pValue, 0.033672068856345896, 1e-10, "p");
  });

  test("one category in both samples (a constant feature): nothing differs", () => {
    assert.deepEqual(chiSquareTest(repeat("sun", 40), repeat("sun", 10)), { statistic: 0, degreesOfFreedom: 0, pValue: 1 });
  });
});

describe("population stability index", () => {
  test("numeric PSI matches NumPy's decile bins with empty shares smoothed", () => {
    const r = numericPsi(A, B);
    close(r.psi, 1.0613498816693827, 1e-12, "PSI");
    assert.deepEqual(
      r.bins.map((b) => b.reference),
      Array.from({ length: 10 }, () => 0.1),
    );
    assert.equal(r.bins[0]!.current, 0, "the first bin is empty in the current sample: smoothed, not infinite");
    close(r.bins[9]!.current, 0.35555555555555557, 1e-12, "last bin");
    assert.equal(r.bins[9]!.bin, Infinity);
    assert.equal(numericPsi(A, A).psi, 0);
  });

  test("repeated values merge equal cut points (7 bins here, as NumPy's unique quantiles)", () => {
    const r = numericPsi(TIES_A, TIES_B);
    close(r.psi, 4.145504639559105, 1e-12, "PSI");
    assert.deepEqual(
      r.bins.map((b) => b.reference),
      [0.1, 0.2, 0, 0.3, 0, 0.4, 0],
    );
  });

  test("a constant reference gets below / at / above bins, so a move either way shows", () => {
    const same = numericPsi(repeat("", 50).map(() => 7), repeat("", 50).map(() => 7), { feature: "c" });
    assert.equal(same.psi, 0);
    assert.deepEqual(
      same.bins.map((b) => b.bin),
      ["< 7", "= 7", "> 7"],
    );
    const lower = numericPsi(repeat("", 50).map(() => 7), [...repeat("", 25).map(() => 7), ...repeat("", 25).map(() => 6)]);
    // (0.5 − 1e-4)·ln(0.5/1e-4) + (0.5 − 1)·ln(0.5/1)
    close(lower.psi, (0.5 - PSI_EPSILON) * Math.log(0.5 / PSI_EPSILON) + (0.5 - 1) * Math.log(0.5), 1e-12, "PSI");
  });

  test("categorical PSI counts an unseen category against the smoothed reference share", () => {
    const r = categoricalPsi([...repeat("a", 30), ...repeat("b", 50), ...repeat("c", 20)], [...repeat("a", 25), ...repeat("b", 40), ...repeat("c", 30), ...repeat("d", 5)]);
    close(r.psi, 0.3820858878932024, 1e-12, "PSI");
    assert.deepEqual(
      r.bins.map((b) => b.bin),
      ["a", "b", "c", "d"],
    );
  });

  test("bins below 2 are refused", () => {
    assert.throws(() => numericPsi(A, B, { bins: 1, feature: "wind" }), /feature "wind": bins must be an integer of at least 2/);
  });
});

describe("driftReport", () => {
  const rows = (xs: number[], cat: (i: number) => string) => xs.map((x, i) => ({ x, city: cat(i), ignored: "anything" }));
  const features = { x: "numeric", city: "categorical" } as const;

  test("per-feature results, and drift only where a threshold is crossed", () => {
    const reference = rows(A, (i) => (i % 3 === 0 ? "NYC" : "SEA"));
    const report = driftReport(reference, rows(B, (i) => (i % 3 === 0 ? "NYC" : "SEA")), { features });
    assert.equal(report.drifted, true);
    assert.deepEqual(report.driftedFeatures, ["x"]);
    assert.deepEqual(report.thresholds, { psi: 0.2, pValue: 0.01 });
    assert.equal(report.referenceRows, 60);
    assert.equal(report.currentRows, 45);
    const x = report.features["x"]!;
    assert.equal(x.kind, "numeric");
    if (x.kind !== "numeric") return;
    close(x.psi, 1.0613498816693827, 1e-12, "PSI");
    close(x.ks.statistic, 0.2722222222222222, 1e-12, "D");
    assert.deepEqual(x.reasons, ["PSI 1.061 ≥ 0.2"], "p 0.036 is above the default 0.01");
    const city = report.features["city"]!;
    assert.equal(city.kind, "categorical");
    if (city.kind !== "categorical") return;
    assert.equal(city.drifted, false);
    assert.deepEqual(city.unseen, []);
    assert.ok(city.chiSquare.pValue > 0.5, `p ${city.chiSquare.pValue}`);

    // stricter thresholds: the KS p-value counts too
    const strict = driftReport(reference, rows(B, () => "SEA"), { features, thresholds: { psi: 5, pValue: 0.05 } });
    assert.deepEqual(strict.features["x"]!.reasons, ["KS p-value 3.57e-2 < 0.05"]);
    assert.equal(strict.features["city"]!.drifted, true);
  });

  test("an unseen category is reported and counts as drift", () => {
    const report = driftReport(rows(A, () => "SEA"), rows(A, (i) => (i === 0 ? "LAX" : "SEA")), { features: { city: "categorical" } });
    const city = report.features["city"]!;
    assert.equal(city.kind === "categorical" && city.unseen.join(), "LAX");
    assert.ok(city.reasons.includes("unseen categories: LAX"));
    assert.equal(report.drifted, true);
  });

  test("the same sample twice: no drift", () => {
    const reference = rows(A, (i) => String(i % 4));
    const report = driftReport(reference, reference, { features });
    assert.equal(report.drifted, false);
    assert.equal(report.features["x"]!.psi, 0);
  });

  test("bad input is an error naming the feature, sample and row; nothing is guessed", () => {
    const reference = rows(A, () => "SEA");
    const fails = (current: Record<string, unknown>[], opts: Partial<Parameters<typeof driftReport>[2]>, pattern: RegExp) => {
      assert.throws(
        () => driftReport(reference, current, { features, ...opts }),
        (e: unknown) => isSluiceError(e, "INVALID_INPUT") && pattern.test(e.message),
      );
    };
    fails(reference.slice(0, 12), {}, /drift: feature "x": the current sample has 12 rows; drift statistics need at least 30 \(minSamples\)/);
    fails(reference.map((r, i) => (i === 7 ? { ...r, x: "12.5" } : r)), {}, /feature "x": current row 7: "12\.5" is not a finite number/);
    fails(reference.map((r, i) => (i === 3 ? { x: r.x } : r)), {}, /feature "city": current row 3: missing is not a category/);
    fails(reference.map((r, i) => (i === 3 ? { ...r, city: null } : r)), {}, /feature "city": current row 3: null is not a category/);
    fails(reference, { features: {} }, /no features to compare/);
    fails(reference, { features: { x: "ordinal" as "numeric" } }, /feature "x": unknown kind "ordinal"/);
    // minSamples can be lowered on purpose
    assert.equal(driftReport(reference.slice(0, 12), reference.slice(0, 12), { features, minSamples: 10 }).drifted, false);
  });
});
