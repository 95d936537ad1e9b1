/**
 * 0006 — production roles and capacity (decision 0012).
 *
 * - `pools`: named pools of slots (Airflow's pools). A task in a pool holds `poolSlots` of its slots while
 *   it runs; a task with no pool is in `default_pool`, created here with 128 slots like Airflow's.
 * - `workers.role`: schedulers register in the same table as workers (role `scheduler`) and heartbeat
 *   there too, so `sluice status` lists every process of a deployment from one table.
 * - `workers.resources`: the capacity a worker declared (`--resources cpu=4,memory=16Gi,gpu=1`), as JSON
 *   ({cpu, memoryMb, gpu}); null when it declared none.
 */
import { sql, type Kysely } from "kysely";
import type { DialectName } from "../migrations.js";

export async function m0006Capacity(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const bigint = dialect === "postgres" ? "bigint" : "integer";
  await db.schema
    .createTable("pools")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("slots", "integer", (c) => c.notNull())
    .addColumn("description", "text")
    .addColumn("updated_at", bigint, (c) => c.notNull())
    .execute();
  await sql`insert into pools (name, slots, description, updated_at) values ('default_pool', 128, 'tasks that name no pool', ${Date.now()})`.execute(db);
  await db.schema.alterTable("workers").addColumn("role", "text", (c) => c.notNull().defaultTo("worker")).execute();
  await db.schema.alterTable("workers").addColumn("resources", "text").execute();
}
