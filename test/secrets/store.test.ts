/**
 * Connections and variables in the metadata store, on SQLite and PostgreSQL: rows hold only ciphertexts,
 * the backends are consulted in order (environment, folder, store), a wrong key fails closed, in-process
 * tasks read them lazily (and every secret reaches the attempt's masker), and `rotate-key` re-encrypts
 * every row while runs keep reading them.
 */
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { z } from "zod";
import { cliActor, type Actor } from "../../dist/app/actor.js";
import { addConnection, deleteConnection, getVariable, listConnections, rotateSecrets, setVariable, showConnection, updateConnection } from "../../dist/app/secrets.js";
import { loadConfig } from "../../dist/config.js";
import { dag } from "../../dist/dsl/dag.js";
import { isSluiceError } from "../../dist/errors.js";
import { attemptSecrets } from "../../dist/secrets/attempt.js";
import { Keyring, newKey } from "../../dist/secrets/keyring.js";
import { Masker } from "../../dist/secrets/mask.js";
import { Secrets } from "../../dist/secrets/secrets.js";
import { Sluice } from "../../dist/sluice.js";
import { dialects } from "../dialects.js";
import { sandbox, storeDb } from "../helpers.js";

const sb = sandbox("sluice-secrets-store-");
after(() => sb.cleanup());

const PASSWORD = "pw-Zq81-warehouse";
const TOKEN = "tok-77-variable-secret";
let n = 0;

async function open(url: string, env: Record<string, string>, dags: ReturnType<typeof dag>[] = []): Promise<Sluice> {
  const home = join(sb.dir, `home-${++n}`);
  return Sluice.open(loadConfig({ home, databaseUrl: url }, env), { loadDags: false, dags });
}

const viewer: Actor = { via: "token", name: "vera", role: "viewer" };
const operator: Actor = { via: "session", name: "olga", role: "operator" };

for (const d of dialects(3)) {
  describe(`connections and variables (${d.name})`, { skip: d.skip }, () => {
    test("rows hold ciphertexts only; views never a secret; roles; before/after with ***", async () => {
      const db = await d.fresh(sb.dir);
      const key = newKey();
      const s = await open(db.url, { SLUICE_SECRET_KEY: key });
      try {
        const added = await addConnection(s, cliActor(), {
          id: "warehouse",
          fields: { type: "postgres", host: "db", port: 5432, login: "etl", password: PASSWORD, schema: "wh", extra: { sslmode: "require", token: "x-extra-secret" } },
        });
        assert.deepEqual(added.before, null);
        assert.equal(added.after?.password, "***");
        assert.equal(added.after?.extra, "***");
        assert.equal(added.view?.passwordSet, true);
        await setVariable(s, cliActor(), { key: "api_token", value: { token: TOKEN } });
        await setVariable(s, cliActor(), { key: "threshold", value: 42, description: "rows" });

        const raw = await storeDb(s.store).selectFrom("connections").selectAll().execute();
        assert.equal(raw.length, 1);
        assert.match(raw[0]!.password!, /^sluice:v1:[0-9a-f]{12}:/);
        assert.match(raw[0]!.extra!, /^sluice:v1:/);
        const vars = await storeDb(s.store).selectFrom("variables").selectAll().orderBy("key").execute();
        assert.equal(Number(vars[0]!.is_secret), 1, "api_token looks sensitive: secret by default");
        assert.match(vars[0]!.value, /^sluice:v1:/);
        assert.equal(vars[1]!.value, "42");
        const dump = JSON.stringify([raw, vars]);
        for (const secret of [PASSWORD, TOKEN, "x-extra-secret", "require"]) assert.ok(!dump.includes(secret), `${secret} is not in the rows`);

        const shown = JSON.stringify([await listConnections(s, operator, {}), await showConnection(s, operator, { id: "warehouse" }), await getVariable(s, operator, { key: "api_token" })]);
        assert.ok(!shown.includes(PASSWORD) && !shown.includes(TOKEN) && !shown.includes("sluice:v1:"), shown);
        assert.deepEqual((await getVariable(s, operator, { key: "threshold" })).value, 42);

        for (const op of [() => addConnection(s, operator, { id: "x", fields: { type: "http" } }), () => setVariable(s, operator, { key: "k", value: 1 }), () => deleteConnection(s, operator, { id: "warehouse" })]) {
          await assert.rejects(op(), (e: unknown) => isSluiceError(e, "FORBIDDEN"));
        }
        await assert.rejects(listConnections(s, viewer, {}), (e: unknown) => isSluiceError(e, "FORBIDDEN"));
        await assert.rejects(addConnection(s, cliActor(), { id: "warehouse", fields: { type: "http" } }), (e: unknown) => isSluiceError(e, "CONFLICT"));

        // an update that does not name the password keeps the very ciphertext; null clears it
        const upd = await updateConnection(s, cliActor(), { id: "warehouse", fields: { type: "postgres", host: "db2", port: 5433 } });
        assert.equal(upd.before?.host, "db");
        assert.equal(upd.after?.host, "db2");
        assert.equal(upd.after?.password, "***");
        assert.equal((await s.store.connections.get("warehouse"))?.password, raw[0]!.password);
        assert.equal((await s.secrets.connection("warehouse")).password, PASSWORD);
        await updateConnection(s, cliActor(), { id: "warehouse", fields: { type: "postgres", host: "db2", password: null } });
        assert.equal((await s.secrets.connection("warehouse")).password, null);
        await assert.rejects(updateConnection(s, cliActor(), { id: "nope", fields: { type: "http" } }), (e: unknown) => isSluiceError(e, "CONNECTION_NOT_FOUND"));
        await assert.rejects(addConnection(s, cliActor(), { id: "../etc", fields: { type: "http" } }), (e: unknown) => isSluiceError(e, "INVALID_CONNECTION") && /is invalid/.test((e as Error).message));
      } finally {
        await s.close();
        await db.cleanup();
      }
    });

    test("backends in order (env, folder, store); unknown ids name the backends; a wrong key fails closed; tasks read lazily and feed the masker", async () => {
      const db = await d.fresh(sb.dir);
      const key = newKey();
      const dir = join(sb.dir, `secrets-${++n}`);
      mkdirSync(join(dir, "connections"), { recursive: true });
      mkdirSync(join(dir, "variables"), { recursive: true });
      writeFileSync(join(dir, "connections", "shared"), "http://from-folder:81\n");
      writeFileSync(join(dir, "connections", "folder_only"), JSON.stringify({ conn_type: "http", host: "folder-json", password: "folder-pw-1234" }));
      writeFileSync(join(dir, "variables", "shared"), '"folder"\n');
      const env = { SLUICE_SECRET_KEY: key, SLUICE_SECRETS_DIR: dir, SLUICE_CONN_SHARED: "http://from-env:80", SLUICE_VAR_SHARED: '"env"', SLUICE_VAR_BROKEN: "not json" };

      const seen: Record<string, unknown> = {};
      const reader = dag("reader", (b) => {
        b.task("read", async (_i, ctx) => {
          seen["shared"] = (await ctx.connection("shared")).host;
          seen["folder"] = (await ctx.connection("folder_only")).host;
          seen["store"] = await ctx.connection("warehouse");
          seen["var"] = await ctx.variable("shared");
          seen["secretVar"] = await ctx.variable("api_token");
          seen["fallback"] = await ctx.variable("missing", 7);
          return "ok";
        });
        b.task("unknown", async (_i, ctx) => ctx.connection("nope"));
      });
      const s = await open(db.url, env, [reader]);
      try {
        await addConnection(s, cliActor(), { id: "shared", fields: { type: "http", host: "from-store" } });
        await addConnection(s, cliActor(), { id: "warehouse", fields: { type: "postgres", host: "db", login: "etl", password: PASSWORD } });
        await setVariable(s, cliActor(), { key: "shared", value: "store" });
        await setVariable(s, cliActor(), { key: "api_token", value: TOKEN });

        assert.equal((await s.secrets.connection("shared")).host, "from-env", "env beats folder and store");
        assert.deepEqual((await s.secrets.variable("shared")).value, "env");
        await assert.rejects(s.secrets.variable("broken"), /environment variable SLUICE_VAR_BROKEN is not JSON/);

        const summary = await s.run("reader");
        const byTask = Object.fromEntries(summary.tasks.map((t) => [t.taskId, t.state]));
        assert.equal(byTask["read"], "success");
        assert.equal(seen["shared"], "from-env");
        assert.equal(seen["folder"], "folder-json");
        assert.equal((seen["store"] as { password: string }).password, PASSWORD);
        assert.equal((seen["store"] as { uri: string }).uri, `postgres://etl:${PASSWORD}@db`);
        assert.equal(seen["var"], "env");
        assert.equal(seen["secretVar"], TOKEN);
        assert.equal(seen["fallback"], 7);
        assert.equal(byTask["unknown"], "failed");
        const att = (await s.store.attempts.list(summary.runId)).find((a) => a.taskId === "unknown")!;
        assert.equal(att.errorCode, "CONNECTION_NOT_FOUND");
        assert.match(
          att.errorMessage!,
          new RegExp(`^task "unknown" of DAG "reader": connection "nope" not found; searched: environment \\(SLUICE_CONN_NOPE\\), folder ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/connections/nope, metadata store$`),
        );

        // what a task resolved is what its attempt masks
        const masker = new Masker();
        const acc = attemptSecrets(s.secrets, masker, { dagId: "reader", taskId: "read" });
        await acc.connection("warehouse");
        await acc.connection("folder_only");
        await acc.variable("api_token");
        await acc.variable("shared");
        const line = `pw=${PASSWORD} b64=${Buffer.from(PASSWORD).toString("base64")} uri=postgres://etl:${PASSWORD}@db tok=${TOKEN} f=folder-pw-1234 url=${encodeURIComponent(TOKEN)}`;
        const masked = masker.mask(line);
        for (const secret of [PASSWORD, TOKEN, "folder-pw-1234", Buffer.from(PASSWORD).toString("base64")]) assert.ok(!masked.includes(secret), masked);

        // a reader with another key fails closed: no ciphertext, no partial value
        const other = new Secrets({ ...s.config, secretKey: { keys: newKey(), file: join(dir, "k"), generated: false }, secretsEnv: {} }, s.store);
        await assert.rejects(other.connection("warehouse"), (e: unknown) => isSluiceError(e, "SECRET_KEY") && /not among the keys/.test((e as Error).message) && !(e as Error).message.includes("sluice:v1:"));
        const none = new Secrets({ ...s.config, secretKey: { keys: null, file: join(dir, "absent.key"), generated: true }, secretsDir: null, secretsEnv: {} }, s.store);
        await assert.rejects(none.variable("api_token"), (e: unknown) => isSluiceError(e, "SECRET_KEY") && /no secret key is configured/.test((e as Error).message));
        assert.equal((await none.connection("shared")).host, "from-store", "rows without secrets need no key");
      } finally {
        await s.close();
        await db.cleanup();
      }
    });

    test("rotate-key under load: runs reading secrets meanwhile lose nothing; afterwards the old key can be dropped; idempotent", async () => {
      const db = await d.fresh(sb.dir);
      const oldKey = newKey();
      const secretParam = dag("secret_param", { params: z.object({ token: z.string() }), secretParams: ["token"] }, (b) => void b.task("t", async (_i, ctx) => ctx.params.token.length));
      const s1 = await open(db.url, { SLUICE_SECRET_KEY: oldKey }, [secretParam]);
      const planted = { spRunId: "" };
      const ROWS = 40;
      try {
        for (let i = 0; i < ROWS; i++) {
          await addConnection(s1, cliActor(), { id: `c${i}`, fields: { type: "postgres", host: "h", password: `password-${i}`, extra: { i } } });
          await setVariable(s1, cliActor(), { key: `v${i}`, value: { n: i }, isSecret: true });
        }
        await setVariable(s1, cliActor(), { key: "plain", value: 1 });
        // a run with a secret param: its params hold a ciphertext under the old key
        const sp = await s1.run("secret_param", { params: { token: "param-secret-9911" } });
        assert.equal(sp.state, "success");
        planted.spRunId = sp.runId;
      } finally {
        await s1.close();
      }

      const newer = newKey();
      // runs of a DAG whose tasks read every secret, while the rotation goes row by row
      const reads = dag("reads", (b) => {
        for (let t = 0; t < 4; t++) {
          b.task(`t${t}`, async (_i, ctx) => {
            for (let i = 0; i < ROWS; i++) {
              const c = await ctx.connection(`c${i}`);
              if (c.password !== `password-${i}` || (c.extra as { i: number }).i !== i) throw new Error(`c${i} read wrong`);
              const v = await ctx.variable<{ n: number }>(`v${i}`);
              if (v.n !== i) throw new Error(`v${i} read wrong`);
            }
            return "ok";
          });
        }
      });
      const s2 = await open(db.url, { SLUICE_SECRET_KEY: `${newer},${oldKey}` }, [reads]);
      try {
        const runs = Promise.all([s2.run("reads"), s2.run("reads"), s2.run("reads")]);
        const report = await rotateSecrets(s2, cliActor(), {});
        const summaries = await runs;
        for (const r of summaries) assert.equal(r.state, "success", JSON.stringify(r.tasks));
        assert.equal(report.connections.rotated, ROWS);
        assert.equal(report.variables.rotated, ROWS);
        assert.equal(report.keyId, Keyring.of(newer).primaryId);
        assert.deepEqual(report.params, { rotated: 1, current: 0 });
        const again = await rotateSecrets(s2, cliActor(), {});
        assert.deepEqual([again.connections, again.variables, again.params], [{ rotated: 0, current: ROWS }, { rotated: 0, current: ROWS }, { rotated: 0, current: 1 }]);
        await assert.rejects(rotateSecrets(s2, operator, {}), (e: unknown) => isSluiceError(e, "FORBIDDEN"));
      } finally {
        await s2.close();
      }

      // every row is under the new key: a process with only the new key reads all of them
      const s3 = await open(db.url, { SLUICE_SECRET_KEY: newer });
      try {
        for (let i = 0; i < ROWS; i++) {
          const c = await s3.secrets.connection(`c${i}`);
          assert.equal(c.password, `password-${i}`);
          assert.deepEqual(c.extra, { i });
          assert.deepEqual((await s3.secrets.variable(`v${i}`)).value, { n: i });
        }
        const rows = await storeDb(s3.store).selectFrom("connections").select(["password", "extra"]).execute();
        const id = Keyring.of(newer).primaryId;
        for (const r of rows) assert.ok(r.password!.startsWith(`sluice:v1:${id}:`) && r.extra!.startsWith(`sluice:v1:${id}:`));
        const params = (await s3.store.runs.get(planted.spRunId))!.params as { token: { $secret: string } };
        assert.ok(params.token.$secret.startsWith(`sluice:v1:${id}:`), "the secret param is under the new key");
        assert.equal(Keyring.of(newer).decrypt(params.token.$secret, `param:${planted.spRunId}:token`), '"param-secret-9911"');
      } finally {
        await s3.close();
        await db.cleanup();
      }
    });
  });
}
