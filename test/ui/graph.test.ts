/**
 * The graph view in the browser, against a real `sluice dev` serving the repo's examples: ml_train fits
 * its box at 1440×900 and 1024×768 (every node's box inside the graph's box and the window), edges have
 * arrowheads, nodes show their type and a state symbol, there is a legend, zoom controls and a minimap;
 * selecting the last task opens the panel and that node stays in view. Screenshots go to test-artifacts/.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { Page } from "playwright-core";
import { ROOT, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "graph-ui-admin-password";
const ARTIFACTS = join(ROOT, "test-artifacts");
const EXAMPLES = join(ROOT, "examples");

type Box = { x: number; y: number; width: number; height: number };
const inside = (inner: Box, outer: Box, slack = 1) =>
  inner.x >= outer.x - slack && inner.y >= outer.y - slack && inner.x + inner.width <= outer.x + outer.width + slack && inner.y + inner.height <= outer.y + outer.height + slack;

async function boxes(page: Page, selector: string): Promise<{ name: string; box: Box }[]> {
  const out: { name: string; box: Box }[] = [];
  for (const el of await page.locator(selector).all()) {
    const box = await el.boundingBox();
    assert.ok(box, `${selector} has a box`);
    out.push({ name: (await el.getAttribute("data-id")) ?? "?", box });
  }
  return out;
}

describe("the graph view", { skip, timeout: 300_000 }, () => {
  const ui = browserSuite("sluice-ui-graph-", {}, ADMIN_PASSWORD, { args: ["dev", "--dags", EXAMPLES, "--port", "0", "--quiet"] });

  for (const [w, h] of [
    [1440, 900],
    [1024, 768],
  ] as const) {
    test(`ml_train fits at ${w}×${h}; the selected task stays in view when the panel opens`, async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
      try {
        await page.setViewportSize({ width: w, height: h });
        const structure = (await (await page.context().request.get(`${ui.url}/api/v1/dags/ml_train/structure`)).json()) as { tasks: { id: string }[] };
        const taskCount = structure.tasks.length;
        assert.ok(taskCount >= 10, `ml_train has its ${taskCount} tasks`);
        await page.goto(`${ui.url}/dags/ml_train`);
        // (no waitForFunction: the page's CSP forbids the eval it needs)
        await waitFor(async () => (await page.locator(".react-flow__node-task").count()) === taskCount, 30_000, `${taskCount} task nodes`);
        // elk's layout has replaced the interim one, and the fit is applied on the frame after it
        await page.locator('[data-testid="graph"]:not([data-interim])').waitFor();
        await page.waitForTimeout(300);
        const graph = (await page.getByTestId("graph").boundingBox())!;
        const windowBox = { x: 0, y: 0, width: w, height: h };
        assert.ok(inside(graph, windowBox), `the graph's box ${JSON.stringify(graph)} is inside the ${w}×${h} window`);
        const placed = await boxes(page, ".react-flow__node-task");
        assert.equal(placed.length, taskCount);
        for (const n of placed) assert.ok(inside(n.box, graph), `node ${n.name} ${JSON.stringify(n.box)} is inside the graph ${JSON.stringify(graph)}`);
        // nodes are readable (not a fit that shrinks them to dots): at least half their size
        assert.ok(placed.every((n) => n.box.height >= 20), "nodes are drawn at a readable zoom");

        // arrowheads, type and state symbol on nodes, legend, controls, minimap
        assert.ok((await page.locator(".react-flow__edge path[marker-end]").count()) > 0, "edges end in an arrowhead");
        await page.locator(".react-flow__node-task", { hasText: "train" }).first().locator(".type").filter({ hasText: /process|in-process/ }).waitFor();
        assert.ok((await page.locator(".gnode.task .state-mark").count()) === taskCount);
        await page.getByTestId("state-legend").filter({ hasText: "success" }).filter({ hasText: "failed" }).waitFor();
        await page.locator(".react-flow__controls").getByRole("button", { name: /fit view/i }).waitFor();
        await page.locator(".react-flow__minimap").waitFor();
        await page.screenshot({ path: join(ARTIFACTS, `graph-ml_train-${w}x${h}.png`) });

        // the last task (rightmost): select it, the panel opens, the node is still inside the graph's box
        const rightmost = placed.reduce((a, b) => (b.box.x > a.box.x ? b : a));
        await page.locator(`.react-flow__node[data-id="${rightmost.name}"]`).click();
        await page.getByTestId("task-panel-title").filter({ hasText: rightmost.name }).waitFor();
        await page.waitForTimeout(300);
        const graphAfter = (await page.getByTestId("graph").boundingBox())!;
        assert.ok(graphAfter.width < graph.width, "the panel takes room from the graph");
        const selected = (await page.locator(`.react-flow__node[data-id="${rightmost.name}"]`).boundingBox())!;
        assert.ok(inside(selected, graphAfter), `the selected node ${JSON.stringify(selected)} stays inside the graph ${JSON.stringify(graphAfter)}`);
        const panel = (await page.getByTestId("task-panel").boundingBox())!;
        assert.ok(selected.x + selected.width <= panel.x, "the panel does not cover the selected node");
        await page.screenshot({ path: join(ARTIFACTS, `graph-ml_train-${w}x${h}-panel.png`) });
        assert.deepEqual(pageErrors, []);
      } finally {
        await context.close();
      }
    });
  }

  test("the example's own runs: ml_train's trials compared on the experiment page, weather_classifier v1 champion on the models page", async () => {
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      // `sluice dev` on the examples: ml_monitor's drift request retrains once, which registers and promotes v1
      const runs = async () => ((await (await page.context().request.get(`${ui.url}/api/v1/dags/ml_train/runs`)).json()) as { items: { state: string }[] }).items;
      await waitFor(async () => (await runs()).some((r) => r.state === "success"), 120_000, "a successful ml_train run");
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.goto(`${ui.url}/experiments/ml_train`);
      const rows = page.getByTestId("compare-table").locator("tbody tr");
      // the sweep's trials (4 grid points by default; the scikit-learn trial too where it ran)
      await waitFor(async () => (await rows.count()) >= 4, 30_000, "the example's trials");
      const header = await page.getByTestId("compare-table").locator("thead").innerText();
      for (const col of ["learningRate", "l2", "validation_accuracy"]) assert.ok(header.includes(col), `the comparison shows ${col}: ${header}`);
      await page.getByTestId("metric-chart").locator("canvas").first().waitFor();
      await page.screenshot({ path: join(ARTIFACTS, "experiment-ml_train.png") });

      await page.goto(`${ui.url}/models/weather_classifier`);
      const version = page.locator('[data-testid=model-version][data-version="1"]');
      await version.waitFor();
      // its metrics, framework, the task that registered it and the asset event its run consumed (lineage)
      assert.match(await version.innerText(), /^v1[\s\S]*0\.\d+[\s\S]*typescript-softmax[\s\S]*ml_train \/ register[\s\S]*models\/weather_classifier\/retrain_request/);
      await page.locator('[data-testid=alias][data-alias="champion"]').filter({ hasText: "champion → v1" }).waitFor();
      await page.screenshot({ path: join(ARTIFACTS, "model-weather_classifier.png") });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
