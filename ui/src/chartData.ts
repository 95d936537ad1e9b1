/**
 * Metric series of many trials as one uPlot data table. uPlot draws series that share one x array (that
 * is what makes it fast), while trials log at their own steps. When all the steps together are few they
 * are used as they are; otherwise the step range is cut into buckets with two x slots each, and every
 * series puts its lowest and highest value of a bucket in them (in step order): 100 trials × 10,000
 * steps become ~2,000 x values, and a spike or a dip stays visible. Missing points are null (drawn
 * across with `spanGaps`).
 */

export interface XY {
  steps: readonly number[];
  values: readonly number[];
}

export type Aligned = [number[], ...(number | null)[][]];

export function alignSeries(series: readonly XY[], maxX = 2000): Aligned {
  const union = new Set<number>();
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series)
    for (const x of s.steps) {
      if (union.size <= maxX) union.add(x);
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
  if (union.size <= maxX) {
    const xs = [...union].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    return [xs, ...series.map((s) => {
      const ys: (number | null)[] = new Array<number | null>(xs.length).fill(null);
      for (let i = 0; i < s.steps.length; i++) ys[at.get(s.steps[i]!)!] = s.values[i]!;
      return ys;
    })];
  }
  const buckets = Math.max(1, Math.floor(maxX / 2));
  const width = (hi - lo) / buckets || 1;
  const xs: number[] = [];
  for (let b = 0; b < buckets; b++) xs.push(lo + b * width, lo + (b + 0.5) * width);
  const bucketOf = (x: number) => Math.min(buckets - 1, Math.floor((x - lo) / width));
  return [xs, ...series.map((s) => {
    const ys: (number | null)[] = new Array<number | null>(xs.length).fill(null);
    // per bucket: the index (in s) of its lowest and highest value
    const low = new Int32Array(buckets).fill(-1);
    const high = new Int32Array(buckets).fill(-1);
    for (let i = 0; i < s.steps.length; i++) {
      const b = bucketOf(s.steps[i]!);
      if (low[b]! < 0 || s.values[i]! < s.values[low[b]!]!) low[b] = i;
      if (high[b]! < 0 || s.values[i]! > s.values[high[b]!]!) high[b] = i;
    }
    for (let b = 0; b < buckets; b++) {
      if (low[b]! < 0) continue;
      const first = Math.min(low[b]!, high[b]!);
      const second = Math.max(low[b]!, high[b]!);
      ys[2 * b] = s.values[first]!;
      ys[2 * b + 1] = s.values[second]!;
    }
    return ys;
  })];
}

/** A colour per series, spread round the hue circle so neighbours differ (index → hsl). */
export function seriesColor(i: number): string {
  return `hsl(${Math.round((i * 137.508) % 360)} 70% 42%)`;
}
