/**
 * A small, dependency-free multinomial logistic regression (softmax) trained by full-batch gradient
 * descent, plus the data helpers the ML example needs. Plain functions on plain arrays, so every value
 * can cross task boundaries as JSON.
 *
 * Why not an npm library: on this example's 1,750 training rows ml-random-forest (ml-cart's exhaustive
 * split search) took 23 s for 20 trees of depth 4 and 100 s for 50 trees of depth 8, each, and
 * ml-logistic-regression (one-vs-rest, no regularisation) reached 0.77 test accuracy where this model reaches
 * 0.89 in about a second, with a loss per epoch to plot (docs/decisions/0034-ml-example-and-drift.md).
 *
 * (This helper must not mention the orchestrator's name: the DAG loader imports every file that does.)
 */

export interface Split {
  /** Feature rows. */
  x: number[][];
  /** Class index of each row. */
  y: number[];
}

/** A trained model: everything needed to predict on raw (unscaled) measurements. */
export interface SoftmaxModel {
  classes: string[];
  /** Names of the inputs, in order (for people reading the artifact). */
  featureNames: string[];
  /** Per-feature mean and standard deviation of the training split, for standardising inputs. */
  mean: number[];
  std: number[];
  /** One row per class: [bias, w1, ..., wF]. */
  weights: number[][];
}

export interface TrainOptions {
  learningRate: number;
  /** L2 regularisation strength (the bias is not regularised). */
  l2: number;
  epochs: number;
  /** Called after each epoch with its training loss: a learning curve. */
  onEpoch?: (epoch: number, loss: number, weights: number[][]) => void;
}

/** mulberry32: a tiny seeded PRNG, so a shuffle (and so every result) is the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * The 60/20/20 train/validation/test split after a seeded shuffle. One function for the training DAG and
 * the monitor: the monitor's reference is exactly the training split the model learned from.
 */
export function splitRows<T>(rows: readonly T[], seed: number): [T[], T[], T[]] {
  const shuffledRows = shuffled(rows, seed);
  const nTrain = Math.round(rows.length * 0.6);
  const nValidation = Math.round(rows.length * 0.2);
  return [shuffledRows.slice(0, nTrain), shuffledRows.slice(nTrain, nTrain + nValidation), shuffledRows.slice(nTrain + nValidation)];
}

/** Mean and (population) standard deviation of each column. */
export function columnStats(x: number[][]): { mean: number[]; std: number[] } {
  const f = x[0]?.length ?? 0;
  const mean = Array.from({ length: f }, (_, j) => x.reduce((s, row) => s + row[j]!, 0) / x.length);
  const std = mean.map((m, j) => Math.sqrt(x.reduce((s, row) => s + (row[j]! - m) ** 2, 0) / x.length) || 1);
  return { mean, std };
}

export function standardise(x: number[][], mean: number[], std: number[]): number[][] {
  return x.map((row) => row.map((v, j) => (v - mean[j]!) / std[j]!));
}

function softmax(z: number[]): number[] {
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max)); // shifted by the max so exp cannot overflow
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

function scores(weights: number[][], row: number[]): number[] {
  return weights.map((w) => row.reduce((s, v, j) => s + v * w[j + 1]!, w[0]!));
}

/**
 * Fit weights on already standardised features. Returns the weights and the final training loss
 * (mean cross-entropy plus the L2 penalty).
 */
export function trainSoftmax(data: Split, nClasses: number, o: TrainOptions): { weights: number[][]; loss: number } {
  const n = data.x.length;
  const f = data.x[0]?.length ?? 0;
  const weights = Array.from({ length: nClasses }, () => new Array<number>(f + 1).fill(0));
  let loss = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const grad = weights.map((w) => w.map(() => 0));
    loss = 0;
    for (let i = 0; i < n; i++) {
      const row = data.x[i]!;
      const p = softmax(scores(weights, row));
      loss -= Math.log(Math.max(p[data.y[i]!]!, 1e-12));
      for (let k = 0; k < nClasses; k++) {
        const err = p[k]! - (k === data.y[i] ? 1 : 0);
        const g = grad[k]!;
        g[0]! += err;
        for (let j = 0; j < f; j++) g[j + 1]! += err * row[j]!;
      }
    }
    loss /= n;
    for (let k = 0; k < nClasses; k++) {
      const w = weights[k]!;
      for (let j = 0; j <= f; j++) {
        const penalty = j === 0 ? 0 : o.l2 * w[j]!;
        if (j > 0) loss += (o.l2 / 2) * w[j]! ** 2;
        w[j]! -= o.learningRate * (grad[k]![j]! / n + penalty);
      }
    }
    o.onEpoch?.(epoch, loss, weights);
  }
  return { weights, loss };
}

/** Class index with the highest score for each (standardised) row. */
export function predict(weights: number[][], x: number[][]): number[] {
  return x.map((row) => {
    const s = scores(weights, row);
    return s.indexOf(Math.max(...s));
  });
}

export function accuracy(weights: number[][], data: Split): number {
  if (data.y.length === 0) return 0;
  const predicted = predict(weights, data.x);
  return predicted.filter((p, i) => p === data.y[i]).length / data.y.length;
}

/** Mean cross-entropy on a split (lower is better): breaks ties between models of equal accuracy. */
export function logLoss(weights: number[][], data: Split): number {
  if (data.y.length === 0) return 0;
  const total = data.x.reduce((s, row, i) => s - Math.log(Math.max(softmax(scores(weights, row))[data.y[i]!]!, 1e-12)), 0);
  return total / data.y.length;
}
