/** The doc renderer's link filter (ui/src/links.ts): the browser's view of a URL, not the text's. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { safeHref } from "../../ui/src/links.js";

test("safeHref allows http, https, mailto and relative targets, and nothing that parses as another scheme", () => {
  const allowed = ["https://example.com/x?y=1", "http://a.b", "HTTPS://EXAMPLE.COM", "mailto:ops@example.com", "/dags/etl", "#section", "docs/readme.md", "?tab=grid", "  https://padded.example  "];
  for (const u of allowed) assert.notEqual(safeHref(u), null, JSON.stringify(u));
  const refused = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "\x01javascript:alert(1)",
    "\x00javascript:alert(1)",
    " \x1fjavascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "javas\rcript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "https://ok.example/\x7f",
    "",
  ];
  for (const u of refused) assert.equal(safeHref(u), null, JSON.stringify(u));
});
