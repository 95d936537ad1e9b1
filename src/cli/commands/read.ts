/** Read commands: `dags list|show`, `runs list|show|cancel`, `logs`, `db migrate` (and `db clean`, in db.ts). Every read has --json with camelCase fields. */
import { redactSecretParams } from "../../secrets/params.js";
import type { Command } from "commander";
import { cliActor } from "../../app/actor.js";
import { setDagPaused } from "../../app/dags.js";
import { cancelRun } from "../../app/runs.js";
import { formatDuration } from "../../core/duration.js";
import { RUN_STATES, type RunState } from "../../core/states.js";
import type { TaskSpec } from "../../core/dagSpec.js";
import { toPreview } from "../../artifacts/serialize.js";
import { SluiceError } from "../../errors.js";
import type { Sluice } from "../../sluice.js";
import type { AttemptRecord } from "../../store/store.js";
import type { LogLine } from "../../logs/attemptLog.js";
import { readWholeLog, type LogRef } from "../../logs/logStore.js";
import { quietAttemptLines } from "../../core/tries.js";
import { decodeOutputs } from "../../worker/outputs.js";
import { explainMissingDag, withSluice, type GlobalOptions } from "../context.js";
import { escapeControls } from "../../core/controlChars.js";
import { colorState, duration, iso, printJson, table } from "../format.js";
import { relative } from "node:path";
import { describeAssetSchedule, type AssetSchedule } from "../../core/assets.js";
import { describeSchedule } from "../../core/schedules.js";
import { registerDbClean } from "./db.js";
import { registerDagsCheck } from "./check.js";

export function registerDags(program: Command, globals: () => GlobalOptions): void {
  const dags = program.command("dags").description("DAGs found in the DAGs folder");
  registerDagsCheck(dags, globals);
  dags
    .command("list")
    .description("list DAGs and import errors (exit 1 when a file failed to import)")
    .option("--json", "print JSON")
    .action(async (o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      process.exitCode = await withSluice(opts, true, async (s) => {
        const rows = new Map((await s.store.dags.list()).map((r) => [r.dagId, r]));
        const list = [...s.bag.dags.values()]
          .map(({ dag, file }) => {
            const row = rows.get(dag.id);
            return {
              dagId: dag.id,
              file: relative(s.bag.dir, file),
              taskCount: dag.spec.tasks.length,
              description: dag.spec.description,
              owner: dag.spec.owner,
              tags: dag.spec.tags,
              version: dag.version,
              schedule: dag.spec.schedule ? describeSchedule(dag.spec.schedule) : null,
              assetSchedule: dag.spec.assetSchedule ?? null,
              events: dag.spec.events ?? [],
              isPaused: row?.isPaused ?? false,
              // known once a scheduler has seen the DAG
              nextDataInterval: row?.nextIntervalStart != null && row.nextIntervalEnd != null ? { start: iso(row.nextIntervalStart), end: iso(row.nextIntervalEnd) } : null,
            };
          })
          .sort((a, b) => a.dagId.localeCompare(b.dagId));
        if (opts.json) printJson({ dags: list, importErrors: s.bag.errors });
        else {
          process.stdout.write(
            `${table(
              ["DAG", "TASKS", "SCHEDULE", "NEXT RUN", "PAUSED", "FILE"],
              list.map((d) => [d.dagId, d.taskCount, runsOn(d), d.nextDataInterval?.end ?? "", d.isPaused ? "yes" : "", d.file]),
            )}\n`,
          );
          for (const e of s.bag.errors) process.stderr.write(`import error: ${e.file}${e.line ? `:${e.line}` : ""}: ${e.message}\n`);
        }
        return s.bag.errors.length ? 1 : 0;
      });
    });
  for (const [name, paused] of [
    ["pause", true],
    ["unpause", false],
  ] as const) {
    dags
      .command(`${name} <dagId>`)
      .description(paused ? "stop creating scheduled runs of a DAG (runs already going go on)" : "create scheduled runs of a DAG again")
      .option("--json", "print JSON")
      .action(async (dagId: string, o: { json?: boolean }) => {
        const opts = { ...globals(), ...o };
        // loads the DAGs folder: a DAG of it that no scheduler registered yet is registered and paused (app/dags)
        await withSluice(opts, true, async (s) => {
          const row = await setDagPaused(s, cliActor(), { dagId, paused });
          if (opts.json) printJson({ dagId, isPaused: row.isPaused });
          else process.stdout.write(`DAG ${dagId} is ${row.isPaused ? "paused" : "unpaused"}\n`);
        });
      });
  }
  dags
    .command("show <dagId>")
    .description("tasks and edges of a DAG (--versions: the versions runs were created with)")
    .option("--versions", "list the DAG's versions instead")
    .option("--json", "print JSON")
    .action(async (dagId: string, o: { json?: boolean; versions?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, true, async (s) => {
        if (opts.versions) {
          const versions = await s.store.dags.listVersions(dagId);
          const current = s.bag.dags.get(dagId)?.dag.version ?? null;
          if (versions.length === 0 && !current) explainMissingDag(s, dagId);
          const rows = versions.map((v) => ({ version: v.version, createdAt: iso(v.createdAt), current: v.version === current }));
          if (opts.json) return printJson({ dagId, current, versions: rows });
          process.stdout.write(`${table(["VERSION", "FIRST SEEN", ""], rows.map((v) => [v.version, v.createdAt, v.current ? "current" : ""]))}\n`);
          if (current && !versions.some((v) => v.version === current)) process.stdout.write(`current file version ${current} has no runs yet\n`);
          return;
        }
        const { dag, file } = s.bag.dags.get(dagId) ?? explainMissingDag(s, dagId);
        const spec = dag.spec;
        const edges = spec.tasks.flatMap((t) => t.downstream.map((d) => ({ from: t.id, to: d })));
        if (opts.json) {
          printJson({ dagId, file: relative(s.bag.dir, file), version: dag.version, ...spec, edges });
          return;
        }
        const out = (t: string) => process.stdout.write(`${t}\n`);
        out(`DAG ${dagId}  (${relative(s.bag.dir, file)}, version ${dag.version})`);
        if (spec.description) out(spec.description);
        if (spec.tags.length) out(`tags: ${spec.tags.join(", ")}`);
        out(`schedule: ${spec.schedule ? describeSchedule(spec.schedule) : spec.assetSchedule ? `on assets ${describeAssetSchedule(spec.assetSchedule)}` : "none (triggered runs only)"}${spec.schedule ? `, catchup ${spec.catchup}, max ${spec.maxActiveRuns} active runs` : ""}`);
        if (spec.events?.length) out(`events: ${spec.events.join(", ")}`);
        const produced = spec.tasks.flatMap((t) => (t.produces ?? []).map((a) => `${a} (${t.id})`));
        if (produced.length) out(`produces: ${produced.join(", ")}`);
        out("");
        out(
          table(
            ["TASK", "KIND", "TRIGGER RULE", "RETRIES", "UPSTREAM"],
            spec.tasks.map((t) => [t.map ? `${t.id}[*]` : t.id, taskKind(t), t.triggerRule, t.retry.retries, t.upstream.join(", ")]),
          ),
        );
      });
    });
}

export function registerRuns(runs: Command, globals: () => GlobalOptions): void {
  runs
    .command("list")
    .description("recent runs, newest first")
    .option("--dag <dagId>", "only this DAG's runs")
    .option("--state <state>", `only runs in this state (${RUN_STATES.join(", ")})`)
    .option("--limit <n>", "at most this many", "25")
    .option("--offset <n>", "skip this many", "0")
    .option("--json", "print JSON")
    .action(async (o: { dag?: string; state?: string; limit: string; offset: string; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      const limit = positiveInt("--limit", opts.limit, 1, 1000);
      const offset = positiveInt("--offset", opts.offset, 0, Number.MAX_SAFE_INTEGER);
      if (opts.state && !(RUN_STATES as readonly string[]).includes(opts.state)) throw new SluiceError("USAGE", `--state must be one of ${RUN_STATES.join(", ")}`);
      await withSluice(opts, false, async (s) => {
        const runs = await s.store.runs.list({
          ...(opts.dag ? { dagId: opts.dag } : {}),
          ...(opts.state ? { states: [opts.state as RunState] } : {}),
          limit,
          offset,
        });
        const rows = runs.map((r) => ({
          runId: r.runId,
          dagId: r.dagId,
          state: r.state,
          runType: r.runType,
          logicalDate: iso(r.logicalDate),
          startedAt: iso(r.startedAt),
          endedAt: iso(r.endedAt),
          corrupt: r.corrupt,
        }));
        if (opts.json) return printJson({ runs: rows, limit, offset });
        process.stdout.write(
          `${table(
            ["RUN", "DAG", "STATE", "STARTED", "DURATION"],
            runs.map((r) => [r.runId, r.dagId, r.corrupt ? `${r.state} (corrupt row: sluice runs show ${r.runId})` : colorState(r.state), iso(r.startedAt), duration(r.startedAt, r.endedAt)]),
          )}\n`,
        );
      });
    });
  runs
    .command("show <runId>")
    .description("a run: its task instances and every attempt")
    .option("--json", "print JSON")
    .action(async (runId: string, o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const detail = await runDetail(s, runId);
        if (opts.json) return printJson(detail);
        const out = (t: string) => process.stdout.write(`${t}\n`);
        out(`run ${detail.runId} of ${detail.dagId}: ${colorState(detail.state)}${detail.stateReason ? ` (${escapeControls(detail.stateReason)})` : ""}`);
        out(escapeControls(`version ${detail.dagVersion}, ${detail.runType}, logical date ${detail.logicalDate}, params ${JSON.stringify(detail.params)}${detail.triggeredBy ? `, triggered by ${detail.triggeredBy}` : ""}`));
        if (detail.corrupt) out(`CORRUPT ROW: ${escapeControls(detail.corrupt)}`);
        if (detail.note) out(`note by ${escapeControls(detail.note.updatedBy)} (${detail.note.updatedAt}): ${escapeControls(detail.note.note)}`);
        for (const t of detail.tasks) {
          if (t.note) out(`note on ${t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId} by ${escapeControls(t.note.updatedBy)} (${t.note.updatedAt}): ${escapeControls(t.note.note)}`);
        }
        for (const m of detail.deadlineMisses) {
          out(`DEADLINE MISSED: ${m.taskId === null ? "the run" : `task ${m.taskId}${m.mapIndex >= 0 ? `[${m.mapIndex}]` : ""}`} was not done by ${m.deadlineAt} (noticed ${m.missedAt})`);
        }
        if (detail.parkedTasks > 0) out(`${detail.parkedTasks} parked task${detail.parkedTasks === 1 ? "" : "s"} in the dead-letter queue: sluice dlq list --run ${detail.runId}`);
        out("");
        out(
          table(
            ["TASK", "STATE", "ATTEMPTS", "DURATION", "ERROR"],
            detail.tasks.map((t) => {
              const last = t.attempts[t.attempts.length - 1];
              return [
                t.mapIndex >= 0 ? `${t.taskId}[${t.mapIndex}]` : t.taskId,
                // a cache hit ran nothing: say so beside its state
                `${colorState(t.state)}${last && last.cachedFrom !== null ? " (cached)" : ""}`,
                t.attempts.length,
                t.durationMs === null ? "" : formatDuration(t.durationMs),
                t.waitingReason !== null
                  ? t.waitingReason
                  : t.nextPokeAt !== null
                  ? `waiting: ${t.pokes} poke${t.pokes === 1 ? "" : "s"}, next at ${t.nextPokeAt}`
                  : last?.state === "failed"
                    ? `${last.errorCode}: ${oneLine(last.errorMessage ?? "")}`
                    : last?.state === "skipped"
                      ? `skipped: ${oneLine(last.errorMessage ?? "")}`
                      : "",
              ];
            }),
          ),
        );
        if (detail.callbacks.length) {
          out("");
          out(
            table(
              ["CALLBACK", "EVENT", "TASK", "STATE", "TRIES", "LAST ERROR"],
              detail.callbacks.map((c) => [escapeControls(c.name), c.event, c.taskId === null ? "" : c.mapIndex >= 0 ? `${c.taskId}[${c.mapIndex}]` : c.taskId, c.state, c.tries, c.lastError ? oneLine(escapeControls(c.lastError)) : ""]),
            ),
          );
        }
      });
    });
  runs
    .command("cancel <runId>")
    .description("fail a run: running tasks are aborted, the rest is not started")
    .option("--json", "print JSON")
    .action(async (runId: string, o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        const run = await cancelRun(s, cliActor(), { runId });
        if (opts.json) printJson({ runId, state: run.state, stateReason: run.stateReason });
        else process.stdout.write(`run ${runId}: ${run.state} (${run.stateReason})\n`);
      });
    });
}

async function runDetail(s: Sluice, runId: string) {
  const run = await s.store.runs.get(runId);
  if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}" (see: sluice runs list)`);
  const [tis, attempts, misses, callbacks, note, taskNotes] = await Promise.all([
    s.store.taskInstances.list(runId),
    s.store.attempts.list(runId),
    s.store.deadlines.ofRun(runId),
    s.store.callbacks.ofRun(runId),
    s.store.notes.ofRun(runId),
    s.store.notes.ofTasks(runId),
  ]);
  const notes = new Map(taskNotes.map((n) => [`${n.taskId}\0${n.mapIndex}`, { note: n.note, updatedBy: n.updatedBy, updatedAt: iso(n.updatedAt) }]));
  const spec = (await s.engine.specFor(runId)).spec;
  const order = new Map(spec.tasks.map((t, i) => [t.id, i]));
  tis.sort((a, b) => (order.get(a.taskId) ?? 0) - (order.get(b.taskId) ?? 0) || a.mapIndex - b.mapIndex);
  const byTi = new Map<string, AttemptRecord[]>();
  for (const a of attempts) {
    const k = `${a.taskId}\0${a.mapIndex}`;
    byTi.set(k, [...(byTi.get(k) ?? []), a]);
  }
  const waiting = run.state === "running" ? await s.engine.waitingReasons(runId, tis) : new Map<string, string>();
  return {
    runId: run.runId,
    dagId: run.dagId,
    dagVersion: run.dagVersion,
    state: run.state,
    stateReason: run.stateReason,
    runType: run.runType,
    triggeredBy: run.triggeredBy,
    logicalDate: iso(run.logicalDate),
    params: redactSecretParams(run.params),
    corrupt: run.corrupt,
    /** Failed task instances parked in the dead-letter queue (`deadLetter: "park"`): the run did not fail for them. */
    parkedTasks: await s.store.deadLetters.parkedOfRun(runId),
    createdAt: iso(run.createdAt),
    startedAt: iso(run.startedAt),
    endedAt: iso(run.endedAt),
    /** A person's note on the run (markdown), or null. */
    note: note && { note: note.note, updatedBy: note.updatedBy, updatedAt: iso(note.updatedAt) },
    /** Deadlines missed (decision 0019): the run's own (taskId null) or a task's. */
    deadlineMisses: misses.map((m) => ({ taskId: m.taskId || null, mapIndex: m.mapIndex, deadlineAt: iso(m.deadlineAt), missedAt: iso(m.missedAt) })),
    /** Callbacks and notifiers that fell due, and how their tries went. */
    callbacks: callbacks.map((c) => ({ name: c.name, event: c.event, taskId: c.taskId || null, mapIndex: c.mapIndex, state: c.state, tries: c.tries, lastError: c.lastError })),
    tasks: tis.map((t) => ({
      taskId: t.taskId,
      mapIndex: t.mapIndex,
      state: t.state,
      tryNumber: t.tryNumber,
      startedAt: iso(t.startedAt),
      endedAt: iso(t.endedAt),
      durationMs: t.startedAt !== null && t.endedAt !== null ? t.endedAt - t.startedAt : null,
      changedBy: t.changedBy,
      /** Why a ready instance cannot start anywhere (no worker serves its queue…), or null. */
      waitingReason: waiting.get(`${t.taskId}\0${t.mapIndex}`) ?? null,
      note: notes.get(`${t.taskId}\0${t.mapIndex}`) ?? null,
      /** Sensors: pokes that found the condition unmet, and when the next one is due while it waits. */
      pokes: t.pokeCount,
      nextPokeAt: t.state === "up_for_reschedule" ? iso(t.readyAt) : null,
      attempts: (byTi.get(`${t.taskId}\0${t.mapIndex}`) ?? []).map((a) => ({
        attempt: a.tryNumber,
        attemptId: a.attemptId,
        state: a.state,
        startedAt: iso(a.startedAt),
        endedAt: iso(a.endedAt),
        workerId: a.workerId,
        hostname: a.hostname,
        pid: a.pid,
        errorCode: a.errorCode,
        errorMessage: a.errorMessage,
        errorStack: a.errorStack,
        exitCode: a.exitCode,
        outputSize: a.outputSize,
        outputRef: a.outputRef,
        cachedFrom: a.cachedFrom,
      })),
    })),
  };
}

export function registerTasks(program: Command, globals: () => GlobalOptions): void {
  program
    .command("output <runId> <taskId>")
    .description("a task's output (a preview: binary data is shown by size)")
    .option("--json", "print JSON")
    .action(async (runId: string, taskId: string, o: { json?: boolean }) => {
      const opts = { ...globals(), ...o };
      await withSluice(opts, false, async (s) => {
        if (!(await s.store.runs.get(runId))) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}" (see: sluice runs list)`);
        const rows = await s.store.attempts.outputs(runId, taskId);
        if (rows.length === 0) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task "${taskId}"`);
        const spec = (await s.engine.specFor(runId)).byId.get(taskId);
        const values = await decodeOutputs(rows, s.engine.artifacts, Boolean(spec?.map));
        const value = spec?.map ? values : values[0];
        printJson(opts.json ? { runId, taskId, output: toPreview(value) } : toPreview(value));
      });
    });
}

export function registerLogs(program: Command, globals: () => GlobalOptions): void {
  program
    .command("logs <runId> <taskId>")
    .description("an attempt's log (default: the latest attempt)")
    .option("--attempt <n>", "which attempt (1 is the first)")
    .option("--map-index <i>", "which map index of a mapped task", "-1")
    .option("-f, --follow", "keep printing new lines until the attempt ends")
    .option("--json", "print JSON")
    .action(async (runId: string, taskId: string, o: { attempt?: string; mapIndex: string; follow?: boolean; json?: boolean }) => {
      const opts = { ...globals(), ...o };
      const mapIndex = positiveInt("--map-index", opts.mapIndex, -1, Number.MAX_SAFE_INTEGER);
      await withSluice(opts, false, async (s) => {
        const run = await s.store.runs.get(runId);
        if (!run) throw new SluiceError("RUN_NOT_FOUND", `no run with id "${runId}" (see: sluice runs list)`);
        const attempts = await s.store.attempts.list(runId, taskId, mapIndex);
        if (attempts.length === 0) {
          const tis = (await s.store.taskInstances.list(runId)).filter((t) => t.taskId === taskId);
          if (tis.length === 0) throw new SluiceError("TASK_NOT_FOUND", `run "${runId}" has no task "${taskId}"`);
          if (mapIndex === -1 && tis.every((t) => t.mapIndex >= 0)) throw new SluiceError("USAGE", `task "${taskId}" is mapped: pass --map-index 0..${tis.length - 1}`);
          if (mapIndex >= 0 && !tis.some((t) => t.mapIndex === mapIndex)) {
            const mapped = tis.filter((t) => t.mapIndex >= 0);
            throw new SluiceError(
              "USAGE",
              mapped.length
                ? `task "${taskId}" has no map index ${mapIndex}: pass --map-index 0..${mapped.length - 1}`
                : `task "${taskId}" is not mapped: leave out --map-index`,
            );
          }
          throw new SluiceError("ATTEMPT_NOT_FOUND", `task "${taskId}"${mapIndex >= 0 ? `[${mapIndex}]` : ""} of run "${runId}" has not started (state ${tis[0]!.state})`);
        }
        let attempt = attempts[attempts.length - 1]!;
        if (opts.attempt !== undefined) {
          const n = positiveInt("--attempt", opts.attempt, 1, 1_000_000);
          attempt = attempts.find((a) => a.tryNumber === n) ?? throwAttempt(taskId, n, attempts.length);
        }
        const ref: LogRef = { attemptId: attempt.attemptId, dagId: run.dagId, runId, taskId, mapIndex, tryNumber: attempt.tryNumber };
        // a task that wrote nothing still shows its attempt's start and end (core/tries.ts)
        const quiet = async () => {
          const ti = (await s.store.taskInstances.list(runId)).find((t) => t.taskId === taskId && t.mapIndex === mapIndex);
          const spec = (await s.engine.specFor(runId)).byId.get(taskId);
          const now = (await s.store.attempts.get(attempt.attemptId)) ?? attempt;
          return quietAttemptLines({ ...now, tryBase: ti && now.tryNumber > ti.tryBase ? ti.tryBase : 0, maxTries: spec ? spec.retry.retries + 1 : null });
        };
        if (!opts.follow) {
          let lines: LogLine[] = await readWholeLog(s.engine.logs, ref);
          if (lines.length === 0) lines = await quiet();
          if (opts.json) printJson({ runId, taskId, mapIndex, attempt: attempt.tryNumber, state: attempt.state, lines });
          else for (const l of lines) process.stdout.write(formatLine(l));
          return;
        }
        const emit = (l: LogLine) => process.stdout.write(opts.json ? `${JSON.stringify(l)}\n` : formatLine(l));
        if ((await follow(s, ref, emit)) === 0) for (const l of await quiet()) emit(l);
      });
    });
}

/** Print the log as it grows, until the attempt has ended and everything written is printed; the lines printed. */
async function follow(s: Sluice, ref: LogRef, emit: (l: LogLine) => void): Promise<number> {
  let offset = 0;
  let printed = 0;
  for (;;) {
    // "ended" first: the lines written before the end are then surely stored
    const ended = (await s.store.attempts.get(ref.attemptId))?.state !== "running";
    const page = await s.engine.logs.read(ref, offset, 10_000);
    for (const l of page.lines) emit(l);
    printed += page.lines.length;
    offset = page.nextOffset;
    if (page.lines.length > 0 && page.nextOffset < page.end) continue; // more is stored already
    if (ended) return printed;
    await new Promise((r) => setTimeout(r, 200));
  }
}

function formatLine(l: LogLine): string {
  // one stored line is one printed line, and a task's escapes never reach the terminal (core/controlChars)
  return `${l.t ? new Date(l.t).toISOString() : ""} ${l.level.toUpperCase().padEnd(6)} ${escapeControls(l.msg)}\n`;
}

function throwAttempt(taskId: string, n: number, count: number): never {
  throw new SluiceError("ATTEMPT_NOT_FOUND", `task "${taskId}" has no attempt ${n}; it has ${count}`);
}

export function registerDb(program: Command, globals: () => GlobalOptions): void {
  const db = program.command("db").description("the metadata database");
  db.command("migrate")
    .description("bring the database schema up to date (Sluice also does this when it starts)")
    .action(async () => {
      await withSluice(globals(), false, async (s) => {
        const applied = await s.store.migrate();
        process.stdout.write(`database ${s.store.location} is up to date${applied.length ? ` (applied ${applied.join(", ")})` : ""}\n`);
      }, { migrate: false });
    });
  registerDbClean(db, globals);
}

function positiveInt(flag: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new SluiceError("USAGE", `${flag} must be a whole number from ${min}${max < 1e9 ? ` to ${max}` : ""}, got "${text}"`);
  return n;
}

function oneLine(s: string): string {
  const first = s.split("\n")[0]!;
  return first.length > 100 ? `${first.slice(0, 99)}…` : first;
}

/** The SCHEDULE column of `dags list`: a cron or interval, the assets, the events — or manual. */
function runsOn(d: { schedule: string | null; assetSchedule: AssetSchedule | null; events: string[] }): string {
  const parts = [d.schedule ?? (d.assetSchedule ? `assets ${describeAssetSchedule(d.assetSchedule)}` : null), d.events.length ? `events ${d.events.join(", ")}` : null];
  return parts.filter(Boolean).join("; ") || "manual";
}

/** `dags show`'s KIND: the kind, with how it runs and its setup/teardown role (core/setupTeardown.ts). */
function taskKind(t: TaskSpec): string {
  const notes = [
    ...(t.isolation === "process" ? ["process"] : []),
    ...(t.setup ? ["setup"] : []),
    ...(t.teardown ? [t.onFailureFailDagRun ? "teardown, fails the run" : "teardown"] : []),
  ];
  return notes.length ? `${t.kind} (${notes.join(", ")})` : t.kind;
}
