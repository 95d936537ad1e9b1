/**
 * `sluice db clean`: retention of finished runs (engine/retention.ts; what is kept: store/retention.ts)
 * and of the audit log (app/audit.ts `cleanAudit`: the only delete of audit entries, itself audited).
 */
import type { Command } from "commander";
import { parseDuration } from "../../core/duration.js";
import { cliActor } from "../../app/actor.js";
import { cleanAudit } from "../../app/audit.js";
import { cleanRuns } from "../../app/retention.js";
import type { CleanResult } from "../../engine/retention.js";
import { SluiceError } from "../../errors.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { printJson } from "../format.js";

export function registerDbClean(db: Command, globals: () => GlobalOptions): void {
  db.command("clean")
    .description(
      "delete finished runs (success, failed) that ended longer ago than --older-than, with their task instances, attempts, logs and unreferenced artifacts (asset events are kept); " +
        "and/or audit log entries older than --audit-older-than (the deletion is itself audited)",
    )
    .option("--older-than <duration>", 'how long ago a run must have ended, e.g. "30d", "12h", "2w"')
    .option("--audit-older-than <duration>", 'delete audit log entries older than this, e.g. "365d"')
    .option("--batch-size <n>", "runs deleted per transaction", "1000")
    .option("--dry-run", "only count the runs that would be deleted (the audit log is not touched)")
    .option("--json", "print JSON")
    .action(async (o: { olderThan?: string; auditOlderThan?: string; batchSize: string; dryRun?: boolean; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      if (opts.olderThan === undefined && opts.auditOlderThan === undefined) {
        throw new SluiceError("USAGE", 'say what to delete: --older-than <duration> (finished runs) and/or --audit-older-than <duration> (audit log entries), e.g. --older-than 30d');
      }
      const age = opts.olderThan === undefined ? null : olderThan(opts.olderThan, "--older-than");
      const auditAge = opts.auditOlderThan === undefined ? null : olderThan(opts.auditOlderThan, "--audit-older-than");
      const batchSize = Number(opts.batchSize);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) {
        throw new SluiceError("USAGE", `--batch-size must be a whole number from 1 to 100000, got "${opts.batchSize}"`);
      }
      await withSluice(opts, false, async (s) => {
        const out: { runs?: CleanResult; audit?: { deleted: number; cutoff: string } } = {};
        if (age !== null) {
          const r = await cleanRuns(s, cliActor(), {
            cutoff: s.store.now() - age,
            logsDir: s.config.logsDir,
            artifacts: s.engine.artifacts,
            batchSize,
            dryRun: opts.dryRun === true,
          });
          out.runs = r;
          if (!opts.json) {
            const verb = r.dryRun ? "would delete" : "deleted";
            process.stdout.write(
              `${verb} ${r.runs} run(s) that ended before ${r.cutoff}: ${r.taskInstances} task instance(s), ${r.attempts} attempt(s), ` +
                `${r.trackedRuns} tracked run(s), ${r.logDirs} log folder(s), ${r.artifacts} artifact(s)` +
                `${r.dryRun ? "" : `, ${r.cacheEntries} cache entr${r.cacheEntries === 1 ? "y" : "ies"}, ${r.codeBundles} code bundle(s) in ${r.batches} batch(es)`}\n`,
            );
          }
        }
        if (auditAge !== null && opts.dryRun !== true) {
          out.audit = await cleanAudit(s, cliActor(), { olderThanMs: auditAge });
          if (!opts.json) process.stdout.write(`deleted ${out.audit.deleted} audit entr${out.audit.deleted === 1 ? "y" : "ies"} older than ${out.audit.cutoff} (recorded in the audit log)\n`);
        }
        // one object with what was asked for (the runs' counts at the top level, as before --audit-older-than)
        if (opts.json) printJson({ ...(out.runs ?? {}), ...(out.audit ? { audit: out.audit } : {}) });
      });
    });
}

function olderThan(text: string, flag: string): number {
  let ms: number;
  try {
    ms = parseDuration(text, flag);
  } catch {
    throw new SluiceError("USAGE", `${flag} must be a duration such as "30d", "12h" or "2w", got "${text}"`);
  }
  if (ms <= 0) throw new SluiceError("USAGE", `${flag} must be longer than 0, got "${text}"`);
  return ms;
}
