/**
 * The dead-letter queue page in the browser, against a real `sluice dev` (scheduler, workers, SQLite):
 * two runs whose task exhausted its retries are listed (their errors, with markup in them, as text); an
 * operator selects both and retries them in bulk; the page reports the outcome, the entries become
 * `retried` and both runs resume and succeed on the next try. A viewer sees the list without the actions.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import { BIN, cliJson, waitFor } from "../helpers.js";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "dlq-ui-admin-password";

// tries 1 and 2 fail (retries: 1 → dead-lettered), the retry's first try succeeds
const DAG = `
import { dag } from "sluice";
export default dag("flaky_ui", (d) => {
  d.task("load", { retries: 1, retryDelay: 0 }, async (_i, ctx) => {
    if (ctx.attempt < 3) throw new Error('<img src=x onerror="window.__pwned=1"> try ' + ctx.attempt);
    return ctx.attempt;
  });
});
`;

// parks its dead letters: item 2 fails, the run succeeds with one parked task
const PARKED = `
import { dag } from "sluice";
export default dag("parked_ui", { deadLetter: "park" }, (d) => {
  d.map("each", { over: { n: [1, 2] } }, async ({ n }) => {
    if (n === 2) throw new Error("item 2 is bad");
    return n;
  });
});
`;

describe("the dead-letter queue page", { skip, timeout: 240_000 }, () => {
  const ui = browserSuite("sluice-ui-dlq-", { "flaky_ui.ts": DAG, "parked_ui.ts": PARKED }, ADMIN_PASSWORD);

  test("lists dead letters as text; a bulk retry resumes both runs to success; a viewer has no actions", async () => {
    const runIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const t = cliJson<{ runId: string }>(ui.sb, ["trigger", "flaky_ui"]);
      assert.equal(t.code, 0, t.stderr);
      runIds.push(t.json.runId);
    }
    await waitFor(() => cliJson<{ deadLetters: unknown[] }>(ui.sb, ["dlq", "list", "--dag", "flaky_ui"]).json.deadLetters.length === 2, 120_000, "two dead letters");
    const created = spawnSync(process.execPath, [BIN, "users", "create", "vera", "--role", "viewer", "--password-stdin"], { cwd: ui.sb.dir, env: ui.sb.env, input: "vera-password\n", encoding: "utf8" });
    assert.equal(created.status, 0, created.stderr);

    const { context: ctx, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.getByRole("link", { name: "Dead letters" }).click();
      const rows = page.getByTestId("dead-letter");
      await rows.nth(1).waitFor();
      assert.equal(await rows.count(), 2);
      assert.match(await rows.first().innerText(), /<img src=x onerror="window.__pwned=1"> try 2/, "the error is shown as text");
      assert.equal(await page.locator("table[data-testid=dead-letters] img").count(), 0, "no markup from a task's error");
      assert.equal(await page.evaluate("window.__pwned"), undefined);

      await page.getByLabel("select all open").check();
      await page.getByText("2 selected").waitFor();
      await page.getByRole("button", { name: "Retry" }).click();
      await page.getByTestId("dlq-outcome").filter({ hasText: "Retried 2 of 2" }).waitFor();
      // the list (open entries) is empty now; the retried ones are under "retried"
      await page.getByText("No open dead letters.").waitFor();
      await page.getByLabel("state").selectOption("retried");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.locator('[data-testid=dead-letter][data-state="retried"]').nth(1).waitFor();

      for (const runId of runIds) {
        await waitFor(() => cliJson<{ state: string }>(ui.sb, ["runs", "show", runId]).json.state === "success", 120_000, `run ${runId} to succeed`);
        const tis = cliJson<{ tasks: { taskId: string; state: string; tryNumber: number }[] }>(ui.sb, ["runs", "show", runId]).json.tasks;
        assert.deepEqual(tis.map((t) => [t.taskId, t.state, t.tryNumber]), [["load", "success", 3]]);
      }
      assert.deepEqual(pageErrors, []);
    } finally {
      await ctx.close();
    }

    const viewer = await ui.loggedIn("vera", "vera-password");
    try {
      await viewer.page.goto(`${ui.url}/dlq`);
      await viewer.page.getByLabel("state").selectOption("all");
      await viewer.page.getByRole("button", { name: "Filter" }).click();
      await viewer.page.getByTestId("dead-letter").nth(1).waitFor();
      assert.equal(await viewer.page.getByRole("button", { name: "Retry" }).count(), 0, "a viewer has no actions");
      assert.equal(await viewer.page.getByRole("checkbox").count(), 0);
    } finally {
      await viewer.context.close();
    }
  });

  test("a run that succeeded with a parked task says so on its DAG page, linking to the queue filtered by the DAG", async () => {
    const t = cliJson<{ runId: string }>(ui.sb, ["trigger", "parked_ui"]);
    assert.equal(t.code, 0, t.stderr);
    await waitFor(() => cliJson<{ state: string }>(ui.sb, ["runs", "show", t.json.runId]).json.state === "success", 120_000, "the parked run to succeed");
    const { context: ctx, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.goto(`${ui.url}/dags/parked_ui?run=${encodeURIComponent(t.json.runId)}`);
      const flag = page.getByTestId("run-parked");
      await flag.filter({ hasText: "1 parked task" }).waitFor();
      await flag.click();
      const rows = page.getByTestId("dead-letter");
      await rows.first().waitFor();
      assert.equal(await rows.count(), 1, "filtered by the DAG");
      assert.match(await rows.first().innerText(), /each\[1\][\s\S]*parked: the run did not fail/);
      assert.deepEqual(pageErrors, []);
    } finally {
      await ctx.close();
    }
  });
});
