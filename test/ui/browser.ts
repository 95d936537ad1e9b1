/**
 * What the browser tests share: Debian's Chromium (skipped with a line when it is missing, an error on
 * CI, where .ci/run installs it) and a real `sluice dev` on a free port with a known admin password.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { cliSpawn, sandbox, waitFor, type Sandbox } from "../helpers.js";

export const CHROMIUM = "/usr/bin/chromium";

const missing = !existsSync(CHROMIUM);
if (missing && process.env["CI"] === "true") throw new Error(`${CHROMIUM} is missing: .ci/run installs the chromium package`);
/** The `skip` option of a browser test: a reason when Chromium is not installed. */
export const browserSkip: string | false = missing ? `${CHROMIUM} not installed (apt-get install chromium); skipping the browser tests` : false;
if (browserSkip) console.log(`# ${browserSkip}`);

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export interface DevServer {
  url: string;
  proc: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s. */
  stop(): Promise<void>;
}

/** What serves the UI: `sluice dev` (default), or e.g. `sluice scheduler` when a test runs its own workers. */
export interface ServeCommand {
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

/** `sluice dev --port 0` (or `args`) in the sandbox, once it prints its URL. */
export async function startDev(sb: Sandbox, adminPassword: string, env: NodeJS.ProcessEnv = {}, args = ["dev", "--port", "0", "--quiet"]): Promise<DevServer> {
  const proc = cliSpawn(sb, args, { SLUICE_ADMIN_PASSWORD: adminPassword, ...env });
  let output = "";
  proc.stdout!.on("data", (b: Buffer) => (output += b.toString()));
  proc.stderr!.on("data", (b: Buffer) => (output += b.toString()));
  await waitFor(() => /https?:\/\/[\w.:[\]-]+/.test(output) || proc.exitCode !== null, 60_000, "sluice dev to print its URL").catch((e: Error) => {
    throw new Error(`${e.message}\n${output}`);
  });
  const m = /(https?:\/\/[\w.:[\]-]+)/.exec(output);
  if (!m) throw new Error(`sluice dev exited before printing its URL:\n${output}`);
  return {
    url: m[1]!,
    proc,
    output: () => output,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

export interface BrowserSuite {
  readonly sb: Sandbox;
  readonly url: string;
  readonly browser: Browser;
  /**
   * A new browser context logged in as `username`, its page (30 s default timeout), the bodies of the API
   * responses it received (to prove what never crossed the wire) and the page errors it raised.
   */
  loggedIn(username: string, password: string): Promise<{ context: BrowserContext; page: Page; apiBodies: string[]; pageErrors: string[] }>;
}

/**
 * For a `describe` of browser tests: a sandbox with `files` (DAG files), `sluice dev` (or `command`) with
 * this admin password, and Chromium — started before its tests and stopped after them.
 */
export function browserSuite(prefix: string, files: Record<string, string>, adminPassword: string, command: ServeCommand = {}): BrowserSuite {
  let sb: Sandbox | undefined;
  let dev: DevServer | undefined;
  let browser: Browser | undefined;
  before(async () => {
    sb = sandbox(prefix);
    for (const [name, text] of Object.entries(files)) sb.write(name, text);
    dev = await startDev(sb, adminPassword, command.env, command.args);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await dev?.stop();
    sb?.cleanup();
  });
  const suite: BrowserSuite = {
    get sb() {
      return sb!;
    },
    get url() {
      return dev!.url;
    },
    get browser() {
      return browser!;
    },
    async loggedIn(username, password) {
      const context = await browser!.newContext({ viewport: { width: 1400, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      const apiBodies: string[] = [];
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(`page error: ${e.message}`));
      page.on("response", (r) => {
        if (r.url().includes("/api/")) void r.text().then((t) => apiBodies.push(t), () => undefined);
      });
      await page.goto(dev!.url);
      await page.getByLabel("Username").fill(username);
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByTestId("current-user").filter({ hasText: username }).waitFor();
      return { context, page, apiBodies, pageErrors };
    },
  };
  return suite;
}
