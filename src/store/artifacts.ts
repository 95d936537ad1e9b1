/**
 * Task outputs above the inline limit, in the `artifacts` table (migration 0009): the artifact store of
 * PostgreSQL deployments, where a downstream task may run on another host than the one that wrote its
 * input (docs/decisions/0014-artifacts-in-the-database.md). Content-addressed like the file store: the
 * same bytes are one row. `touched_at` is the store's time (the database's on PostgreSQL), so `sluice db
 * clean`'s grace period does not depend on the hosts' clocks.
 */
import { sql } from "kysely";
import { ARTIFACT_REF, artifactRef, type ArtifactStore } from "../artifacts/artifactStore.js";
import { SluiceError } from "../errors.js";
import { handleOf } from "./aggregates.js";
import type { Store } from "./store.js";

export class DatabaseArtifactStore implements ArtifactStore {
  readonly location = "the database (table artifacts)";

  constructor(private readonly store: Store) {}

  private now() {
    const { expr, params } = this.store.leaseNow();
    return params.length ? sql<number>`${params[0]!}` : sql<number>`${sql.raw(expr)}`;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const ref = artifactRef(bytes);
    const db = handleOf(this.store);
    // already there (the same output again, e.g. every run of a DAG): only touch it, without sending the bytes
    const touched = await db.updateTable("artifacts").set({ touched_at: this.now() }).where("ref", "=", ref).executeTakeFirst();
    if (Number(touched.numUpdatedRows) > 0) return ref;
    await db
      .insertInto("artifacts")
      .values({ ref, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), size: bytes.byteLength, touched_at: this.now() })
      .onConflict((oc) => oc.column("ref").doUpdateSet({ touched_at: (eb) => eb.ref("excluded.touched_at") }))
      .execute();
    return ref;
  }

  async get(ref: string): Promise<Buffer> {
    const row = await handleOf(this.store).selectFrom("artifacts").select("bytes").where("ref", "=", checked(ref)).executeTakeFirst();
    if (!row) throw new SluiceError("INTERNAL", `artifact ${ref} is missing from ${this.location}`);
    return Buffer.from(row.bytes);
  }

  async has(ref: string): Promise<boolean> {
    const row = await handleOf(this.store).selectFrom("artifacts").select("ref").where("ref", "=", checked(ref)).executeTakeFirst();
    return row !== undefined;
  }

  async removeStale(refs: readonly string[], graceMs: number): Promise<number> {
    let removed = 0;
    const valid = refs.filter((r) => ARTIFACT_REF.test(r));
    for (let i = 0; i < valid.length; i += 500) {
      const r = await handleOf(this.store)
        .deleteFrom("artifacts")
        .where("ref", "in", valid.slice(i, i + 500))
        .where("touched_at", "<", sql<number>`${this.now()} - ${graceMs}`)
        .executeTakeFirst();
      removed += Number(r.numDeletedRows);
    }
    return removed;
  }
}

function checked(ref: string): string {
  if (!ARTIFACT_REF.test(ref)) throw new SluiceError("INTERNAL", `invalid artifact reference ${JSON.stringify(ref)}`);
  return ref;
}
