/** When a warm process takes another attempt (core/processReuse.ts): a table of what it reported. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { retireReason, type AttemptEnd, type ProcessPoolLimits } from "../../src/core/processReuse.js";

const LIMITS: ProcessPoolLimits = { maxAttempts: 3, maxRssMb: 200, idleMs: 1000 };
const MB = 1024 * 1024;

const cases: [string, AttemptEnd, Partial<ProcessPoolLimits>, string | null][] = [
  ["a clean process under its limits", { attempts: 1, rssBytes: 80 * MB, leftOver: [] }, {}, null],
  ["one attempt before maxAttempts", { attempts: 2, rssBytes: 80 * MB, leftOver: [] }, {}, null],
  ["at maxAttempts", { attempts: 3, rssBytes: 80 * MB, leftOver: [] }, {}, "it ran 3 attempts (maxAttempts 3)"],
  ["exactly at maxRssMb", { attempts: 1, rssBytes: 200 * MB, leftOver: [] }, {}, null],
  ["over maxRssMb", { attempts: 1, rssBytes: 250 * MB, leftOver: [] }, {}, "it uses 250 MB (maxRssMb 200)"],
  ["a timer left running", { attempts: 1, rssBytes: 80 * MB, leftOver: ["Timeout", "Timeout"] }, {}, "its attempt left work running (Timeout)"],
  ["a socket and a child process left", { attempts: 1, rssBytes: 80 * MB, leftOver: ["TCPSocketWrap", "ProcessWrap"] }, {}, "its attempt left work running (TCPSocketWrap, ProcessWrap)"],
  ["idleMs 0: never kept", { attempts: 1, rssBytes: 80 * MB, leftOver: [] }, { idleMs: 0 }, "idle processes are not kept (idleMs 0)"],
  ["maxAttempts 1: one attempt per process", { attempts: 1, rssBytes: 80 * MB, leftOver: [] }, { maxAttempts: 1 }, "it ran 1 attempts (maxAttempts 1)"],
];

for (const [what, end, limits, expected] of cases) {
  test(`retireReason: ${what}`, () => {
    assert.equal(retireReason(end, { ...LIMITS, ...limits }), expected);
  });
}
