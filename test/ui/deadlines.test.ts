/**
 * Deadline misses in the web UI (issue 14 item 3): `sluice dev` runs a DAG whose run must be done within
 * 1 s of being queued and takes longer. The DAG list shows the DAG's missed deadline, and the run on its
 * DAG page shows the "deadline missed" badge; a DAG that met its deadline shows neither.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cliJson, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "deadline-ui-admin-password";

const DAGS = {
  "late.ts": `
import { dag } from "sluice";
export default dag("late_dag", { deadline: { from: "queued", within: "1s" } }, (d) => {
  d.task("slow", async () => { await new Promise((r) => setTimeout(r, 2500)); return 1; });
});
`,
  "on_time.ts": `
import { dag } from "sluice";
export default dag("on_time_dag", { deadline: { from: "queued", within: "1h" } }, (d) => {
  d.task("quick", async () => 1);
});
`,
};

describe("deadline misses in the web UI", { skip, timeout: 180_000 }, () => {
  const ui = browserSuite("sluice-ui-deadlines-", DAGS, ADMIN_PASSWORD);

  test("the DAG list and the run's page show a missed deadline; a DAG that met its deadline shows none", async () => {
    const late = cliJson<{ runId: string }>(ui.sb, ["trigger", "late_dag"]);
    assert.equal(late.code, 0, late.stderr);
    const onTime = cliJson<{ runId: string }>(ui.sb, ["trigger", "on_time_dag"]);
    assert.equal(onTime.code, 0, onTime.stderr);
    // the miss is recorded once the deadline passes, while the task still runs
    await waitFor(() => cliJson<{ deadlineMisses?: unknown[] }>(ui.sb, ["runs", "show", late.json.runId, "--json"]).json.deadlineMisses?.length === 1, 60_000, "the miss to be recorded");

    const { context: ctx, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.goto(`${ui.url}/`);
      const lateRow = page.locator('tr[data-dag="late_dag"]');
      await lateRow.getByTestId("dag-deadline-missed").filter({ hasText: "deadline missed ×1" }).waitFor();
      await page.locator('tr[data-dag="on_time_dag"]').waitFor();
      assert.equal(await page.locator('tr[data-dag="on_time_dag"]').getByTestId("dag-deadline-missed").count(), 0);

      await page.goto(`${ui.url}/dags/late_dag?run=${encodeURIComponent(late.json.runId)}`);
      await page.getByTestId("run-deadline-missed").filter({ hasText: "deadline missed" }).waitFor();
      await page.goto(`${ui.url}/dags/on_time_dag?run=${encodeURIComponent(onTime.json.runId)}`);
      await page.getByTestId("run-state").waitFor();
      assert.equal(await page.getByTestId("run-deadline-missed").count(), 0);
      assert.deepEqual(pageErrors, []);
    } finally {
      await ctx.close();
    }
  });
});
