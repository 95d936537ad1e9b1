/** `sluice status [--json]`: schedulers, workers, queue depths and pools of the deployment. */
import { processDisks } from "../../logs/diskSpace.js";
import type { Command } from "commander";
import { formatDuration } from "../../core/duration.js";
import { formatCapacity, type Capacity } from "../../core/resources.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

export function registerStatus(program: Command, globals: () => GlobalOptions): void {
  program
    .command("status")
    .description("schedulers and workers (host, pid, queues, capacity, running tasks, last heartbeat), queue depths, pools")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const now = s.store.now();
        const st = await s.store.status.deployment(now, { staleAfterMs: 3 * s.config.leaseMs });
        const disks = await processDisks(s.config.home, s.store);
        const disk = disks.home;
        if (o.json) return printJson({ ...st, disk: { home: s.config.home, ...disk }, ...(disks.database ? { databaseDisk: disks.database } : {}) });
        const out = (t: string) => process.stdout.write(`${t}\n`);
        const ago = (t: number) => `${formatDuration(Math.max(0, now - t))} ago`;
        // this host's home (logs, artifacts, SQLite): a full one fails attempts with DISK_FULL
        if (disk.state === "full") out(`DISK FULL: ${s.config.home} has ${Math.round((disk.freeBytes ?? 0) / 1048576)} MiB free; attempts fail with DISK_FULL until space is freed\n`);
        // a SQLite database elsewhere: workers and schedulers on it wait to write until space is freed
        const db = disks.database;
        if (db?.state === "full") out(`DISK FULL: ${db.dir} (the database) has ${Math.round((db.freeBytes ?? 0) / 1048576)} MiB free; workers and schedulers wait to write until space is freed\n`);
        out(`SCHEDULERS (${st.schedulers.length})`);
        if (st.schedulers.length) out(table(["ID", "HOST", "PID", "STATE", "STARTED", "HEARTBEAT"], st.schedulers.map((p) => [p.id, p.host, p.pid, p.state, iso(p.startedAt), ago(p.lastHeartbeatAt)])));
        out("");
        out(`WORKERS (${st.workers.length})`);
        if (st.workers.length) {
          out(
            table(
              ["ID", "HOST", "PID", "STATE", "QUEUES", "RUNNING", "RESOURCES", "HEARTBEAT"],
              st.workers.map((w) => [w.id, w.host, w.pid, w.state, w.queues.join(","), `${w.running}/${w.concurrency}`, capacityText(w.resources), ago(w.lastHeartbeatAt)]),
            ),
          );
        }
        out("");
        out("QUEUES");
        out(table(["QUEUE", "READY", "RUNNING", "WORKERS"], st.queues.map((q) => [q.queue, q.ready, q.running, q.workers])));
        out("");
        out("POOLS");
        out(table(["POOL", "SLOTS", "USED", "QUEUED", "DESCRIPTION"], st.pools.map((p) => [p.name, p.slots, p.used, p.queued, p.description ?? ""])));
      });
    });
}

function capacityText(c: Capacity | null): string {
  return c ? formatCapacity(c) : "";
}
