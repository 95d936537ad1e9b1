/**
 * A DAG with a mapped task group (`d.mapGroup`) in the browser, against a real `sluice dev`: the graph
 * draws the group as a container of its (mapped) tasks with the reduce after it, and the grid shows a
 * cell for each task of the group once a run has expanded it (the worst of its instances: one failed).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "mapgroups-ui-admin-password";

const DAG = `
import { dag } from "sluice";
export default dag("mapgroup_ui", (d) => {
  const files = d.task("files", async () => ["a", "b", "c"]);
  const out = d.mapGroup("per_file", { over: { file: files } }, (g, { file }) => {
    const parsed = g.task("parse", { inputs: { file } }, async ({ file }) => {
      if (file === "c") throw new Error("cannot parse c");
      return file.length;
    });
    return g.task("score", { inputs: { parsed } }, async ({ parsed }) => parsed * 2);
  });
  d.task("total", { inputs: { out }, triggerRule: "all_done" }, async ({ out }) => (out ?? []).length);
});
`;

describe("a mapped task group in the UI", { skip, timeout: 300_000 }, () => {
  const ui = browserSuite("sluice-ui-mapgroups-", { "mapgroup_ui.ts": DAG }, ADMIN_PASSWORD);

  test("the graph draws the group and its mapped tasks; the grid shows the group's tasks of a run", async () => {
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      const request = page.context().request;
      const { csrfToken } = (await (await request.get(`${ui.url}/api/v1/auth/me`)).json()) as { csrfToken: string };
      await waitFor(async () => (await request.get(`${ui.url}/api/v1/dags/mapgroup_ui/structure`)).ok(), 60_000, "the DAG is loaded");
      const structure = (await (await request.get(`${ui.url}/api/v1/dags/mapgroup_ui/structure`)).json()) as { tasks: { id: string; mapped: boolean; group: string | null }[] };
      assert.deepEqual(
        structure.tasks.map((t) => [t.id, t.mapped, t.group]),
        [
          ["files", false, null],
          ["per_file.parse", true, "per_file"],
          ["per_file.score", true, "per_file"],
          ["total", false, null],
        ],
      );
      const created = await request.post(`${ui.url}/api/v1/dags/mapgroup_ui/runs`, { headers: { "X-CSRF-Token": csrfToken }, data: {} });
      assert.equal(created.status(), 201, await created.text());
      const run = (await created.json()) as { runId: string };
      await waitFor(async () => {
        const r = (await (await request.get(`${ui.url}/api/v1/runs/${run.runId}`)).json()) as { state: string };
        return r.state === "success" || r.state === "failed";
      }, 120_000, "the run ends");

      // an instance's inputs: its own index's output of its upstream task in the group, not the list
      const inputsOf = async (taskId: string, mapIndex: number) => ((await (await request.get(`${ui.url}/api/v1/runs/${run.runId}/tasks/${taskId}/inputs?mapIndex=${mapIndex}`)).json()) as { inputs: Record<string, { preview: string }> }).inputs;
      assert.deepEqual(JSON.parse((await inputsOf("per_file.score", 1)).parsed!.preview), 1);
      assert.deepEqual(JSON.parse((await inputsOf("total", -1)).out!.preview), [2, 2, null], "outside the group: the list, in map-index order");

      await page.goto(`${ui.url}/dags/mapgroup_ui`);
      await page.locator('.react-flow__node-container[data-id="per_file"]').waitFor();
      await waitFor(async () => (await page.locator(".react-flow__node-task").count()) === 4, 30_000, "4 task nodes");
      await page.locator('.react-flow__node[data-id="per_file.parse"]').waitFor();

      await page.goto(`${ui.url}/dags/mapgroup_ui?tab=grid`);
      await page.locator(`[data-testid="grid"] .cell[data-task="per_file.parse"][data-run="${run.runId}"]`).waitFor();
      assert.equal(await page.locator(`.cell[data-task="per_file.parse"][data-run="${run.runId}"]`).getAttribute("data-state"), "failed", "the worst of its instances");
      assert.equal(await page.locator(`.cell[data-task="per_file.score"][data-run="${run.runId}"]`).getAttribute("data-state"), "upstream_failed");
      assert.equal(await page.locator(`.cell[data-task="total"][data-run="${run.runId}"]`).getAttribute("data-state"), "success");
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
