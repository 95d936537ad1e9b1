/**
 * What the browser tests share: Debian's Chromium (skipped with a line when it is missing, an error on
 * CI, where .ci/run installs it) and a real `sluice dev` on a free port with a known admin password.
 */
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { cliSpawn, waitFor, type Sandbox } from "../helpers.js";

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

/** `sluice dev --port 0` in the sandbox, once it prints its URL. */
export async function startDev(sb: Sandbox, adminPassword: string, env: NodeJS.ProcessEnv = {}): Promise<DevServer> {
  const proc = cliSpawn(sb, ["dev", "--port", "0", "--quiet"], { SLUICE_ADMIN_PASSWORD: adminPassword, ...env });
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
