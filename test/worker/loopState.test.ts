/**
 * The worker loop's transition tables (src/worker/loopState.ts), every pair of modes: the moves listed
 * here are legal, every other one throws an INTERNAL error naming both modes. The expected moves are
 * written out again on purpose, so that a move added to (or dropped from) a table fails here until this
 * list agrees.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { claims, movePhase, movePump, type Phase, type PumpMode } from "../../src/worker/loopState.js";
import { isSluiceError } from "../../src/errors.js";

const PUMP_MODES: PumpMode[] = ["idle", "pumping", "pumpingWithMore"];
const PHASES: Phase[] = ["new", "running", "failed", "draining", "handingBack", "stopped"];

const LEGAL_PUMP = new Set([
  "idle -> pumping", // pump() with nothing in flight
  "pumping -> pumpingWithMore", // pump() while a transaction is in flight: coalesced
  "pumping -> idle", // the transaction is done
  "pumpingWithMore -> idle", // done; the loop pumps again soon
]);

const LEGAL_PHASE = new Set([
  "new -> running", // start()
  "new -> draining", // stop() of a worker never started
  "running -> failed", // its pump failed
  "running -> draining", // stop()
  "failed -> draining", // stop() after a failure
  "draining -> handingBack", // the grace period is over
  "draining -> stopped", // every running attempt ended in time
  "handingBack -> stopped", // the rest was handed back
]);

function check<M extends string>(modes: M[], legal: Set<string>, move: (from: M, to: M) => M, what: string): void {
  for (const from of modes) {
    for (const to of modes) {
      const name = `${from} -> ${to}`;
      if (legal.has(name)) {
        assert.equal(move(from, to), to, name);
        continue;
      }
      assert.throws(
        () => move(from, to),
        (e: unknown) =>
          isSluiceError(e, "INTERNAL") && e.message.includes(`illegal ${what} move from "${from}" to "${to}"`) && e.details["from"] === from && e.details["to"] === to,
        `${name} should be illegal`,
      );
    }
  }
}

describe("worker loop states", () => {
  test("pump: exactly the listed moves are legal; every other pair throws INTERNAL naming both modes", () => {
    check(PUMP_MODES, LEGAL_PUMP, movePump, "pump");
    // the bugs the table exists to catch
    assert.throws(() => movePump("idle", "pumpingWithMore"), /"idle" to "pumpingWithMore"/); // more of a pump that is not running
    assert.throws(() => movePump("pumpingWithMore", "pumping"), /"pumpingWithMore" to "pumping"/); // a request lost
    assert.throws(() => movePump("idle", "idle"), /"idle" to "idle"/); // a pump ended twice
  });

  test("phase: exactly the listed moves are legal; every other pair throws INTERNAL naming both phases", () => {
    check(PHASES, LEGAL_PHASE, movePhase, "phase");
    assert.throws(() => movePhase("running", "running"), /"running" to "running"/); // started twice
    assert.throws(() => movePhase("draining", "running"), /"draining" to "running"/); // claims again after stop()
    assert.throws(() => movePhase("running", "stopped"), /"running" to "stopped"/); // stopped without draining
  });

  test("a worker's life: start, fail, stop, hand back, stopped", () => {
    const path: Phase[] = ["new", "running", "failed", "draining", "handingBack", "stopped"];
    for (let i = 1; i < path.length; i++) assert.equal(movePhase(path[i - 1]!, path[i]!), path[i]);
  });

  test("only a running worker claims", () => {
    assert.deepEqual(
      PHASES.filter((p) => claims(p)),
      ["running"],
    );
  });
});
