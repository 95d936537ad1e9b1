import { loadConfig, type ConfigOverrides, type ProcessRole, type SluiceConfig } from "../config.js";
import { parseDuration } from "../core/duration.js";
import { SluiceError } from "../errors.js";
import { Sluice } from "../sluice.js";

/** Global options every command accepts. */
export interface GlobalOptions {
  dags?: string;
  home?: string;
  json?: boolean;
}

export function configFrom(
  opts: GlobalOptions & { concurrency?: string; port?: string; host?: string; gracePeriod?: string; logFormat?: string; logLevel?: string },
  role: ProcessRole = "cli",
): SluiceConfig {
  const overrides: ConfigOverrides = { dags: opts.dags, home: opts.home, host: opts.host, role };
  if (opts.logFormat !== undefined) overrides.logFormat = oneOf(opts.logFormat, "--log-format", ["text", "json"] as const);
  if (opts.logLevel !== undefined) overrides.logLevel = oneOf(opts.logLevel, "--log-level", ["debug", "info", "warn", "error"] as const);
  if (opts.gracePeriod !== undefined) overrides.gracePeriodMs = usageDuration(opts.gracePeriod, "--grace-period");
  if (opts.port !== undefined) {
    const n = Number(opts.port);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new SluiceError("USAGE", `--port must be a port number (0: any free port), got "${opts.port}"`);
    overrides.port = n;
  }
  if (opts.concurrency !== undefined) {
    const n = Number(opts.concurrency);
    if (!Number.isInteger(n) || n < 1) throw new SluiceError("USAGE", `--concurrency must be a whole number ≥ 1, got "${opts.concurrency}"`);
    overrides.concurrency = n;
  }
  return loadConfig(overrides);
}

function oneOf<T extends string>(value: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new SluiceError("USAGE", `${flag} must be one of ${allowed.join(", ")}, got "${value}"`);
  return value as T;
}

/** Open Sluice for one command and close it afterwards, whatever happens. */
export async function withSluice<T>(
  opts: GlobalOptions & { concurrency?: string },
  loadDags: boolean,
  fn: (s: Sluice) => Promise<T>,
  openOptions: { migrate?: boolean } = {},
): Promise<T> {
  const s = await Sluice.open(configFrom(opts), { loadDags, ...openOptions });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** A DAG that is not there may be one whose file failed to import: say so. */
export function explainMissingDag(s: Sluice, dagId: string): never {
  const errs = s.bag.errors;
  const known = [...s.bag.dags.keys()].sort();
  let msg = `no DAG with id "${dagId}" in ${s.bag.dir}`;
  msg += known.length ? `; known DAGs: ${known.join(", ")}` : "; no DAGs were found there (use --dags or SLUICE_DAGS)";
  if (errs.length) msg += `\n${errs.length} DAG file(s) failed to import:\n${errs.map((e) => `  ${e.file}${e.line ? `:${e.line}` : ""}: ${e.message}`).join("\n")}`;
  throw new SluiceError("DAG_NOT_FOUND", msg, { details: { dagId } });
}

/** A duration flag ("30s", "2m", milliseconds): a bad one is a usage error naming the flag. */
export function usageDuration(text: string, flag: string): number {
  try {
    return parseDuration(/^\d+$/.test(text) ? Number(text) : text, flag);
  } catch (e) {
    throw new SluiceError("USAGE", (e as Error).message, { cause: e });
  }
}
