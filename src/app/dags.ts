/**
 * Operations on DAGs: pause and unpause.
 *
 * Which DAGs an operation may name, the same for the CLI and the HTTP API: a DAG is known when a
 * scheduler has registered it (the store has its row) or when this process loaded its code (the CLI's
 * --dags folder, in-code DAGs). Anything else is DAG_NOT_FOUND, with a message that says where Sluice
 * looked. The API's processes (`sluice dev`, `sluice server`) leave the folder to their scheduler and
 * load no DAG code up front, so for them a DAG the scheduler has not registered yet is not found; the
 * CLI also knows the DAGs of its folder. A known DAG without a row has nowhere to keep a pause flag:
 * pausing registers it first, as the scheduler would, so that `sluice dags pause` right after adding a
 * file pauses the DAG before any scheduler creates a run of it.
 */
import { SluiceError } from "../errors.js";
import type { Sluice } from "../sluice.js";
import type { DagRecord } from "../store/dags.js";
import { operation } from "./actor.js";

/** DAG_NOT_FOUND for a DAG no scheduler registered and this process did not load. */
export function dagNotFound(s: Sluice, dagId: string): SluiceError {
  const { dir, dags, errors } = s.bag;
  const known = [...dags.keys()].sort();
  let msg = `no DAG with id "${dagId}": no scheduler has registered it`;
  msg += known.length ? `, and the DAGs in ${dir} are: ${known.join(", ")}` : ` (a scheduler registers the DAGs of its DAGs folder; see the DAG list for those it has)`;
  if (errors.length) msg += `\n${errors.length} DAG file(s) failed to import:\n${errors.map((e) => `  ${e.file}${e.line ? `:${e.line}` : ""}: ${e.message}`).join("\n")}`;
  return new SluiceError("DAG_NOT_FOUND", msg, { details: { dagId } });
}

/** Throws DAG_NOT_FOUND unless the DAG is known (the rule above). */
export async function requireKnownDag(s: Sluice, dagId: string): Promise<void> {
  if (!s.bag.dags.has(dagId) && !(await s.store.dags.get(dagId))) throw dagNotFound(s, dagId);
}

/** The DAG's row; a DAG known only from the code this process loaded is registered first. */
async function dagRow(s: Sluice, dagId: string): Promise<DagRecord> {
  const row = await s.store.dags.get(dagId);
  if (row) return row;
  const loaded = s.bag.dags.get(dagId);
  if (!loaded) throw dagNotFound(s, dagId);
  const now = s.engine.clock.now();
  await s.store.tx(async (tx) => {
    await tx.dags.saveVersion(dagId, loaded.dag.version, loaded.dag.spec, loaded.file);
    await tx.dags.upsert({ dagId, file: loaded.file, version: loaded.dag.version, schedule: loaded.dag.spec.schedule, defaultParams: null, paramsError: null, now });
  });
  return (await s.store.dags.get(dagId))!;
}

/** Stop (paused) or resume creating scheduled and triggered runs of a DAG; runs going on go on. */
export const setDagPaused = operation(
  "dags.setPaused",
  "operator",
  async (s: Sluice, _actor, input: { dagId: string; paused: boolean }): Promise<DagRecord> => {
    const row = await dagRow(s, input.dagId);
    await s.store.dags.setPaused(row.dagId, input.paused, s.engine.clock.now());
    return (await s.store.dags.get(row.dagId))!;
  },
  { dag: async (s, input) => ({ dagId: input.dagId, notFound: () => dagNotFound(s, input.dagId) }) },
);
