/** `sluice pools set|list|delete`: named pools of slots that tasks hold while they run (`pool: "gpu"`). */
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { deletePool, setPool } from "../../app/pools.js";
import { SluiceError } from "../../errors.js";
import { withSluice, type GlobalOptions } from "../context.js";
import { printJson, table } from "../format.js";

export function registerPools(program: Command, globals: () => GlobalOptions): void {
  const pools = program.command("pools").description("pools: at most <slots> task slots of a pool run at once, across all workers");
  pools
    .command("set <name>")
    .description("create a pool or change its slots")
    .requiredOption("--slots <n>", "slots (a task holds poolSlots of them while it runs)")
    .option("--description <text>", "what the pool is for")
    .option("--json", "print JSON")
    .action(async (name: string, o: { slots: string; description?: string; json?: boolean }) => {
      const slots = Number(o.slots);
      if (!Number.isInteger(slots) || slots < 0) throw new SluiceError("USAGE", `--slots must be a whole number ≥ 0, got "${o.slots}"`);
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const p = await setPool(s, cliActor(), { name, slots, ...(o.description !== undefined ? { description: o.description } : {}) });
        if (o.json) printJson(p);
        else process.stdout.write(`pool ${p.name}: ${p.slots} slot${p.slots === 1 ? "" : "s"}\n`);
      });
    });
  pools
    .command("list")
    .description("pools with their slots, slots in use and slots wanted by ready tasks")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      await withSluice({ ...globals(), ...o }, false, async (s) => {
        const list = await s.store.pools.usage(s.store.now());
        if (o.json) printJson({ pools: list });
        else process.stdout.write(`${table(["POOL", "SLOTS", "USED", "QUEUED", "DESCRIPTION"], list.map((p) => [p.name, p.slots, p.used, p.queued, p.description ?? ""]))}\n`);
      });
    });
  pools
    .command("delete <name>")
    .description("delete a pool (tasks naming it then fail until it exists again)")
    .action(async (name: string) => {
      await withSluice(globals(), false, async (s) => {
        await deletePool(s, cliActor(), { name });
        process.stdout.write(`pool ${name} deleted\n`);
      });
    });
}
