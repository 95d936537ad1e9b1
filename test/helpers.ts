/** Shared test helpers: temporary Sluice homes, DAG folders and running the real `sluice` binary. */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kysely } from "kysely";
import type { Database } from "../src/store/schema.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const BIN = join(ROOT, "bin", "sluice.js");

export interface Sandbox {
  dir: string;
  dags: string;
  home: string;
  /** Write a file under the DAGs folder. */
  write(rel: string, text: string): string;
  env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/**
 * A temporary project: `dags/` for DAG files, `.sluice/` as home, and node_modules linking this package
 * (as "sluice") and zod, so DAG files import them like a user's project would.
 */
export function sandbox(prefix = "sluice-test-"): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dags = join(dir, "dags");
  const home = join(dir, ".sluice");
  mkdirSync(dags, { recursive: true });
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  symlinkSync(ROOT, join(dir, "node_modules", "sluice"), "dir");
  symlinkSync(join(ROOT, "node_modules", "zod"), join(dir, "node_modules", "zod"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "sandbox", private: true, type: "module" }));
  const env: NodeJS.ProcessEnv = { ...process.env, SLUICE_HOME: home, SLUICE_DAGS: dags, NO_COLOR: "1" };
  delete env["SLUICE_DATABASE_URL"];
  return {
    dir,
    dags,
    home,
    env,
    write(rel, text) {
      const p = join(dags, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
      return p;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run `sluice <args>` to completion. */
export function cli(sb: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: sb.dir, env: { ...sb.env, ...env }, encoding: "utf8", timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Run `sluice <args> --json` and parse stdout. */
export function cliJson<T = any>(sb: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}): { code: number; json: T; stderr: string } {
  const r = cli(sb, [...args, "--json"], env);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}

/** Start `sluice <args>` in the background. */
export function cliSpawn(sb: Sandbox, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawn(process.execPath, [BIN, ...args], { cwd: sb.dir, env: { ...sb.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * The store's database handle, for tests that plant rows (corrupt, aged) or inspect tables the store's API
 * does not read. Only tests reach under the API this way: in src/, nothing outside store/ may (lint).
 * Works for the store of `src/` and of the built `sluice/runtime` alike.
 */
export function storeDb(store: object): Kysely<Database> {
  return (store as { db: Kysely<Database> }).db;
}
