/**
 * Operations on backfills: plan (dry run), create, cancel. Driving a backfill — starting its runs while it
 * has room — is not the operation: the caller drives what it created (the CLI in its own process, with a
 * progress bar; the server in the background).
 */
import { cancelBackfill as cancelInStore, createBackfill as createInStore, planBackfill as planInStore, requireBackfill, type BackfillPlan, type BackfillRequest } from "../engine/backfill.js";
import { SluiceError } from "../errors.js";
import type { Sluice } from "../sluice.js";
import type { BackfillRecord } from "../store/backfills.js";
import { operation, type DagTarget } from "./actor.js";
import { dagNotFound } from "./dags.js";

/** The DAG a backfill request names: one the actor may not read is not found, as an unknown one. */
const dagOfRequest = async (s: Sluice, req: { dagId: string }): Promise<DagTarget> => ({ dagId: req.dagId, notFound: () => dagNotFound(s, req.dagId) });

/** The message of a backfill that does not exist, for one the actor may not read too. */
export const backfillNotFound = (backfillId: number) =>
  new SluiceError("BACKFILL_NOT_FOUND", `no backfill with id ${backfillId} (list them with: sluice backfill list)`, { details: { backfillId } });

/** What a backfill would do, interval by interval, without doing it. */
export const planBackfill = operation("backfills.plan", "operator", async (s: Sluice, _actor, req: BackfillRequest): Promise<BackfillPlan> => {
  // the server loads no DAG code up front: the registered version's code, through the code loader
  await s.engine.ensureDag(req.dagId);
  return planInStore(s.engine, req);
}, { dag: dagOfRequest });

/**
 * Create a backfill (its row and plan), or find the DAG's running backfill when it is the same request
 * (`resumed`); a different running backfill of the DAG is BACKFILL_CONFLICT.
 */
export const createBackfill = operation(
  "backfills.create",
  "operator",
  async (s: Sluice, _actor, req: BackfillRequest): Promise<{ backfill: BackfillRecord; resumed: boolean }> => {
    await s.engine.ensureDag(req.dagId);
    const { backfill, resumed } = await createInStore(s.engine, req);
    return { backfill, resumed };
  },
  { dag: dagOfRequest },
);

/** Cancel a running backfill: no more of its runs start; running ones finish. */
export const cancelBackfill = operation(
  "backfills.cancel",
  "operator",
  async (s: Sluice, actor, input: { backfillId: number }): Promise<BackfillRecord> => {
    return cancelInStore(s.store, input.backfillId, actor.via === "cli" ? "cancelled by user" : "cancelled through the API");
  },
  { dag: async (s, input) => ({ dagId: (await requireBackfill(s.store, input.backfillId)).dagId, notFound: () => backfillNotFound(input.backfillId) }) },
);
