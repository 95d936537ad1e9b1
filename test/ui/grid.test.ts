/**
 * The grid and timeline views in the browser, against a real `sluice dev`: runs are ordered oldest to
 * newest by logical date (a backfill created last, for an old date, sits at the left), the DAG page opens
 * on the latest interval (not the newest created run), the arrow keys move between cells and Enter opens
 * the task panel; a retried task shows both its attempts in the timeline with their waits, a time axis and
 * hover details; an expanded group's head is covered by none of its nodes. Screenshots go to test-artifacts/.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ROOT, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "grid-ui-admin-password";
const ARTIFACTS = join(ROOT, "test-artifacts");
const DAY = 86_400_000;

// the first try of "flaky" fails, its retry succeeds; "transform" is a group drawn as a container
const DAG = `
import { dag } from "sluice";
export default dag("views_ui", { schedule: "@daily", startDate: "2026-01-01", catchup: false }, (d) => {
  const extract = d.task("extract", async () => 1);
  const out = d.group("transform", (g) => {
    const clean = g.task("clean", { after: [extract] }, async () => 2);
    return g.task("join", { after: [clean] }, async () => 3);
  });
  d.task("flaky", { after: [out], retries: 1, retryDelay: 0 }, async (_i, ctx) => {
    await new Promise((r) => setTimeout(r, 150));
    if (ctx.attempt < 2) throw new Error("the first try fails");
    return ctx.attempt;
  });
});
`;

// 320 tasks: over the 300 above which the graph opens with its groups collapsed
const BIG = `
import { dag } from "sluice";
export default dag("big_groups_ui", (d) => {
  let prev = [];
  for (let g = 0; g < 4; g++) {
    prev = d.group("part" + g, (b) => {
      const out = [];
      for (let i = 0; i < 80; i++) out.push(b.task("t" + i, { after: prev.length ? [prev[i]] : [] }, async () => i));
      return out;
    });
  }
});
`;

type RunJson = { runId: string; state: string; runType: string; logicalDate: number | null };

describe("the grid and timeline views", { skip, timeout: 300_000 }, () => {
  const ui = browserSuite("sluice-ui-grid-", { "views_ui.ts": DAG, "big_groups_ui.ts": BIG }, ADMIN_PASSWORD);

  test("a large DAG opens with its groups collapsed; expanding groups lays the graph out again each time and shows the group", async () => {
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.goto(`${ui.url}/dags/big_groups_ui`);
      await page.locator('.react-flow__node-group[data-id="part0"]').waitFor();
      assert.equal(await page.locator(".react-flow__node-task").count(), 0, "every group collapsed");
      // the second and third layouts of the page: the worker must still answer after elk has loaded
      await page.getByRole("button", { name: "Expand group part0" }).click();
      await page.locator('.react-flow__node-container[data-id="part0"]').waitFor();
      // the expanded group is brought into view: its head is inside the graph's box
      const graph = (await page.getByTestId("graph").boundingBox())!;
      const head = (await page.locator('.react-flow__node-container[data-id="part0"] .container-head').boundingBox())!;
      assert.ok(head.y >= graph.y && head.y + head.height <= graph.y + graph.height && head.x >= graph.x && head.x < graph.x + graph.width, "part0's head is in view");
      await page.locator(".react-flow__controls").getByRole("button", { name: /fit view/i }).click();
      await page.getByRole("button", { name: "Expand group part1" }).click();
      await page.locator('.react-flow__node-container[data-id="part1"]').waitFor();
      await page.getByRole("button", { name: "Collapse group part0" }).click();
      await page.locator('.react-flow__node-group[data-id="part0"]').waitFor();
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  test("grid: oldest→newest, the latest interval selected, keyboard navigation; timeline: both attempts of a retried task", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      const request = page.context().request;
      const { csrfToken } = (await (await request.get(`${ui.url}/api/v1/auth/me`)).json()) as { csrfToken: string };
      const runsOf = async () => ((await (await request.get(`${ui.url}/api/v1/dags/views_ui/runs?limit=50`)).json()) as { items: RunJson[] }).items;
      // 1. the scheduler's run of the latest interval
      await waitFor(async () => (await runsOf()).length >= 1, 60_000, "the scheduled run");
      const scheduled = (await runsOf()).find((r) => r.runType === "scheduled");
      assert.ok(scheduled && scheduled.logicalDate !== null, "a scheduled run with a logical date");
      // 2. a manual run for an older date, created after it
      const manualRes = await request.post(`${ui.url}/api/v1/dags/views_ui/runs`, { headers: { "X-CSRF-Token": csrfToken }, data: { logicalDate: scheduled.logicalDate - 2 * DAY } });
      assert.equal(manualRes.status(), 201, await manualRes.text());
      const manual = (await manualRes.json()) as RunJson;
      // 3. a backfill of an even older date, created last: the newest created run
      const day = scheduled.logicalDate - 4 * DAY;
      const bf = await request.post(`${ui.url}/api/v1/backfills`, { headers: { "X-CSRF-Token": csrfToken }, data: { dagId: "views_ui", from: day, to: day } });
      assert.equal(bf.status(), 201, await bf.text());
      await waitFor(async () => {
        const runs = await runsOf();
        return runs.length === 3 && runs.every((r) => r.state === "success");
      }, 120_000, "three successful runs");
      const runs = await runsOf();
      const backfill = runs.find((r) => r.runType === "backfill")!;
      assert.equal(runs[0]!.runId, backfill.runId, "the backfill is the newest created run");

      // the grid: oldest logical date on the left, the latest interval selected by default
      await page.goto(`${ui.url}/dags/views_ui?tab=grid`);
      await page.locator('[data-testid="grid"] .cell[data-state="success"]').first().waitFor();
      const heads = await page.locator(".grid-run").evaluateAll((els) =>
        els.map((e) => ({ run: e.getAttribute("data-run"), left: e.getBoundingClientRect().left, selected: e.classList.contains("selected") })).sort((a, b) => a.left - b.left),
      );
      assert.deepEqual(heads.map((h) => h.run), [backfill.runId, manual.runId, scheduled.runId], "oldest → newest by logical date");
      assert.deepEqual(heads.filter((h) => h.selected).map((h) => h.run), [scheduled.runId], "the latest interval is selected, not the newest created run");
      assert.equal(await page.getByLabel("Run", { exact: true }).inputValue(), scheduled.runId);
      // each column head shows its date; cells carry a symbol besides their colour; a legend
      assert.match(await page.locator(`.grid-run[data-run="${scheduled.runId}"] .run-date`).innerText(), /\d\d:\d\d/);
      assert.equal(await page.locator('.cell[data-state="success"]').first().innerText(), "✓");
      await page.getByTestId("state-legend").filter({ hasText: "up for retry" }).waitFor();
      await page.screenshot({ path: join(ARTIFACTS, "grid-order.png") });

      // keyboard: the grid is one tab stop; the active cell starts on the selected run's first task
      const tasks = ["extract", "transform.clean", "transform.join", "flaky"];
      const grid = page.getByTestId("grid");
      await grid.focus();
      const active = async () => {
        const id = await grid.getAttribute("aria-activedescendant");
        const cell = page.locator(`[id="${id}"]`);
        return { run: await cell.getAttribute("data-run"), task: await cell.getAttribute("data-task") };
      };
      assert.deepEqual(await active(), { run: scheduled.runId, task: tasks[0] });
      await page.keyboard.press("ArrowLeft");
      await page.keyboard.press("ArrowDown");
      await page.keyboard.press("ArrowDown");
      assert.deepEqual(await active(), { run: manual.runId, task: tasks[2] });
      await page.keyboard.press("ArrowRight");
      await page.keyboard.press("ArrowRight"); // stops at the newest run
      await page.keyboard.press("ArrowUp");
      assert.deepEqual(await active(), { run: scheduled.runId, task: tasks[1] });
      await page.keyboard.press("Home");
      assert.deepEqual(await active(), { run: backfill.runId, task: tasks[1] });
      await page.keyboard.press("Enter");
      await page.getByTestId("task-panel-title").filter({ hasText: "transform.clean" }).waitFor();
      const url = new URL(page.url());
      assert.equal(url.searchParams.get("run"), backfill.runId);
      assert.equal(url.searchParams.get("task"), "transform.clean");
      await page.screenshot({ path: join(ARTIFACTS, "grid-keyboard.png") });

      // the timeline of the latest interval: flaky's two attempts (failed, then success), each after a wait
      await page.goto(`${ui.url}/dags/views_ui?tab=gantt&run=${encodeURIComponent(scheduled.runId)}`);
      const flaky = page.locator('.gantt-row[data-task="flaky"]');
      await flaky.waitFor();
      assert.equal(await flaky.getAttribute("data-attempts"), "2");
      const attempts = await flaky.getByTestId("gantt-attempt").evaluateAll((els) => els.map((e) => [e.getAttribute("data-try"), e.getAttribute("data-state")]));
      assert.deepEqual(attempts, [["1", "failed"], ["2", "success"]]);
      // waits are drawn: a task waits at least for the claim after its upstream ended
      assert.ok((await page.getByTestId("gantt-queued").count()) > 0, "waits before attempts are drawn");
      assert.ok((await page.getByTestId("gantt-axis").locator(".tick").count()) >= 2, "a time axis with ticks");
      await flaky.getByTestId("gantt-attempt").first().hover();
      const hover = page.getByTestId("gantt-hover");
      await hover.filter({ hasText: "try 1" }).filter({ hasText: "failed" }).filter({ hasText: "the first try fails" }).waitFor();
      await page.screenshot({ path: join(ARTIFACTS, "timeline-retry.png") });

      // the graph: the expanded group's head is below no node
      await page.goto(`${ui.url}/dags/views_ui?run=${encodeURIComponent(scheduled.runId)}`);
      await page.locator('[data-testid="graph"]:not([data-interim]) .react-flow__node[data-id="flaky"]').waitFor();
      await page.waitForTimeout(300);
      const head = (await page.locator('.react-flow__node[data-id="transform"] .container-head').boundingBox())!;
      for (const id of tasks) {
        const b = (await page.locator(`.react-flow__node[data-id="${id}"]`).boundingBox())!;
        const overlap = b.x < head.x + head.width && head.x < b.x + b.width && b.y < head.y + head.height && head.y < b.y + b.height;
        assert.ok(!overlap, `node ${id} ${JSON.stringify(b)} does not cover the group head ${JSON.stringify(head)}`);
      }
      await page.screenshot({ path: join(ARTIFACTS, "graph-group.png") });
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
