import assert from "node:assert/strict";
import { test } from "node:test";
import { escapeControls } from "../../src/core/controlChars.js";

test("escapeControls: one line stays one line, and no escape reaches a terminal", () => {
  const cases: [string, string][] = [
    ["plain text, tabs\tkept", "plain text, tabs\tkept"],
    ["ok\r\n2026-01-01T00:00:00Z ERROR forged", "ok\\r\\n2026-01-01T00:00:00Z ERROR forged"],
    ["\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"],
    ["\x1b]0;owned title\x07", "\\x1b]0;owned title\\x07"],
    ["\x1b]52;c;Y2xpcGJvYXJk\x1b\\", "\\x1b]52;c;Y2xpcGJvYXJk\\x1b\\"],
    ["C1 CSI \u009b2J", "C1 CSI \\x9b2J"],
    ["nul\0 del\x7f bs\b", "nul\\0 del\\x7f bs\\b"],
    ["line\u2028separator", "line\\u2028separator"],
    ["unicode é ✓ 日本", "unicode é ✓ 日本"],
  ];
  for (const [input, want] of cases) assert.equal(escapeControls(input), want, JSON.stringify(input));
  // eslint-disable-next-line no-control-regex -- what must not remain
  for (const [input] of cases) assert.doesNotMatch(escapeControls(input), /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/);
});
