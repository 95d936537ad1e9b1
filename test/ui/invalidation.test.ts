/**
 * In headless Chromium against a real `sluice dev`: after each action on the admin and operator pages, the
 * page shows the new state by itself — every read goes through a named TanStack Query hook
 * (ui/src/queries) and each mutation invalidates the keys it changed. A marker set on `window` proves the
 * document was never reloaded; the users, grants, variables and connections lists do not poll, so a row
 * that appears or goes away there came from the invalidation. The backfill page (start, cancel), the
 * status and audit pages load through their hooks too.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Page } from "playwright-core";
import { browserSkip as skip, browserSuite } from "./browser.js";

const ADMIN_PASSWORD = "invalidation-admin-password";
const DAY = 86_400_000;

// each interval's task takes a while, so that a backfill over many days is still running when cancelled
const DAG = `
import { dag } from "sluice";
export default dag("bf_job", { schedule: "@daily", startDate: "2026-01-01", catchup: false }, (d) => {
  d.task("work", async () => {
    await new Promise((r) => setTimeout(r, 2000));
    return 1;
  });
});
`;

/** Marks the current document; `sameDocument` is false once the page was loaded again. */
const mark = (page: Page) => page.evaluate("window.__sluiceMark = true");
const sameDocument = async (page: Page) => (await page.evaluate("window.__sluiceMark")) === true;

/** `yyyy-mm-ddThh:mm` in the browser's zone, for a datetime-local input. */
const localInput = (ms: number) => {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
};

describe("the UI refreshes what an action changed, without a reload", { skip, timeout: 240_000 }, () => {
  const ui = browserSuite("sluice-ui-inval-", { "bf_job.ts": DAG }, ADMIN_PASSWORD);

  test("users, grants, variables and connections lists follow their create and delete actions", async () => {
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.goto(`${ui.url}/users`);
      await page.getByTestId("users").locator('tr[data-user="admin"]').waitFor();
      await mark(page);

      const form = page.getByRole("form", { name: "Create a user" });
      await form.locator('input[name="new-username"]').fill("vera");
      await form.locator('input[name="new-password"]').fill("vera-password-123");
      await form.getByRole("button", { name: "Create user" }).click();
      const vera = page.locator('tr[data-user="vera"]');
      await vera.waitFor();

      // a grant to vera, then its deletion: the list gains a row, then loses it
      await page.getByRole("link", { name: "Grants" }).click();
      const rows = page.getByTestId("grants").locator("tbody tr");
      await page.getByTestId("grants").waitFor();
      assert.equal(await rows.count(), 0);
      const g = page.getByRole("form", { name: "Add a grant" });
      await g.getByLabel("Username").fill("vera");
      await g.getByLabel("DAGs (selector)").fill("dag:bf_job");
      await g.getByRole("button", { name: "Add grant" }).click();
      await rows.first().waitFor();
      assert.equal(await rows.count(), 1);
      await rows.first().getByRole("button", { name: "Delete" }).click();
      await rows.first().getByRole("button", { name: "Yes, delete" }).click();
      await rows.first().waitFor({ state: "detached" });

      // deleting vera removes her row
      await page.getByRole("link", { name: "Users" }).click();
      await vera.getByRole("button", { name: "Delete" }).click();
      await vera.getByRole("button", { name: "Yes, delete" }).click();
      await vera.waitFor({ state: "detached" });
      assert.ok(await page.locator('tr[data-user="admin"]').isVisible());

      // a variable set, then deleted
      await page.getByRole("link", { name: "Variables" }).click();
      await page.getByRole("button", { name: "Set a variable" }).click();
      const vform = page.getByRole("form", { name: "Set a variable" });
      await vform.locator('input[name="var-key"]').fill("batch_size");
      await vform.locator('textarea[name="var-value"]').fill("64");
      await vform.getByRole("button", { name: "Save" }).click();
      const vrow = page.locator('tr[data-variable="batch_size"]');
      await vrow.filter({ hasText: "64" }).waitFor();
      await vrow.getByRole("button", { name: "Edit" }).click();
      await page.getByRole("form", { name: "Edit variable batch_size" }).locator('textarea[name="var-value"]').fill("128");
      await page.getByRole("form", { name: "Edit variable batch_size" }).getByRole("button", { name: "Save" }).click();
      await vrow.filter({ hasText: "128" }).waitFor();
      await vrow.getByRole("button", { name: "Delete" }).click();
      await vrow.getByRole("button", { name: "Yes, delete" }).click();
      await vrow.waitFor({ state: "detached" });
      await page.getByText("No variables yet.").waitFor();

      // a connection added, then deleted
      await page.getByRole("link", { name: "Connections" }).click();
      await page.getByRole("button", { name: "Add a connection" }).click();
      const cform = page.getByRole("form", { name: "Add a connection" });
      await cform.locator('input[name="conn-id"]').fill("scratch");
      await cform.locator('input[name="conn-type"]').fill("http");
      await cform.getByRole("button", { name: "Add connection" }).click();
      const crow = page.locator('tr[data-connection="scratch"]');
      await crow.waitFor();
      await crow.getByRole("button", { name: "Delete" }).click();
      await crow.getByRole("button", { name: "Yes, delete" }).click();
      await crow.waitFor({ state: "detached" });

      assert.ok(await sameDocument(page), "every change showed without reloading the page");

      // the audit log (its own hook) lists what was just done
      await page.goto(`${ui.url}/audit`);
      const actions = await page.getByTestId("audit-entry").first().waitFor().then(() => page.getByTestId("audit-entry").evaluateAll((els) => els.map((e) => e.getAttribute("data-action"))));
      for (const a of ["users.create", "users.delete", "variables.set", "variables.delete", "connections.add", "connections.delete"]) assert.ok(actions.includes(a), `${a} in the audit log: ${actions.join(", ")}`);

      // the status page (polled) shows its sections
      await page.goto(`${ui.url}/status`);
      await page.getByTestId("status-page").locator("section.status-section").first().waitFor();
      assert.equal(await page.getByTestId("status-page").getByText("Loading…").count(), 0);
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });

  test("a backfill started and cancelled on its page shows its progress and then its end", async () => {
    const { context, page, pageErrors } = await ui.loggedIn("admin", ADMIN_PASSWORD);
    try {
      await page.goto(`${ui.url}/dags/bf_job/backfill`);
      await page.getByTestId("backfills").waitFor();
      await mark(page);
      const to = Date.now() - 2 * DAY;
      await page.locator('input[name="from"]').fill(localInput(to - 20 * DAY));
      await page.locator('input[name="to"]').fill(localInput(to));
      await page.locator('input[name="maxActive"]').fill("1");
      await page.getByRole("button", { name: "Start backfill" }).click();
      const row = page.getByTestId("backfills").locator("tbody tr").first();
      await row.and(page.locator('tr[data-state="running"]')).waitFor();
      // its detail (useGetBackfill) brings the progress the list has not
      await row.filter({ hasText: /running of \d+/ }).waitFor();
      await row.getByRole("button", { name: "Cancel" }).click();
      await row.and(page.locator('tr[data-state="cancelled"]')).waitFor();
      assert.equal(await row.getByRole("button", { name: "Cancel" }).count(), 0, "an ended backfill has no Cancel button");
      assert.ok(await sameDocument(page));
      assert.deepEqual(pageErrors, []);
    } finally {
      await context.close();
    }
  });
});
