/**
 * `sluice models …` from the built CLI, on SQLite: list, show (versions, aliases, history), promote and
 * rollback with their history, approvals of a gate decided from the command line; bad input (an unknown
 * model or version, an invalid alias, a missing artifact) exits non-zero with a message naming the model,
 * and writes nothing.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cli, cliJson, cliSpawn, sandbox, waitFor } from "../helpers.js";

const sb = sandbox("sluice-models-cli-");
after(() => sb.cleanup());

sb.write("m.ts", `export function load() { return { predict: (rows: unknown[]) => rows.map(() => 0) }; }\n`);
sb.write(
  "train.ts",
  `import { dag } from "sluice";
import { z } from "zod";
export const train = dag("train", { params: z.object({ accuracy: z.number() }) }, (d) => {
  d.task("fit", async (_i, ctx) => ctx.models.register("spam", { artifact: Buffer.from("w"), flavor: { module: "./m.ts" }, framework: "toy", metrics: { accuracy: ctx.params.accuracy } }));
});
export const gated = dag("gated", (d) => {
  const m = d.task("fit", async (_i, ctx) => ctx.models.register("spam", { artifact: Buffer.from("g"), flavor: { module: "./m.ts" }, metrics: { accuracy: 0.99 } }));
  d.promote("gate", { model: "spam", candidate: m, alias: "champion", compare: { accuracy: { notWorseBy: 0 } }, approval: true });
});
export const broken = dag("broken", (d) => {
  d.task("fit", async (_i, ctx) => ctx.models.register("spam", { artifact: "out/model.bin", flavor: { module: "./m.ts" } }));
});
`,
);

before(() => {
  for (const acc of [0.9, 0.91, 0.92]) assert.equal(cli(sb, ["run", "train", "-p", `accuracy=${acc}`]).code, 0);
});

test("list and show; promote and rollback with their history", () => {
  const list = cliJson(sb, ["models", "list"]);
  assert.equal(list.code, 0);
  assert.deepEqual(list.json.items.map((m: { name: string; latestVersion: number }) => [m.name, m.latestVersion]), [["spam", 3]]);
  assert.equal(cli(sb, ["models", "promote", "spam", "1", "--alias", "champion", "--reason", "first"]).code, 0);
  const p = cli(sb, ["models", "promote", "spam", "3", "--alias", "champion"]);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /spam@champion: version 1 → 3/);
  const rb = cli(sb, ["models", "rollback", "spam", "--alias", "champion", "--reason", "regression"]);
  assert.equal(rb.code, 0, rb.stderr);
  assert.match(rb.stdout, /version 3 → 1 \(rolled back\)/);
  const show = cliJson(sb, ["models", "show", "spam"]);
  assert.equal(show.code, 0);
  assert.deepEqual(show.json.aliases, { champion: 1 });
  assert.deepEqual(show.json.versions.map((v: { version: number; metrics: { accuracy: number } }) => [v.version, v.metrics.accuracy]), [[3, 0.92], [2, 0.91], [1, 0.9]]);
  assert.deepEqual(show.json.history.map((h: { fromVersion: number | null; toVersion: number; kind: string; reason: string | null }) => [h.fromVersion, h.toVersion, h.kind, h.reason]), [
    [3, 1, "rollback", "regression"],
    [1, 3, "promote", null],
    [null, 1, "promote", "first"],
  ]);
  const table = cli(sb, ["models", "show", "spam"]);
  assert.match(table.stdout, /VERSION\s+ALIASES\s+METRICS/);
  assert.match(table.stdout, /1\s+champion\s+accuracy=0\.9/);
});

test("bad input exits non-zero naming the model, and writes nothing", () => {
  const before = cliJson(sb, ["models", "show", "spam"]).json.history.length;
  const noModel = cli(sb, ["models", "promote", "nope", "1", "--alias", "champion"]);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /no model named "nope"/);
  const noVersion = cli(sb, ["models", "promote", "spam", "9", "--alias", "champion"]);
  assert.equal(noVersion.code, 2);
  assert.match(noVersion.stderr, /model "spam" has no version 9/);
  const badAlias = cli(sb, ["models", "promote", "spam", "1", "--alias", "latest"]);
  assert.equal(badAlias.code, 2);
  assert.match(badAlias.stderr, /alias "latest" is not valid/);
  const badVersion = cli(sb, ["models", "promote", "spam", "x", "--alias", "champion"]);
  assert.equal(badVersion.code, 2);
  assert.match(badVersion.stderr, /version must be a whole number/);
  const noAlias = cli(sb, ["models", "rollback", "spam", "--alias", "staging"]);
  assert.equal(noAlias.code, 2);
  assert.match(noAlias.stderr, /model "spam" has no alias "staging"/);
  assert.equal(cli(sb, ["models", "show", "ghost"]).code, 2);
  assert.equal(cliJson(sb, ["models", "show", "spam"]).json.history.length, before);
  assert.deepEqual(cliJson(sb, ["models", "list"]).json.items.map((m: { name: string }) => m.name), ["spam"]);
  // a task registering an artifact file it never wrote fails, naming task and model
  const r = cli(sb, ["run", "broken"]);
  assert.equal(r.code, 1);
  assert.match(r.stdout + r.stderr, /task "fit": model "spam": artifact file out\/model\.bin does not exist/);
  assert.equal(cliJson(sb, ["models", "list"]).json.items[0].latestVersion, 3);
});

test("a gate's approval decided from the command line", async () => {
  const run = cliSpawn(sb, ["run", "gated", "--json"]);
  let out = "";
  run.stdout.on("data", (c: Buffer) => (out += c.toString()));
  const ended = new Promise<number>((resolve) => run.on("exit", (code) => resolve(code ?? -1)));
  try {
    let id = 0;
    await waitFor(() => {
      const r = cliJson(sb, ["models", "approvals"]);
      id = r.json.items[0]?.id ?? 0;
      return id > 0;
    }, 60_000, "a pending approval");
    const list = cli(sb, ["models", "approvals"]);
    assert.match(list.stdout, /ID\s+MODEL\s+ALIAS\s+CANDIDATE\s+CHAMPION\s+STATE/);
    const ok = cli(sb, ["models", "approve", String(id), "--comment", "ship it"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`approval #${id} approved: spam version 4 → champion`));
    assert.equal(await ended, 0, out);
    assert.equal(cliJson(sb, ["models", "show", "spam"]).json.aliases.champion, 4);
    const again = cli(sb, ["models", "reject", String(id)]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already approved/);
  } finally {
    run.kill();
  }
});
