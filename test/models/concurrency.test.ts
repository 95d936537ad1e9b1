/**
 * Two processes (real child processes, test/models/promoter.ts) promote the same alias concurrently, many
 * times, on PostgreSQL: every move has exactly one history row (and every row one reported move), the
 * history is one chain (each `from` is the previous `to`), and the final holder is its last `to`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfig } from "../../dist/config.js";
import { Sluice } from "../../dist/sluice.js";
import { freshSchema, pgSkip } from "../dialects.js";
import { ROOT, sandbox } from "../helpers.js";

const sb = sandbox("sluice-models-race-");
after(() => sb.cleanup());

const ROUNDS = 60;
const VERSIONS = 4;

function promoter(url: string, who: string): Promise<{ reason: string; from: number | null; to: number; moved: boolean }[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "test/models/promoter.ts"), url, sb.home, who, String(ROUNDS), String(VERSIONS)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`promoter ${who} exited ${code}: ${err}`));
      resolve(out.trim().split("\n").map((l) => JSON.parse(l) as { reason: string; from: number | null; to: number; moved: boolean }));
    });
  });
}

test("two processes promoting one alias concurrently: one winner per move, one consistent chain of history", { skip: pgSkip() }, async () => {
  const schema = await freshSchema();
  try {
    const s = await Sluice.open(loadConfig({ home: sb.home, databaseUrl: schema.url }, {}), { loadDags: false });
    try {
      for (let v = 1; v <= VERSIONS; v++) {
        await s.store.models.register({ name: "race", artifactRef: "sha256:x", artifactSize: 1, flavor: { kind: "js", module: "m.ts", export: "load" }, framework: null, signature: null, metrics: {}, params: {}, description: null, dagId: "d", dagVersion: "v", runId: "r", taskId: "t", mapIndex: -1, attemptId: v, inputEvents: [] });
      }
      const [a, b] = await Promise.all([promoter(schema.url, "alpha"), promoter(schema.url, "beta")]);
      const outcomes = [...a, ...b];
      assert.equal(outcomes.length, 2 * ROUNDS);
      const history = (await s.store.models.aliasHistory("race", "champion", 10_000)).reverse(); // oldest first
      const moved = outcomes.filter((o) => o.moved);
      assert.ok(a.some((o) => o.moved) && b.some((o) => o.moved), "both processes moved the alias");
      // exactly one history row per reported move, with the same from and to
      assert.equal(history.length, moved.length);
      const byReason = new Map(history.map((h) => [h.reason, h]));
      assert.equal(byReason.size, history.length, "no reason twice");
      for (const o of moved) {
        const h = byReason.get(o.reason);
        assert.ok(h, `a history row for ${o.reason}`);
        assert.deepEqual([h.fromVersion, h.toVersion], [o.from, o.to], o.reason);
      }
      // a chain: each move replaced the holder the previous one left
      assert.equal(history[0]!.fromVersion, null);
      for (let i = 1; i < history.length; i++) assert.equal(history[i]!.fromVersion, history[i - 1]!.toVersion, `history row ${i}`);
      // a move that found its version already there wrote nothing, and was right: it saw the holder of its time
      for (const o of outcomes.filter((x) => !x.moved)) assert.equal(o.from, o.to);
      assert.equal((await s.store.models.resolve("race", "champion"))?.version, history.at(-1)!.toVersion);
    } finally {
      await s.close();
    }
  } finally {
    await schema.drop();
  }
});
