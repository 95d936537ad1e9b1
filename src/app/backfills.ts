/**
 * Operations on backfills: plan (dry run), create, cancel. Driving a backfill — starting its runs while it
 * has room — is not the operation: the caller drives what it created (the CLI in its own process, with a
 * progress bar; the server in the background).
 */
import { cancelBackfill as cancelInStore, createBackfill as createInStore, planBackfill as planInStore, type BackfillPlan, type BackfillRequest } from "../engine/backfill.js";
import type { Sluice } from "../sluice.js";
import type { BackfillRecord } from "../store/backfills.js";
import { operation } from "./actor.js";

/** What a backfill would do, interval by interval, without doing it. */
export const planBackfill = operation("backfills.plan", "operator", async (s: Sluice, _actor, req: BackfillRequest): Promise<BackfillPlan> => {
  // the server loads no DAG code up front: the registered version's code, through the code loader
  await s.engine.ensureDag(req.dagId);
  return planInStore(s.engine, req);
});

/**
 * Create a backfill (its row and plan), or find the DAG's running backfill when it is the same request
 * (`resumed`); a different running backfill of the DAG is BACKFILL_CONFLICT.
 */
export const createBackfill = operation(
  "backfills.create",
  "operator",
  async (s: Sluice, _actor, req: BackfillRequest, audit): Promise<{ backfill: BackfillRecord; resumed: boolean }> => {
    await s.engine.ensureDag(req.dagId);
    const { backfill, resumed } = await createInStore(s.engine, req, audit);
    return { backfill, resumed };
  },
);

/** Cancel a running backfill: no more of its runs start; running ones finish. */
export const cancelBackfill = operation("backfills.cancel", "operator", async (s: Sluice, actor, input: { backfillId: number }, audit): Promise<BackfillRecord> => {
  return cancelInStore(s.store, input.backfillId, actor.via === "cli" ? "cancelled by user" : "cancelled through the API", audit);
});
