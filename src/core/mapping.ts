/**
 * Dynamic task mapping: one task instance per element of the cross product of the lists it maps over
 * (Airflow's `expand` over several arguments). Order is row-major in the declared order of the keys, so
 * the downstream task receives the mapped results in a stable order.
 */

export function mapLength(lengths: readonly number[]): number {
  if (lengths.length === 0) return 0;
  return lengths.reduce((a, b) => a * b, 1);
}

/** The position in each list that map index `index` stands for. */
export function mapCoordinates(lengths: readonly number[], index: number): number[] {
  const coords = new Array<number>(lengths.length);
  let rest = index;
  for (let k = lengths.length - 1; k >= 0; k--) {
    const len = lengths[k]!;
    coords[k] = rest % len;
    rest = Math.floor(rest / len);
  }
  return coords;
}

/** The item of map index `index`: one element of each named list. */
export function mapItem(lists: ReadonlyArray<readonly [string, readonly unknown[]]>, index: number): Record<string, unknown> {
  const coords = mapCoordinates(
    lists.map(([, l]) => l.length),
    index,
  );
  const item: Record<string, unknown> = {};
  lists.forEach(([name, list], k) => {
    item[name] = list[coords[k]!];
  });
  return item;
}
