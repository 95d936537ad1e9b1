/**
 * Edits that keep a file's mtime (two writes within the file system's timestamp granularity — whole
 * seconds on some) and its size must still be seen, by the folder watcher and by the task-code loader.
 * `utimes` pins the mtime so the test does not depend on the file system's granularity.
 */
import assert from "node:assert/strict";
import { mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadConfig } from "../../src/config.js";
import { DagCodeLoader } from "../../src/engine/codeLoader.js";
import { loadDagFile } from "../../src/executors/dagFile.js";
import { DagWatcher, type FolderChanges } from "../../src/engine/dagWatcher.js";
import { Sluice } from "../../src/sluice.js";
import { sandbox } from "../helpers.js";

const sb = sandbox("sluice-files-");
after(() => sb.cleanup());

const dagFile = (task: string) => `import { dag } from "sluice";
export default dag("same", {}, (d) => { d.task("${task}", async () => 1); });
`;

/** Write `text` and give the file the mtime `at` (seconds), as a coarse file system would. */
function writePinned(path: string, text: string, at: number): void {
  writeFileSync(path, text);
  utimesSync(path, at, at);
}

test("the watcher reports an edit that kept the file's mtime and size", async () => {
  const dir = join(sb.dir, "watch");
  mkdirSync(dir);
  const file = join(dir, "same.ts");
  const at = Math.floor(Date.now() / 1000);
  writePinned(file, dagFile("aaa"), at);
  const seen: FolderChanges[] = [];
  const w = new DagWatcher(dir, async (c) => void seen.push(c), { rescanMs: 3_600_000 });
  await w.scan();
  assert.deepEqual(seen.map((c) => c.changed.length), [1]);
  writePinned(file, dagFile("bbb"), at); // same length, same mtime
  await w.scan();
  assert.equal(seen.length, 2, "the edit was reported");
  assert.deepEqual(seen[1]!.changed, [file]);
  await w.scan();
  assert.equal(seen.length, 2, "an unchanged file is not reported again");
  w.stop();
});

test("the code loader imports a file again when its content changed under the same mtime", async () => {
  const dir = sb.dags;
  const file = join(dir, "same.ts");
  const at = Math.floor(Date.now() / 1000);
  const s = await Sluice.open(loadConfig({ home: sb.home, dags: dir }, {}), { loadDags: false });
  try {
    /** Write a version of the file and record it as the scheduler does; returns its version hash. */
    const publish = async (task: string): Promise<string> => {
      writePinned(file, dagFile(task), at);
      const r = await loadDagFile(file, { fresh: Math.random() });
      assert.ok("dags" in r);
      const d = r.dags[0]!;
      await s.store.tx((tx) => tx.dags.saveVersion(d.id, d.version, d.spec, file));
      return d.version;
    };
    const code = new DagCodeLoader(s.store);
    const v1 = await publish("aaa");
    assert.deepEqual([...(await code.load("same", v1))!.dag.impls.keys()], ["aaa"]);
    const v2 = await publish("bbb"); // same size, same mtime
    assert.notEqual(v2, v1);
    assert.deepEqual([...(await code.load("same", v2))!.dag.impls.keys()], ["bbb"], "the new code was imported");
  } finally {
    await s.close();
  }
});

test("tasks of a new version starting together all get the new code (concurrent loads share one import)", async () => {
  const dir = join(sb.dir, "together");
  mkdirSync(dir);
  const file = join(dir, "two.ts");
  // two DAGs in one file: a load of one imports the file for both
  const version = (tasks: string[]) => `import { dag } from "sluice";
export const two = dag("two", {}, (d) => { ${tasks.map((t) => `d.task("${t}", async () => 1);`).join(" ")} });
export const other = dag("other", {}, (d) => { ${tasks.map((t) => `d.task("o_${t}", async () => 1);`).join(" ")} });
`;
  const s = await Sluice.open(loadConfig({ home: join(dir, ".home"), dags: dir }, {}), { loadDags: false });
  try {
    /** Write the file and record both DAGs' versions; returns them by DAG id. */
    const publish = async (tasks: string[]): Promise<Record<string, string>> => {
      writeFileSync(file, version(tasks));
      const r = await loadDagFile(file, { fresh: Math.random() });
      assert.ok("dags" in r);
      for (const d of r.dags) await s.store.tx((tx) => tx.dags.saveVersion(d.id, d.version, d.spec, file));
      return Object.fromEntries(r.dags.map((d) => [d.id, d.version]));
    };
    // the store as the loader sees it, with a way to hold one lookup: to replay the interleaving where one
    // task's load is suspended while another task's load imports the new code
    let hold: Promise<void> | null = null;
    const dags = s.store.dags;
    const heldDags = {
      getVersion: async (dagId: string, version: string) => {
        const h = hold;
        const r = await dags.getVersion(dagId, version);
        if (h) await h;
        return r;
      },
    };
    // the target as receiver: the store's getters read its private fields, which a proxy has not
    const store = new Proxy(s.store, { get: (target, prop) => (prop === "dags" ? heldDags : Reflect.get(target, prop, target)) });
    const code = new DagCodeLoader(store);
    const v1 = await publish(["a"]);
    await code.load("two", v1["two"]!);
    const v2 = await publish(["a", "b", "c"]);
    let release!: () => void;
    hold = new Promise<void>((r) => (release = r));
    const suspended = code.load("two", v2["two"]!); // saw v1 cached; now waits inside its lookup
    hold = null;
    const first = await code.load("other", v2["other"]!); // imports the new file, for both DAGs
    assert.deepEqual([...first!.dag.impls.keys()], ["o_a", "o_b", "o_c"]);
    release();
    const second = await suspended;
    const together = await Promise.all(["a", "b", "c"].map(() => code.load("two", v2["two"]!)));
    for (const l of [second, ...together]) assert.deepEqual([...l!.dag.impls.keys()], ["a", "b", "c"]);
  } finally {
    await s.close();
  }
});
