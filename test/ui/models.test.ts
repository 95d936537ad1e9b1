/**
 * The models page in the browser, against a real `sluice dev` (scheduler, workers, SQLite): a run's gate
 * waits for an approval; the page lists the model and its version with metrics, shows the pending approval
 * with the comparison; an admin approves it with a comment (markup in it stays text); the waiting gate moves
 * the alias, and the page shows the alias and its history row by the admin; the run succeeds.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cliJson, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "models-ui-admin-password";

const DAG = `
import { dag } from "sluice";
export default dag("ml_ui", (d) => {
  const m = d.task("train", async (_i, ctx) => ctx.models.register("spam_ui", { artifact: Buffer.from("w"), flavor: { module: "./spam_model.ts" }, framework: "toy", metrics: { accuracy: 0.91, latency_p95: 42 } }));
  d.promote("gate", { model: "spam_ui", candidate: m, alias: "champion", compare: { accuracy: { notWorseBy: 0.01 }, latency_p95: { max: 120 } }, approval: true });
});
`;
const MODEL = `export function load() { return { predict: (rows: unknown[]) => rows.map(() => 0) }; }\n`;

describe("the models page", { skip, timeout: 240_000 }, () => {
  const ui = browserSuite("sluice-ui-models-", { "ml_ui.ts": DAG, "spam_model.ts": MODEL }, ADMIN_PASSWORD);

  test("shows versions, metrics and a pending approval; approving from the page moves the alias and records who", async () => {
    const t = cliJson<{ runId: string }>(ui.sb, ["trigger", "ml_ui"]);
    assert.equal(t.code, 0, t.stderr);
    await waitFor(() => cliJson<{ items: unknown[] }>(ui.sb, ["models", "approvals"]).json.items.length === 1, 120_000, "the gate's approval");

    const { context: ctx, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.getByRole("link", { name: "Models" }).click();
      await page.locator('[data-testid=model][data-name="spam_ui"]').waitFor();
      await page.getByRole("link", { name: "spam_ui" }).click();
      const version = page.locator('[data-testid=model-version][data-version="1"]');
      await version.waitFor();
      assert.match(await version.innerText(), /v1[\s\S]*0\.91[\s\S]*42[\s\S]*toy[\s\S]*ml_ui/);
      const approval = page.getByTestId("approval");
      await approval.waitFor();
      assert.match(await approval.innerText(), /promote v1 to champion \(now none\)[\s\S]*accuracy[\s\S]*0\.91[\s\S]*no champion: not compared[\s\S]*latency_p95[\s\S]*≤ 120/);
      await page.getByLabel(/comment on approval/).fill('<img src=x onerror="window.__pwned=1"> ship it');
      await page.getByRole("button", { name: "Approve" }).click();
      await page.locator('[data-testid=alias][data-alias="champion"]').filter({ hasText: "champion → v1" }).waitFor({ timeout: 60_000 });
      const move = page.getByTestId("alias-move").first();
      await move.waitFor();
      assert.match(await move.innerText(), /champion[\s\S]*—[\s\S]*v1[\s\S]*gate[\s\S]*admin[\s\S]*<img src=x onerror="window.__pwned=1"> ship it/);
      assert.equal(await page.locator("[data-testid=model-detail] img").count(), 0, "no markup from a comment");
      assert.equal(await page.evaluate("window.__pwned"), undefined);
      assert.equal(await page.getByTestId("approval").count(), 0, "nothing pending any more");
      await waitFor(() => cliJson<{ state: string }>(ui.sb, ["runs", "show", t.json.runId]).json.state === "success", 120_000, "the run to succeed");
      assert.deepEqual(pageErrors, []);
    } finally {
      await ctx.close();
    }
  });
});
