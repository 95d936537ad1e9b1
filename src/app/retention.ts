/**
 * `sluice db clean --older-than`: deleting finished runs is a person's change to the history, so it is
 * audited — one entry per batch, in the batch's transaction (engine/retention.ts deletes in batches of
 * short transactions; an entry for the whole clean could not commit with them). A dry run changes nothing
 * and records nothing. The audit log's own retention is app/audit.ts `cleanAudit`.
 */
import type { ArtifactStore } from "../artifacts/artifactStore.js";
import { cleanFinishedRuns, type CleanResult } from "../engine/retention.js";
import type { Sluice } from "../sluice.js";
import { operation } from "./actor.js";

export const cleanRuns = operation(
  "db.clean",
  "admin",
  async (s: Sluice, _actor, input: { cutoff: number; logsDir: string; artifacts: ArtifactStore; batchSize: number; dryRun: boolean }, audit): Promise<CleanResult> => {
    return cleanFinishedRuns(s.store, { ...input, ...(input.dryRun ? {} : { audit }) });
  },
);
