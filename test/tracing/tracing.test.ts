/**
 * Tracing end to end: `sluice run` and `sluice worker` processes started with the standard OTEL_*
 * variables export to a real OTLP/HTTP receiver in this test — a run span (ids derived from the run id)
 * with its attempts' spans under it, a task's own span under its attempt's, TRACEPARENT in a Python task,
 * ctx.span in a process-isolated child — and with tracing off send nothing and give tasks a no-op span.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { cliSpawn, ROOT, sandbox, waitFor, type Sandbox } from "../helpers.js";
import { query } from "../worker/procs.js";
import { otlpReceiver, type ReceivedSpan, type Receiver } from "./otlp.js";

const PYTHON = process.env.SLUICE_PYTHON ?? "python3";
const noPython = spawnSync(PYTHON, ["-c", "import os"]).status === 0 ? false : `${PYTHON} is not installed`;

let receiver: Receiver;
before(async () => (receiver = await otlpReceiver()));
after(() => receiver.close());

const boxes: Sandbox[] = [];
after(() => boxes.forEach((b) => b.cleanup()));

/** A sandbox with a DAG of an in-process task (with a span of its own), a Python task and a process-isolated one. */
function tracedSandbox(): Sandbox & { marks: string } {
  const sb = sandbox("sluice-tracing-");
  boxes.push(sb);
  // the task code's own OpenTelemetry API: the same global tracer provider as Sluice's
  symlinkSync(join(ROOT, "node_modules", "@opentelemetry"), join(sb.dir, "node_modules", "@opentelemetry"), "dir");
  const marks = join(sb.dir, "marks");
  sb.write("tp.py", `import os\nprint("TRACEPARENT=" + os.environ.get("TRACEPARENT", "none"))\n`);
  sb.write(
    "traced.ts",
    `import { dag } from "sluice";
import { trace } from "@opentelemetry/api";
import { appendFileSync } from "node:fs";
const mark = (task, ctx) => {
  const sc = ctx.span.spanContext();
  appendFileSync(${JSON.stringify(marks)}, JSON.stringify({ task, traceId: sc.traceId, spanId: sc.spanId, recording: ctx.span.isRecording() }) + "\\n");
};
export default dag("traced", (d) => {
  const a = d.task("inproc", async (_i, ctx) => {
    mark("inproc", ctx);
    await trace.getTracer("user-code").startActiveSpan("user work", async (s) => { s.setAttribute("rows", 3); s.end(); });
  });
  const py = d.python("py", { script: "tp.py", after: [a] });
  d.task("child", { isolation: "process", after: [py] }, async (_i, ctx) => mark("child", ctx));
});
`,
  );
  return Object.assign(sb, { marks });
}

const ids = (runId: string) => {
  const hex = createHash("sha256").update(runId).digest("hex");
  return { traceId: hex.slice(0, 32), spanId: hex.slice(32, 48) };
};

function exited(p: ReturnType<typeof cliSpawn>): Promise<{ code: number | null; out: string; stdout: string }> {
  let out = "";
  let stdout = "";
  p.stdout!.on("data", (c: Buffer) => ((out += c.toString()), (stdout += c.toString())));
  p.stderr!.on("data", (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => p.on("close", (code) => resolve({ code, out, stdout })));
}

const marksOf = (file: string) => readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { task: string; traceId: string; spanId: string; recording: boolean });
const logOf = async (sb: Sandbox, runId: string, task: string) => (await exited(cliSpawn(sb, ["logs", runId, task]))).out;

/** The spans of one run's trace, checked for the shape every traced run has; returns them by name. */
function checkRunTrace(runId: string, state: string): Map<string, ReceivedSpan> {
  const { traceId, spanId } = ids(runId);
  const spans = receiver.spans.filter((s) => s.traceId === traceId);
  const byName = new Map(spans.map((s) => [s.name, s]));
  const run = byName.get("run traced");
  assert.ok(run, `a run span in trace ${traceId}; got ${JSON.stringify(spans.map((s) => s.name))}`);
  assert.equal(run.spanId, spanId, "the run span's id is derived from the run id");
  assert.equal(run.parentSpanId, undefined, "the run span is the trace's root");
  assert.equal(run.attributes["sluice.run_id"], runId);
  assert.equal(run.attributes["sluice.dag_id"], "traced");
  assert.equal(run.attributes["sluice.state"], state);
  assert.equal(run.service, "sluice-test");
  for (const task of ["inproc", "py", "child"]) {
    const t = byName.get(`task ${task}`);
    assert.ok(t, `a span of task ${task}; got ${JSON.stringify(spans.map((s) => s.name))}`);
    assert.equal(t.parentSpanId, spanId, `task ${task}'s span is under the run's`);
    assert.deepEqual(
      [t.attributes["sluice.run_id"], t.attributes["sluice.dag_id"], t.attributes["sluice.task_id"], t.attributes["sluice.map_index"], t.attributes["sluice.attempt"], t.attributes["sluice.state"]],
      [runId, "traced", task, -1, 1, "success"],
    );
    assert.equal(typeof t.attributes["sluice.queue_wait_ms"], "number");
    assert.ok(t.startMs >= run.startMs && t.endMs <= run.endMs, `task ${task} within the run's time`);
  }
  const user = byName.get("user work");
  assert.ok(user, "the task's own span was exported");
  assert.equal(user.parentSpanId, byName.get("task inproc")!.spanId, "a task's own span nests under its attempt's");
  return byName;
}

test("sluice run with OTEL_EXPORTER_OTLP_ENDPOINT: a run span with its attempts' spans under it; TRACEPARENT and ctx.span name the attempt's span", { skip: noPython }, async () => {
  const sb = tracedSandbox();
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_SERVICE_NAME: "sluice-test", SLUICE_PYTHON: PYTHON };
  const r = await exited(cliSpawn(sb, ["run", "traced", "--json"], env));
  assert.equal(r.code, 0, r.out);
  const runId = (JSON.parse(r.stdout) as { runId: string }).runId;
  // flushed before the process exited: nothing to wait for
  const spans = checkRunTrace(runId, "success");
  const { traceId } = ids(runId);
  const m = marksOf(sb.marks);
  assert.deepEqual(m.find((x) => x.task === "inproc"), { task: "inproc", traceId, spanId: spans.get("task inproc")!.spanId, recording: true });
  // a process-isolated child: its ctx.span carries the parent's attempt span (recording is the parent's)
  assert.deepEqual(m.find((x) => x.task === "child"), { task: "child", traceId, spanId: spans.get("task child")!.spanId, recording: false });
  assert.match(await logOf(sb, runId, "py"), new RegExp(`TRACEPARENT=00-${traceId}-${spans.get("task py")!.spanId}-01`));
});

test("a run triggered by one process and run by a traced worker: the worker emits the run span, with the run's start from the store", { skip: noPython }, async () => {
  const sb = tracedSandbox();
  const t = await exited(cliSpawn(sb, ["trigger", "traced"]));
  assert.equal(t.code, 0, t.out);
  const runId = t.stdout.trim();
  const [created] = query<{ started_at: number | null; created_at: number }>(sb, "select started_at, created_at from runs where run_id = ?", runId);
  const env = { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_SERVICE_NAME: "sluice-test", SLUICE_PYTHON: PYTHON };
  const w = cliSpawn(sb, ["worker"], env);
  const done = exited(w);
  try {
    await waitFor(() => receiver.spans.some((s) => s.name === "run traced" && s.traceId === ids(runId).traceId), 60_000, "the run span from the worker");
  } finally {
    w.kill("SIGTERM");
  }
  assert.equal((await done).code, 0);
  const run = checkRunTrace(runId, "success").get("run traced")!;
  const [row] = query<{ started_at: number; ended_at: number }>(sb, "select started_at, ended_at from runs where run_id = ?", runId);
  assert.equal(run.startMs, row!.started_at ?? created!.created_at, "the run span starts when the store says the run started");
  assert.equal(run.endMs, row!.ended_at);
});

test("tracing off (OTEL_SDK_DISABLED=true, even with an endpoint): no request, ctx.span records nothing, no TRACEPARENT", { skip: noPython }, async () => {
  const sb = tracedSandbox();
  const before = receiver.requests;
  const r = await exited(cliSpawn(sb, ["run", "traced", "--json"], { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: "true", OTEL_BSP_SCHEDULE_DELAY: "50", SLUICE_PYTHON: PYTHON }));
  assert.equal(r.code, 0, r.out);
  const runId = (JSON.parse(r.stdout) as { runId: string }).runId;
  assert.equal(receiver.requests, before, "no request reached the receiver");
  const zeros = { traceId: "0".repeat(32), spanId: "0".repeat(16), recording: false };
  assert.deepEqual(marksOf(sb.marks), [{ task: "inproc", ...zeros }, { task: "child", ...zeros }]);
  assert.match(await logOf(sb, runId, "py"), /TRACEPARENT=none/);
});
