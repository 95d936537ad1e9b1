/**
 * `sluice assets list|show` (lineage: what produced each asset, what consumed it) and
 * `sluice events send|list` (external events through the store, like `POST /api/v1/events/<name>`).
 */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { sendEvent } from "../../app/events.js";
import { eventJson } from "../../engine/triggers.js";
import { SluiceError } from "../../errors.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { iso, printJson, table } from "../format.js";

export function registerAssets(program: Command, globals: () => GlobalOptions): void {
  const assets = program.command("assets").description("assets: what tasks produce, what DAGs are scheduled on, and their updates (lineage)");
  assets
    .command("list")
    .description("every asset with its last update, producers and consumers")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const db = s.store;
        const all = await db.assets.list();
        const decl = await db.assets.declarations();
        const last = new Map((await db.assets.getEvents(all.flatMap((a) => (a.lastEventId === null ? [] : [a.lastEventId])))).map((e) => [e.eventId, e]));
        const rows = all.map((a) => {
          const e = a.lastEventId === null ? undefined : last.get(a.lastEventId);
          return {
            name: a.name,
            firstSeenAt: iso(a.createdAt),
            lastUpdate: e ? { eventId: e.eventId, time: iso(e.createdAt), dagId: e.dagId, taskId: e.taskId, runId: e.runId } : null,
            producers: decl.get(a.name)?.producers ?? [],
            consumers: decl.get(a.name)?.consumers ?? [],
          };
        });
        if (opts.json) return printJson({ assets: rows });
        if (rows.length === 0) return void process.stdout.write("no assets yet: declare them with a task's produces: [...]\n");
        process.stdout.write(
          `${table(
            ["ASSET", "LAST UPDATE", "BY", "PRODUCERS", "CONSUMERS"],
            rows.map((r) => [
              r.name,
              r.lastUpdate?.time ?? "never",
              r.lastUpdate ? `${r.lastUpdate.dagId}.${r.lastUpdate.taskId}` : "",
              r.producers.map((p) => `${p.dagId}.${p.taskId}`).join(", "),
              r.consumers.map((c) => c.dagId).join(", "),
            ]),
          )}\n`,
        );
      });
    });
  assets
    .command("show <name>")
    .description("an asset's updates (run, task, time, metadata, the runs that consumed them), producers and consumers")
    .option("--limit <n>", "at most this many updates, newest first", "50")
    .option("--json", "print JSON")
    .action(async (name: string, o: { json?: boolean; limit: string }) => {
      const opts = { ...globals(), ...o };
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new SluiceError("USAGE", `--limit must be a whole number from 1 to 10000, got "${opts.limit}"`);
      await withSluice(opts, false, async (s) => {
        const db = s.store;
        const asset = await db.assets.get(name);
        if (!asset) {
          const known = (await db.assets.list()).map((a) => a.name);
          throw new SluiceError("ASSET_NOT_FOUND", `no asset "${name}"${known.length ? `; known assets: ${known.slice(0, 20).join(", ")}${known.length > 20 ? ", …" : ""}` : "; no task has declared or produced an asset yet"}`, {
            details: { asset: name },
          });
        }
        const decl = (await db.assets.declarations([name])).get(name) ?? { producers: [], consumers: [] };
        const progress = new Map((await db.assets.consumptionOf(name)).map((c) => [c.dagId, c.lastEventId]));
        const events = await db.assets.listEvents(name, { limit });
        const consumedBy = await db.assets.consumersOfEvents(events.map((e) => e.eventId));
        const detail = {
          name,
          firstSeenAt: iso(asset.createdAt),
          lastUpdateAt: iso(asset.lastEventAt),
          producers: decl.producers,
          consumers: decl.consumers.map((c) => ({ dagId: c.dagId, consumedThroughEventId: progress.get(c.dagId) ?? null })),
          events: events.map((e) => ({
            eventId: e.eventId,
            time: iso(e.createdAt),
            dagId: e.dagId,
            runId: e.runId,
            taskId: e.taskId,
            mapIndex: e.mapIndex,
            attempt: e.tryNumber,
            metadata: e.metadata,
            consumedBy: consumedBy.get(e.eventId) ?? [],
          })),
        };
        if (opts.json) return printJson(detail);
        const out = (t: string) => process.stdout.write(`${t}\n`);
        out(`asset ${name}  (first seen ${detail.firstSeenAt}${detail.lastUpdateAt ? `, last update ${detail.lastUpdateAt}` : ", never updated"})`);
        out(`producers: ${detail.producers.map((p) => `${p.dagId}.${p.taskId}`).join(", ") || "(none declared)"}`);
        out(`consumers: ${detail.consumers.map((c) => c.dagId).join(", ") || "(none)"}`);
        if (detail.events.length === 0) return;
        out("");
        out(
          table(
            ["EVENT", "TIME", "RUN", "TASK", "METADATA", "CONSUMED BY"],
            detail.events.map((e) => [
              e.eventId,
              e.time,
              e.runId,
              `${e.dagId}.${e.taskId}${e.mapIndex >= 0 ? `[${e.mapIndex}]` : ""}`,
              Object.keys(e.metadata).length ? JSON.stringify(e.metadata) : "",
              e.consumedBy.map((c) => `${c.dagId} ${c.runId}`).join(", "),
            ]),
          ),
        );
      });
    });
}

export function registerEvents(program: Command, globals: () => GlobalOptions): void {
  const events = program.command("events").description("external events that trigger the DAGs subscribed to them (events: [name])");
  events
    .command("send <name>")
    .description("send an event: one run of every DAG subscribed to it; tasks read the payload as ctx.event.payload")
    .option("--payload <json>", "the event's JSON payload (default null)")
    .option("--idempotency-key <key>", "the same key never creates a second run (the existing runs are returned)")
    .option("--json", "print JSON")
    .action(async (name: string, o: { payload?: string; idempotencyKey?: string; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      let payload: unknown = null;
      if (opts.payload !== undefined) {
        try {
          payload = JSON.parse(opts.payload);
        } catch (e) {
          throw new SluiceError("INVALID_PAYLOAD", `--payload is not JSON (${(e as Error).message}); e.g. --payload '{"orderId": 42}'`, { cause: e });
        }
      }
      process.exitCode = await withSluice(opts, true, async (s) => {
        // the DAGs folder here may be newer than what a scheduler registered: subscribe its DAGs first
        await s.engine.triggers.register([...s.bag.dags.values()].map(({ dag }) => ({ id: dag.id, spec: dag.spec })));
        const outcome = await sendEvent(s, cliActor(), { name, payload, idempotencyKey: opts.idempotencyKey, source: "cli" });
        if (opts.json) printJson(eventJson(outcome));
        else {
          const out = (t: string) => process.stdout.write(`${t}\n`);
          out(
            outcome.duplicate
              ? `event ${outcome.eventId} "${name}" was already received with idempotency key "${opts.idempotencyKey}": no new run`
              : `event ${outcome.eventId} "${name}": ${outcome.runs.length} run(s) created (a running \`sluice dev\` or \`sluice worker\` runs them)`,
          );
          for (const r of outcome.runs) out(`  ${r.dagId}  ${r.runId}`);
          for (const p of outcome.pending) process.stderr.write(`  ${p.dagId}: no run: ${p.reason}\n`);
        }
        return outcome.runs.length === 0 && outcome.pending.length > 0 ? 1 : 0;
      });
    });
  events
    .command("list")
    .description("received events, newest first, with the runs they created")
    .option("--name <name>", "only events of this name")
    .option("--limit <n>", "at most this many", "25")
    .option("--json", "print JSON")
    .action(async (o: { name?: string; limit: string; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new SluiceError("USAGE", `--limit must be a whole number from 1 to 1000, got "${opts.limit}"`);
      await withSluice(opts, false, async (s) => {
        const rows = (await s.store.events.list({ ...(opts.name ? { name: opts.name } : {}), limit })).map((e) => ({
          eventId: e.eventId,
          name: e.name,
          receivedAt: iso(e.receivedAt),
          source: e.source,
          idempotencyKey: e.idempotencyKey,
          payload: e.payload,
          runs: e.runs,
        }));
        if (opts.json) return printJson({ events: rows });
        process.stdout.write(
          `${table(
            ["EVENT", "NAME", "RECEIVED", "SOURCE", "KEY", "RUNS"],
            rows.map((e) => [e.eventId, e.name, e.receivedAt, e.source, e.idempotencyKey, e.runs.map((r) => `${r.dagId} ${r.runId ?? "(none)"}`).join(", ")]),
          )}\n`,
        );
      });
    });
}
