/**
 * The DAG processor: DAG files are imported in a child process, never in the scheduler's own, so a file
 * that loops forever, leaks or crashes at import time cannot stall the scheduling of the others (Airflow's
 * DAG processor idea). A fresh child per batch also means every parse sees the files' current code, with
 * no module cache to invalidate. A file that takes longer than the timeout is reported as an import error
 * and the rest of the batch goes on in a new child.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { DagSpec } from "../core/dagSpec.js";
import type { DagBundle } from "../executors/dagBundle.js";

export interface ParsedDag {
  dagId: string;
  version: string;
  spec: DagSpec;
  /** The params a scheduled run gets; null when the schema has a param without a default. */
  defaultParams: Record<string, unknown> | null;
  paramsError: string | null;
}

export interface ParsedFile {
  file: string;
  dags: ParsedDag[];
  error: { message: string; line: number | null } | null;
  /**
   * The file's code bundle (executors/dagBundle.ts) that the runs of its DAGs keep; null with `codeError`
   * when it does not bundle (their runs then import the file as it is).
   */
  code?: DagBundle | null;
  codeError?: string;
}

/** What a DAG processor child is sent: the files to parse, and where compiled modules are kept. */
export interface ProcessorRequest {
  files: string[];
  cacheDir?: string;
}

export type ProcessorMessage = { type: "start"; file: string } | ({ type: "file" } & ParsedFile);

const FROM_SOURCE = import.meta.url.endsWith(".ts");
const MAIN = fileURLToPath(new URL(FROM_SOURCE ? "./dagProcessorMain.ts" : "./dagProcessorMain.js", import.meta.url));

/** Parse `files` in child processes; every file gets a result, in the order given. */
export async function parseDagFiles(files: readonly string[], opts: { timeoutMs?: number; cacheDir?: string } = {}): Promise<ParsedFile[]> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const results = new Map<string, ParsedFile>();
  let rest = [...files];
  while (rest.length > 0) {
    const done = await parseBatch(rest, timeoutMs, opts.cacheDir);
    for (const r of done.results) results.set(r.file, r);
    if (done.stuck) {
      results.set(done.stuck, {
        file: done.stuck,
        dags: [],
        error: { message: `importing the file took longer than ${Math.round(timeoutMs / 1000)} s (an endless loop or a hanging await at import time?)`, line: null },
      });
    }
    rest = rest.filter((f) => !results.has(f));
  }
  return files.map((f) => results.get(f)!);
}

function parseBatch(files: string[], timeoutMs: number, cacheDir: string | undefined): Promise<{ results: ParsedFile[]; stuck: string | null }> {
  return new Promise((resolve) => {
    const results: ParsedFile[] = [];
    let current: string | null = null;
    let timer: NodeJS.Timeout | null = null;
    let stderr = "";
    const child = fork(MAIN, [], {
      serialization: "advanced",
      execArgv: FROM_SOURCE ? ["--import", "tsx"] : [],
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    };
    child.on("message", (m: ProcessorMessage) => {
      if (m.type === "start") {
        current = m.file;
        arm();
      } else {
        const { type: _type, ...parsed } = m;
        results.push(parsed);
        current = null;
      }
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (current && signal === "SIGKILL") return resolve({ results, stuck: current });
      if (current) {
        // the child died while importing `current` (process.exit, a native crash): that file's error
        results.push({ file: current, dags: [], error: { message: `importing the file ended the process (${signal ?? `exit code ${code}`}) ${stderr.trim()}`.trim(), line: null } });
      } else if (results.length < files.length && code !== 0) {
        const next = files[results.length]!;
        results.push({ file: next, dags: [], error: { message: `the DAG processor failed: ${stderr.trim() || `exit code ${code}`}`, line: null } });
      }
      resolve({ results, stuck: null });
    });
    const request: ProcessorRequest = { files, ...(cacheDir ? { cacheDir } : {}) };
    child.send(request);
  });
}
