import assert from "node:assert/strict";
import { after, test } from "node:test";
import { cliJson, sandbox } from "./helpers.js";

const sb = sandbox();
after(() => sb.cleanup());

test("a DAG with data dependencies runs to success through the CLI", () => {
  sb.write(
    "etl.ts",
    `import { dag } from "sluice";
export default dag("etl", (d) => {
  const rows = d.task("extract", async () => [1, 2, 3]);
  const total = d.task("transform", { inputs: { rows } }, async ({ rows }) => rows.reduce((a, b) => a + b, 0));
  d.task("load", { inputs: { total } }, async ({ total }) => { if (total !== 6) throw new Error("bad total " + total); return total; });
});
`,
  );
  const r = cliJson(sb, ["run", "etl"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json.state, "success");
  assert.deepEqual(
    r.json.tasks.map((t: { taskId: string; state: string }) => [t.taskId, t.state]),
    [
      ["extract", "success"],
      ["transform", "success"],
      ["load", "success"],
    ],
  );
});
