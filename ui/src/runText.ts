/** How a run came to be, in words: its type and who or what triggered it (runs record `triggeredBy`). */
import type { Run } from "./api";

export const RUN_TYPES = ["scheduled", "manual", "backfill", "asset", "event"] as const;

export function describeTrigger(r: Pick<Run, "runType" | "triggeredBy" | "backfillId">): string {
  switch (r.runType) {
    case "scheduled":
      return "schedule";
    case "manual":
      return r.triggeredBy ? `manual, by ${r.triggeredBy}` : "manual";
    case "backfill":
      return `backfill${r.backfillId !== null ? ` #${r.backfillId}` : ""}${r.triggeredBy ? `, by ${r.triggeredBy}` : ""}`;
    case "asset":
      return "asset update";
    case "event":
      return r.triggeredBy ? `event, sent by ${r.triggeredBy}` : "event";
    default:
      return r.triggeredBy ? `${r.runType}, by ${r.triggeredBy}` : r.runType;
  }
}

/** How long a run took (or has been running, at `now`). */
export function runDuration(r: Pick<Run, "startedAt" | "endedAt">, now: number): number | null {
  if (r.startedAt === null) return null;
  return (r.endedAt ?? now) - r.startedAt;
}
