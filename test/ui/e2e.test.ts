/**
 * End-to-end: the built web UI in headless Chromium (playwright-core, Debian's /usr/bin/chromium) against
 * a real `sluice dev` on a free port, under the server's strict CSP. One browser for the file, a fresh
 * context per user. Screenshots of the main pages go to test-artifacts/ (git-ignored).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { cliSpawn, ROOT, sandbox, waitFor, type Sandbox } from "../helpers.js";

const CHROMIUM = "/usr/bin/chromium";
const T = 30_000;
const ARTIFACTS = join(ROOT, "test-artifacts");
const ADMIN_PASSWORD = "e2e-admin-password";
const VIEWER_PASSWORD = "e2e-viewer-password";
const OPERATOR_PASSWORD = "e2e-operator-password";
const OPERATOR_NEW_PASSWORD = "e2e-operator-new-password";

const missing = !existsSync(CHROMIUM);
if (missing && process.env["CI"] === "true") throw new Error(`${CHROMIUM} is missing: .ci/run installs the chromium package`);
const skip = missing ? `${CHROMIUM} not installed (apt-get install chromium); skipping the browser tests` : false;
if (skip) console.log(`# ${skip}`);

const FLOW_DAG = `
import { dag } from "sluice";
import { z } from "zod";
export default dag("ui_flow", {
  description: "the browser test's DAG",
  owner: "e2e",
  tags: ["e2e"],
  doc: "# UI flow\\nGreets **someone**.",
  params: z.object({ name: z.string().default("world"), count: z.number().int().min(1).default(1) }),
}, (d) => {
  const greet = d.task("greet", async (_i, ctx) => {
    ctx.log.info("hello " + ctx.params.name + " x" + ctx.params.count);
    await new Promise((r) => setTimeout(r, 300));
    return { greeted: ctx.params.name };
  });
  d.task("done", { inputs: { greet } }, async ({ greet }, ctx) => ctx.log.info("done with " + greet.greeted));
});
`;

// user text with markup in every place the UI shows it: none of it may run
const EVIL_DAG = `
import { dag } from "sluice";
export default dag("evil", {
  description: "<img src=x onerror=\\"window.__xss='description'\\">",
  doc: "<script>window.__xss='doc'</script>\\n\\n<img src=x onerror=\\"window.__xss='img'\\">\\n\\n[click](javascript:window.__xss='link')",
  tags: ["<b>tag</b>"],
}, (d) => {
  d.task("t", { description: "<script>alert(1)</script>" }, async (_i, ctx) => ctx.log.info("<script>window.__xss='log'</script>"));
});
`;

describe("web UI end to end", { skip, timeout: 240_000 }, () => {
  let sb: Sandbox;
  let proc: ChildProcess;
  let url = "";
  let browser: Browser;
  let output = "";

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    sb = sandbox("sluice-ui-");
    sb.write("ui_flow.ts", FLOW_DAG);
    sb.write("evil.ts", EVIL_DAG);
    proc = cliSpawn(sb, ["dev", "--port", "0", "--quiet"], { SLUICE_ADMIN_PASSWORD: ADMIN_PASSWORD });
    proc.stdout!.on("data", (b: Buffer) => (output += b.toString()));
    proc.stderr!.on("data", (b: Buffer) => (output += b.toString()));
    await waitFor(() => /https?:\/\/[\w.:[\]-]+/.test(output) || proc.exitCode !== null, 60_000, "sluice dev to print its URL").catch((e: Error) => {
      throw new Error(`${e.message}\n${output}`);
    });
    const m = /(https?:\/\/[\w.:[\]-]+)/.exec(output);
    assert.ok(m, `sluice dev printed no URL:\n${output}`);
    url = m[1]!;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    await createViewer();
  });

  after(async () => {
    await browser?.close();
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    sb?.cleanup();
  });

  /** The viewer is made through the API, as an admin would. */
  async function createViewer(): Promise<void> {
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: "admin", password: ADMIN_PASSWORD }),
    });
    assert.equal(login.status, 200, await login.clone().text());
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
    const r = await fetch(`${url}/api/v1/users`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Cookie: cookie, "X-CSRF-Token": csrfToken },
      body: JSON.stringify({ username: "vera", password: VIEWER_PASSWORD, role: "viewer" }),
    });
    assert.ok(r.status === 201 || r.status === 200, `creating the viewer: ${r.status} ${await r.text()}`);
  }

  /** A fresh context (no cookies) with a CSP violation and page error recorder. */
  async function newPage(): Promise<{ ctx: BrowserContext; page: Page; problems: string[]; dialogs: string[] }> {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(T);
    const problems: string[] = [];
    const dialogs: string[] = [];
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error" && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    return { ctx, page, problems, dialogs };
  }

  async function logIn(page: Page, username: string, password: string): Promise<void> {
    await page.goto(url);
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByTestId("current-user").filter({ hasText: username }).waitFor();
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: false });

  test("log in, trigger with params, watch it succeed, read a log, clear a task, log out", async () => {
    const { ctx, page, problems } = await newPage();
    try {
      await page.goto(url);
      await page.getByRole("button", { name: "Log in" }).waitFor();
      await shot(page, "login");
      // a wrong password is refused with a message
      await page.getByLabel("Username").fill("admin");
      await page.getByLabel("Password").fill("not-the-password");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("alert").filter({ hasText: /wrong|invalid|incorrect/i }).waitFor();

      await logIn(page, "admin", ADMIN_PASSWORD);
      assert.match(await page.getByTestId("current-user").innerText(), /admin\s*admin/);
      await page.locator('tr[data-dag="ui_flow"]').waitFor();
      await shot(page, "dag-list");

      // search narrows the list
      await page.getByLabel("Search DAGs").fill("ui_fl");
      await page.locator('tr[data-dag="evil"]').waitFor({ state: "detached" });
      await page.locator('tr[data-dag="ui_flow"] a.dag-link').click();
      await page.getByTestId("dag-title").filter({ hasText: "ui_flow" }).waitFor();

      await page.getByRole("link", { name: "Trigger" }).click();
      await page.locator("#param-name").fill("sluice-e2e");
      await page.locator("#param-count").fill("0");
      await page.getByRole("button", { name: "Trigger run" }).click();
      // client-side validation from the schema's minimum
      await page.locator(".field-error").filter({ hasText: "≥ 1" }).waitFor();
      await shot(page, "trigger-form");
      await page.locator("#param-count").fill("2");
      await page.getByRole("button", { name: "Trigger run" }).click();
      await page.waitForURL(/\/dags\/ui_flow\?run=/);

      // live: the graph's nodes and the run state turn green without a reload
      await page.locator('[data-testid="run-state"] [data-state="success"]').waitFor();
      await page.locator('.gnode.task[data-state="success"]').nth(1).waitFor();
      await shot(page, "dag-graph");

      await page.locator(".gnode.task", { hasText: "greet" }).click();
      await page.getByTestId("task-panel-title").filter({ hasText: "greet" }).waitFor();
      await page.getByTestId("log-lines").filter({ hasText: "hello sluice-e2e x2" }).waitFor();
      // search in the log
      await page.getByLabel("Search the log").fill("no such text");
      await page.getByTestId("log-lines").filter({ hasText: "hello" }).waitFor({ state: "detached" });
      await page.getByLabel("Search the log").fill("");
      await shot(page, "task-panel");

      // clear it: a second attempt runs and succeeds
      assert.equal(await page.locator(".attempts tbody tr").count(), 1);
      await page.getByRole("button", { name: "Clear", exact: true }).click();
      // the preview (the API's dry run) lists the instance before anything changes
      await page.locator('[data-testid="preview-row"][data-task="greet"]').waitFor();
      assert.equal(await page.locator(".attempts tbody tr").count(), 1);
      await page.getByRole("button", { name: "Confirm clear" }).click();
      await page.locator(".attempts tbody tr").nth(1).waitFor();
      await page.locator('[data-testid="task-panel"] h3 [data-state="success"]').waitFor();
      await page.locator('.attempts tbody tr.selected [data-state="success"]').waitFor();
      await page.getByTestId("task-changed-by").filter({ hasText: "admin" }).waitFor();

      await page.getByRole("tab", { name: "Grid" }).click();
      await page.locator('[data-testid="grid"] .cell[data-state="success"]').first().waitFor();
      await shot(page, "dag-grid");
      await page.getByRole("tab", { name: "Timeline" }).click();
      await page.getByTestId("gantt").waitFor();
      await shot(page, "dag-timeline");
      await page.getByRole("tab", { name: "Code" }).click();
      await page.getByTestId("code").filter({ hasText: 'dag("ui_flow"' }).waitFor();
      await page.getByTestId("run-triggered-by").filter({ hasText: "triggered by admin" }).waitFor();

      // the audit log lists the trigger done here (by admin, through the session), the clear and the failed login
      await page.getByRole("link", { name: "Audit log" }).click();
      const trigger = page.locator('[data-testid="audit-entry"][data-action="runs.trigger"]');
      await trigger.filter({ hasText: "ui_flow" }).filter({ hasText: "admin" }).filter({ hasText: "session" }).waitFor();
      assert.equal(await trigger.count(), 1);
      await page.locator('[data-testid="audit-entry"][data-action="runs.clearTasks"]').filter({ hasText: "ui_flow" }).waitFor();
      await page.locator('[data-testid="audit-entry"][data-action="auth.login"]').filter({ hasText: "failure" }).waitFor();
      assert.ok(!(await page.getByTestId("audit").innerText()).includes("not-the-password"));
      await page.getByLabel("action, e.g. runs.trigger").fill("runs.trigger");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.locator('[data-testid="audit-entry"][data-action="auth.login"]').first().waitFor({ state: "detached" });
      // the filtered page replaces the list (empty while it loads): wait for its row, then count
      await trigger.first().waitFor();
      assert.equal(await page.getByTestId("audit-entry").count(), 1);
      await shot(page, "audit");

      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByRole("button", { name: "Log in" }).waitFor();
      await page.reload();
      await page.getByRole("button", { name: "Log in" }).waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
    }
  });

  test("a viewer sees no action buttons", async () => {
    const { ctx, page, problems } = await newPage();
    try {
      await logIn(page, "vera", VIEWER_PASSWORD);
      assert.match(await page.getByTestId("current-user").innerText(), /vera\s*viewer/);
      const toggle = page.getByRole("switch", { name: "Active: ui_flow" });
      await toggle.waitFor();
      assert.equal(await toggle.isDisabled(), true);
      await page.goto(`${url}/dags/ui_flow?task=greet`);
      await page.getByTestId("task-panel-title").filter({ hasText: "greet" }).waitFor();
      await page.locator(".attempts tbody tr").first().waitFor();
      await shot(page, "viewer-dag");
      assert.equal(await page.getByRole("link", { name: "Trigger" }).count(), 0);
      assert.equal(await page.getByRole("link", { name: "Backfill" }).count(), 0);
      assert.equal(await page.getByTestId("task-actions").count(), 0);
      assert.equal(await page.getByRole("button", { name: /Clear|Mark/ }).count(), 0);
      // no Users link, and the page itself says it is for admins
      await page.getByRole("link", { name: "API tokens" }).waitFor();
      assert.equal(await page.getByRole("link", { name: "Users" }).count(), 0);
      await page.goto(`${url}/users`);
      await page.getByTestId("admins-only").filter({ hasText: /admins only/i }).waitFor();
      assert.equal(await page.getByTestId("users").count(), 0);
      await shot(page, "viewer-users");
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
    }
  });

  test("an admin grants a user with role none the DAGs of a tag on the Grants page; that user sees those DAGs only", async () => {
    const admin = await newPage();
    const gina = await newPage();
    try {
      await logIn(admin.page, "admin", ADMIN_PASSWORD);
      await admin.page.getByRole("link", { name: "Users" }).click();
      const form = admin.page.getByRole("form", { name: "Create a user" });
      await form.locator('input[name="new-username"]').fill("gina");
      await form.locator('input[name="new-password"]').fill("gina-password");
      await form.locator('select[name="new-role"]').selectOption("none");
      await form.getByRole("button", { name: "Create user" }).click();
      await admin.page.locator('tr[data-user="gina"]').waitFor();

      await admin.page.getByRole("link", { name: "Grants" }).click();
      const g = admin.page.getByRole("form", { name: "Add a grant" });
      // a malformed selector: the server's message next to the field, nothing added
      await g.getByLabel("Username").fill("gina");
      await g.getByLabel("DAGs (selector)").fill("e2e");
      await g.getByRole("button", { name: "Add grant" }).click();
      await g.locator("label.field.invalid .field-error").filter({ hasText: "is not a selector" }).waitFor();
      await g.getByLabel("DAGs (selector)").fill("tag:e2e");
      await g.getByRole("button", { name: "Add grant" }).click();
      await admin.page.getByTestId("grant-added").filter({ hasText: "Granted user gina viewer on tag:e2e" }).waitFor();
      // a selector that matches nothing yet: added, with the warning shown
      await g.getByLabel("Username").fill("gina");
      await g.getByLabel("DAGs (selector)").fill("dag:later_*");
      await g.getByRole("button", { name: "Add grant" }).click();
      await admin.page.getByTestId("grant-added").filter({ hasText: "matches no registered DAG" }).waitFor();
      // the list reloads after the message shows: wait for its second row, then check there is no third
      await admin.page.getByTestId("grants").locator("tbody tr").nth(1).waitFor();
      assert.equal(await admin.page.getByTestId("grants").locator("tbody tr").count(), 2);
      await shot(admin.page, "grants");

      await logIn(gina.page, "gina", "gina-password");
      await gina.page.getByRole("link", { name: "ui_flow" }).first().waitFor();
      assert.equal(await gina.page.getByRole("link", { name: "evil" }).count(), 0, "a DAG without a grant is not listed");
      assert.equal(await gina.page.getByRole("link", { name: "Grants" }).count(), 0);
      assert.equal(await gina.page.getByRole("link", { name: "Trigger" }).count(), 0, "a viewer grant shows no actions");
      await gina.page.goto(`${url}/dags/evil`);
      await gina.page.getByText(/DAG "evil" not found/).first().waitFor();
      assert.deepEqual([...admin.problems, ...gina.problems], []);
    } finally {
      await admin.ctx.close();
      await gina.ctx.close();
    }
  });

  test("an admin creates an operator and a token; the operator changes their password and logs in with it", async () => {
    const admin = await newPage();
    const { page } = admin;
    try {
      await logIn(page, "admin", ADMIN_PASSWORD);
      await page.getByRole("link", { name: "Users" }).click();
      const form = page.getByRole("form", { name: "Create a user" });
      const username = form.locator('input[name="new-username"]');
      const password = form.locator('input[name="new-password"]');
      await page.locator('tr[data-user="vera"]').waitFor();
      // the server's errors appear next to their field: a short password (400), a duplicate (409)
      await username.fill("otto");
      await password.fill("short");
      await form.getByRole("button", { name: "Create user" }).click();
      await form.locator("label.field .field-error").filter({ hasText: "at least 8" }).waitFor();
      assert.match(await form.locator("label.field.invalid").innerText(), /^Password/);
      await username.fill("vera");
      await password.fill(OPERATOR_PASSWORD);
      await form.getByRole("button", { name: "Create user" }).click();
      await form.locator("label.field.invalid .field-error").filter({ hasText: "already exists" }).waitFor();
      assert.match(await form.locator("label.field.invalid").innerText(), /^Username/);

      await username.fill("otto");
      await password.fill(OPERATOR_PASSWORD);
      await form.locator('select[name="new-role"]').selectOption("operator");
      await form.getByRole("button", { name: "Create user" }).click();
      const otto = page.locator('tr[data-user="otto"]');
      await otto.waitFor();
      assert.equal(await otto.getByLabel("Role of otto").inputValue(), "operator");

      // a throwaway user: change its role, then delete it through the confirm step
      await username.fill("dora");
      await password.fill("dora-password");
      await form.getByRole("button", { name: "Create user" }).click();
      const dora = page.locator('tr[data-user="dora"]');
      await dora.waitFor();
      await dora.getByLabel("Role of dora").selectOption("operator");
      await dora.getByRole("status").filter({ hasText: "Role changed to operator" }).waitFor();
      await dora.getByRole("button", { name: "Delete" }).click();
      await shot(page, "users");
      await dora.getByRole("button", { name: "Yes, delete" }).click();
      await dora.waitFor({ state: "detached" });

      // a token, shown once
      await page.getByRole("link", { name: "API tokens" }).click();
      const tform = page.getByRole("form", { name: "Create a token" });
      await tform.getByLabel("Token name").fill("ci-script");
      await tform.getByLabel("Token role").selectOption("operator");
      await tform.getByRole("button", { name: "Create token" }).click();
      const shown = page.getByTestId("new-token");
      await shown.filter({ hasText: "you will not see it again" }).waitFor();
      const token = await shown.getByLabel("New token").inputValue();
      assert.ok(token.length >= 20, token);
      await shown.getByRole("button", { name: "Copy" }).click();
      await shown.getByText(/Copied|Selected/).waitFor();
      await page.locator('tr[data-token="ci-script"]').waitFor();
      await shot(page, "tokens");
      const me = await fetch(`${url}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(me.status, 200);
      assert.equal(((await me.json()) as { user: { username: string } }).user.username, "admin");
      await page.reload();
      await page.locator('tr[data-token="ci-script"]').waitFor();
      assert.equal(await page.getByTestId("new-token").count(), 0);
      assert.doesNotMatch(await page.content(), new RegExp(token));

      await page.getByRole("link", { name: "Status" }).click();
      await page.locator('[data-testid="status-page"] [data-section="workers"]').waitFor();
      await shot(page, "status");
      // the payload grows on other branches: unknown fields render generically, missing ones are skipped
      await page.route("**/api/v1/status", (r) =>
        r.fulfill({
          contentType: "application/json",
          body: JSON.stringify({
            schedulers: [{ schedulerId: "s-1", hostname: "<b>h</b>", pid: 7, heartbeatAt: Date.now() - 5000, leader: true, extra: { nested: [1, 2] } }],
            workers: [{ workerId: "w-2", running: 3 }],
            pools: [{ pool: "gpu", slots: 4, running: null }],
            triggerers: [{ id: "t-1", note: "<script>window.__xss='status'</script>" }],
            version: "9.9.9",
          }),
        }),
      );
      await page.reload();
      const status = page.getByTestId("status-page");
      await status.locator('[data-section="triggerers"]').getByText("<script>window.__xss='status'</script>").waitFor();
      await status.locator('[data-section="schedulers"]').getByText('{"nested":[1,2]}').waitFor();
      await status.getByText("9.9.9").waitFor();
      assert.equal(await status.locator('[data-section="queues"]').count(), 0);
      assert.equal(await page.evaluate("window.__xss"), undefined);
      await page.unroute("**/api/v1/status");
      assert.deepEqual(admin.problems, []);
    } finally {
      await admin.ctx.close();
    }

    const op = await newPage();
    try {
      const p = op.page;
      await logIn(p, "otto", OPERATOR_PASSWORD);
      assert.equal(await p.getByRole("link", { name: "Users" }).count(), 0);
      await p.getByRole("link", { name: "Change password" }).click();
      const form = p.getByRole("form", { name: "Change my password" });
      await form.locator('input[name="current-password"]').fill("not-my-password");
      await form.locator('input[name="new-password"]').fill(OPERATOR_NEW_PASSWORD);
      await form.locator('input[name="confirm-password"]').fill(OPERATOR_NEW_PASSWORD);
      await form.getByRole("button", { name: "Change password" }).click();
      await form.locator("label.field.invalid").filter({ hasText: /^Current password/ }).locator(".field-error").waitFor();
      await form.locator('input[name="current-password"]').fill(OPERATOR_PASSWORD);
      await form.getByRole("button", { name: "Change password" }).click();
      // logged out, with a message; the new password gets back in
      await p.getByTestId("login-notice").filter({ hasText: /password was changed/i }).waitFor();
      await shot(p, "password-changed");
      await p.reload();
      await p.getByRole("button", { name: "Log in" }).waitFor();
      await p.getByLabel("Username").fill("otto");
      await p.getByLabel("Password").fill(OPERATOR_PASSWORD);
      await p.getByRole("button", { name: "Log in" }).click();
      await p.getByRole("alert").filter({ hasText: /wrong/i }).waitFor();
      await logIn(p, "otto", OPERATOR_NEW_PASSWORD);
      assert.match(await p.getByTestId("current-user").innerText(), /otto\s*operator/);
      assert.deepEqual(op.problems, []);
    } finally {
      await op.ctx.close();
    }
  });

  test("markup in docs, descriptions, tags and logs is shown as text and never runs", async () => {
    const { ctx, page, problems, dialogs } = await newPage();
    try {
      await logIn(page, "admin", ADMIN_PASSWORD);
      const row = page.locator('tr[data-dag="evil"]');
      await row.waitFor();
      await row.getByText("<img src=x onerror=", { exact: false }).waitFor();
      await row.getByText("<b>tag</b>").waitFor();
      await row.locator("a.dag-link").click();
      await page.getByTestId("dag-docs").locator("summary").click();
      await page.getByTestId("dag-docs").getByText("<script>window.__xss='doc'</script>").waitFor();
      // the javascript: link stays text
      assert.equal(await page.getByTestId("dag-docs").locator("a").count(), 0);
      assert.equal(await page.locator("img").count(), 0);
      await shot(page, "escaped-docs");

      const request = page.context().request;
      const me = await request.get(`${url}/api/v1/auth/me`);
      const { csrfToken } = (await me.json()) as { csrfToken: string };
      const run = await request.post(`${url}/api/v1/dags/evil/runs`, { headers: { "X-CSRF-Token": csrfToken }, data: {} });
      assert.equal(run.status(), 201, await run.text());
      const { runId } = (await run.json()) as { runId: string };
      await page.goto(`${url}/dags/evil?run=${encodeURIComponent(runId)}&task=t`);
      await page.getByTestId("log-lines").getByText("<script>window.__xss='log'</script>").waitFor();

      assert.equal(await page.evaluate("window.__xss"), undefined);
      assert.deepEqual(dialogs, []);
      assert.deepEqual(problems, []);
    } finally {
      await ctx.close();
    }
  });

  test("the server sends the strict CSP and caching headers with the UI", async () => {
    const index = await fetch(`${url}/dags/some/deep/link`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type") ?? "", /text\/html/);
    assert.equal(index.headers.get("cache-control"), "no-cache");
    const csp = index.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'(;|$)/);
    const html = await index.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${url}${asset}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);
    await js.arrayBuffer();
    for (const evil of ["/assets/..%2f..%2fpackage.json", "/..%2f..%2fpackage.json", "/assets/%2e%2e/%2e%2e/package.json"]) {
      const r = await fetch(`${url}${evil}`);
      const body = await r.text();
      assert.doesNotMatch(body, /"name": "sluice"/, evil);
    }
    const api404 = await fetch(`${url}/api/v1/no-such-endpoint`);
    assert.notEqual(api404.headers.get("content-type")?.includes("text/html"), true);
    await api404.arrayBuffer();
  });
});
