/** `sluice db clean`: retention of finished runs (engine/retention.ts; what is kept: store/retention.ts). */
import type { Command } from "commander";
import { parseDuration } from "../../core/duration.js";
import { cleanFinishedRuns } from "../../engine/retention.js";
import { SluiceError } from "../../errors.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { printJson } from "../format.js";

export function registerDbClean(db: Command, globals: () => GlobalOptions): void {
  db.command("clean")
    .description("delete finished runs (success, failed) that ended longer ago than --older-than, with their task instances, attempts, logs and unreferenced artifacts; asset events are kept")
    .requiredOption("--older-than <duration>", 'how long ago a run must have ended, e.g. "30d", "12h", "2w"')
    .option("--batch-size <n>", "runs deleted per transaction", "1000")
    .option("--dry-run", "only count what would be deleted")
    .option("--json", "print JSON")
    .action(async (o: { olderThan: string; batchSize: string; dryRun?: boolean; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      const age = olderThan(opts.olderThan);
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
        throw new SluiceError("USAGE", `--batch-size must be a whole number from 1 to 100000, got "${opts.batchSize}"`);
      }
      await withSluice(opts, false, async (s) => {
        const r = await cleanFinishedRuns(s.store, {
          cutoff: s.store.now() - age,
          logsDir: s.config.logsDir,
          artifacts: s.engine.artifacts,
          batchSize,
          dryRun: opts.dryRun === true,
        });
        if (opts.json) return printJson(r);
        const verb = r.dryRun ? "would delete" : "deleted";
        process.stdout.write(
          `${verb} ${r.runs} run(s) that ended before ${r.cutoff}: ${r.taskInstances} task instance(s), ${r.attempts} attempt(s), ` +
            `${r.logDirs} log folder(s), ${r.artifacts} artifact(s)${r.dryRun ? "" : ` in ${r.batches} batch(es)`}\n`,
        );
      });
    });
}

function olderThan(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text, "--older-than");
  } catch {
    throw new SluiceError("USAGE", `--older-than must be a duration such as "30d", "12h" or "2w", got "${text}"`);
  }
  if (ms <= 0) throw new SluiceError("USAGE", `--older-than must be longer than 0, got "${text}"`);
  return ms;
}
