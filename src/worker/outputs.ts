import { decodeOutput } from "../artifacts/serialize.js";
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import type { StoredOutput } from "../store/store.js";

/**
 * Decode stored outputs (inline bytes or artifact references) into values; undefined where none. For a
 * mapped task (`mapped`), only expanded map indexes count: one that never expanded (it mapped over an
 * empty list, or was skipped before expanding) has no results, not one undefined result.
 */
export async function decodeOutputs(rows: StoredOutput[], artifacts: ArtifactStore, mapped = false): Promise<unknown[]> {
  const values: unknown[] = [];
  for (const r of mapped ? rows.filter((row) => row.mapIndex >= 0) : rows) {
    if (r.inline) values.push(decodeOutput(r.inline));
    else if (r.ref) values.push(decodeOutput(await artifacts.get(r.ref)));
    else values.push(undefined);
  }
  return values;
}
