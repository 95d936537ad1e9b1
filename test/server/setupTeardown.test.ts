/**
 * Setup/teardown and skips through the REST API of a real deployment (scheduler + worker + HTTP): the
 * DAG structure flags setups and teardowns, a skipped task's attempt carries its reason, and a clear of a
 * work task answers with the setup and teardown it took along.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sandbox, waitFor } from "../helpers.js";
import { ADMIN_PASSWORD, Client, deploy, type Deployment } from "./harness.js";

const sb = sandbox("sluice-api-setup-");
sb.write(
  "dags.ts",
  `import { dag, SkipTask } from "sluice";
export const bracket = dag("bracket", (d) => {
  const s = d.setup("create", async () => "tmp");
  const w = d.task("work", { inputs: { s } }, async () => { throw new SkipTask("nothing to load"); });
  d.teardown("drop", { setups: s, after: [w], onFailureFailDagRun: true }, async () => "dropped");
});
`,
);

let dep: Deployment;
let api: Client;
before(async () => {
  dep = await deploy(sb);
  api = new Client(dep.url);
  assert.equal((await api.login("admin", ADMIN_PASSWORD)).status, 200);
});
after(async () => {
  await dep?.stop();
  sb.cleanup();
});

test("structure flags, a skip's reason on its attempt, a clear that takes setup and teardown along", async () => {
  const structure = (await api.get("/api/v1/dags/bracket/structure")).json as { tasks: { id: string; setup?: boolean; teardown?: boolean; onFailureFailDagRun?: boolean; triggerRule: string }[] };
  const by = new Map(structure.tasks.map((t) => [t.id, t]));
  assert.equal(by.get("create")!.setup, true);
  assert.equal(by.get("drop")!.teardown, true);
  assert.equal(by.get("drop")!.onFailureFailDagRun, true);
  assert.equal(by.get("drop")!.triggerRule, "all_done_setup_success");
  assert.equal(by.get("work")!.setup, undefined);

  const created = await api.post("/api/v1/dags/bracket/runs", {});
  assert.equal(created.status, 201, created.text);
  const runId = created.json.runId as string;
  await waitFor(async () => ["success", "failed"].includes((await api.get(`/api/v1/runs/${runId}`)).json?.state), 60_000, "the run to finish");
  assert.equal((await api.get(`/api/v1/runs/${runId}`)).json.state, "success");
  const items = (await api.get(`/api/v1/runs/${runId}/tasks`)).json.items as { taskId: string; state: string }[];
  assert.deepEqual(Object.fromEntries(items.map((t) => [t.taskId, t.state])), { create: "success", drop: "success", work: "skipped" });
  const attempts = (await api.get(`/api/v1/runs/${runId}/tasks/work/attempts`)).json.items as { state: string; errorCode: string; errorMessage: string }[];
  assert.deepEqual(attempts.map((a) => [a.state, a.errorCode, a.errorMessage]), [["skipped", "SKIPPED", "nothing to load"]]);

  const cleared = await api.post(`/api/v1/runs/${runId}/tasks/work/clear`, {});
  assert.equal(cleared.status, 200, cleared.text);
  assert.deepEqual(cleared.json.cleared, ["create", "work", "drop"]);
});
