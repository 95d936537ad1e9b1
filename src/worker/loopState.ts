/**
 * The worker's loop (worker.ts) as two small state machines, and the only moves each may make. The loop
 * calls `movePump`/`movePhase` for every change, so a bug that would otherwise show up much later — a
 * second settle running beside the first, a drain that never ends, claims after a stop — throws at the
 * move that went wrong, naming both modes (graphile-worker's LocalQueue asserts its modes the same way).
 *
 * They are two, not one, because they are independent: the pump settles ends in every phase (a draining
 * or failed worker still records what its running attempts return), so one enum would be their product.
 *
 * The pump — at most one settle-and-claim transaction in flight; requests made meanwhile coalesce:
 *
 *     idle ──pump()──▶ pumping ──pump()──▶ pumpingWithMore
 *      ▲                  │                       │
 *      └─────── done ─────┴───────── done ────────┘  (done from pumpingWithMore: pump again, soon)
 *
 * The phase — whether the worker claims new work:
 *
 *     new ──start()──▶ running ──pump failed──▶ failed
 *      │                  │                       │
 *      └──── stop() ──────┴──────── stop() ───────┴──▶ draining ──grace period over──▶ handingBack
 *                                                         │                                │
 *                                                         └──── every end recorded ────────┴──▶ stopped
 */
import { SluiceError } from "../errors.js";

/**
 * - `idle`: no transaction in flight.
 * - `pumping`: one settle-and-claim transaction in flight.
 * - `pumpingWithMore`: one in flight, and something asked for another meanwhile (a wake-up, the poll, a
 *   retry timer, ends that came in): it runs once this one commits, instead of beside it.
 */
export type PumpMode = "idle" | "pumping" | "pumpingWithMore";

/**
 * - `new`: constructed, not started.
 * - `running`: claims as many attempts as it has free slots.
 * - `failed`: its pump failed (store unavailable, ...): claims nothing more, still records ends, waits
 *   for `stop()`.
 * - `draining`: `stop()` was called: claims nothing more, waits for its running attempts.
 * - `handingBack`: the grace period of `stop({ graceMs })` is over: what still runs is handed back.
 * - `stopped`: nothing runs and every end is recorded.
 */
export type Phase = "new" | "running" | "failed" | "draining" | "handingBack" | "stopped";

/** Every legal move; staying in a mode is not a move. */
export const PUMP_MOVES: Readonly<Record<PumpMode, readonly PumpMode[]>> = {
  idle: ["pumping"],
  pumping: ["pumpingWithMore", "idle"],
  pumpingWithMore: ["idle"],
};

/** Every legal move; staying in a phase is not a move. */
export const PHASE_MOVES: Readonly<Record<Phase, readonly Phase[]>> = {
  new: ["running", "draining"],
  running: ["failed", "draining"],
  failed: ["draining"],
  draining: ["handingBack", "stopped"],
  handingBack: ["stopped"],
  stopped: [],
};

/** The pump's next mode, `to`; throws an INTERNAL error if the table has no such move. */
export function movePump(from: PumpMode, to: PumpMode): PumpMode {
  return move("pump", PUMP_MOVES, from, to);
}

/** The worker's next phase, `to`; throws an INTERNAL error if the table has no such move. */
export function movePhase(from: Phase, to: Phase): Phase {
  return move("phase", PHASE_MOVES, from, to);
}

/** Only a running worker claims: a stopping or failed one only records the ends of what it runs. */
export function claims(phase: Phase): boolean {
  return phase === "running";
}

function move<M extends string>(what: string, table: Readonly<Record<M, readonly M[]>>, from: M, to: M): M {
  if (!table[from].includes(to)) {
    throw new SluiceError("INTERNAL", `worker loop: illegal ${what} move from "${from}" to "${to}"`, { details: { from, to } });
  }
  return to;
}
