/** Sending an external event (it creates a run of every DAG subscribed to it), by a person or token. */
import type { EventOutcome } from "../engine/triggers.js";
import type { Sluice } from "../sluice.js";
import { operation, type Actor } from "./actor.js";

/**
 * Record the event and create its runs (engine/triggers). The audit entry is written with the event;
 * the runs record the sender as `triggeredBy`.
 */
export const sendEvent = operation(
  "events.send",
  "operator",
  async (s: Sluice, _actor, input: { name: string; payload: unknown; idempotencyKey?: string | undefined; source: string }, audit): Promise<EventOutcome> => {
    return s.engine.triggers.sendEvent(input.name, input.payload, { idempotencyKey: input.idempotencyKey, source: input.source, audit });
  },
);

/**
 * The actor of a request with the shared events token (SLUICE_EVENT_TOKEN): it belongs to no user, so
 * the log names the token. It may send events and nothing else (events.ts checks it).
 */
export function eventTokenActor(from: { ip: string | null; userAgent: string | null }): Actor {
  return { via: "token", name: "SLUICE_EVENT_TOKEN", role: "operator", ip: from.ip, userAgent: from.userAgent };
}
