/**
 * The tracking channel of shell and Python tasks: a per-attempt file named by SLUICE_TRACK_FILE, to which
 * the task (python/sluice_track.py, or any program) appends one JSON line per call, read into the
 * attempt's tracker when the program ends — also when it failed, so what it recorded before is kept.
 * PYTHONPATH gets the folder of sluice_track.py, so `import sluice_track` needs nothing installed.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SluiceError } from "../errors.js";
import type { AttemptTracker } from "./tracker.js";

/** python/ at the package root, from src/worker or dist/worker alike. */
const PYTHON_DIR = fileURLToPath(new URL("../../python/", import.meta.url));

export interface TrackChannel {
  env: Record<string, string>;
  /** Read what the task recorded into `tracker`, then remove the file. */
  drain(tracker: AttemptTracker): Promise<void>;
}

export async function openTrackChannel(base: Record<string, string>): Promise<TrackChannel> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-track-"));
  const file = join(dir, "track.jsonl");
  const pythonPath = [PYTHON_DIR.replace(/[\\/]$/, ""), base.PYTHONPATH].filter(Boolean).join(delimiter);
  return {
    env: { SLUICE_TRACK_FILE: file, PYTHONPATH: pythonPath },
    async drain(tracker) {
      try {
        const text = await readFile(file, "utf8").catch(() => "");
        const lines = text.split("\n");
        for (const [i, line] of lines.entries()) {
          if (!line.trim()) continue;
          await apply(tracker, line, i + 1);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

async function apply(tracker: AttemptTracker, line: string, n: number): Promise<void> {
  let r: { type?: unknown; name?: unknown; value?: unknown; step?: unknown; path?: unknown; mediaType?: unknown };
  try {
    r = JSON.parse(line) as typeof r;
  } catch {
    throw new SluiceError("INVALID_INPUT", `SLUICE_TRACK_FILE line ${n} is not JSON: ${line.slice(0, 120)}`);
  }
  const name = r.name as string;
  if (r.type === "param") tracker.param(name, r.value as never);
  else if (r.type === "metric") tracker.metric(name, r.value as number, r.step === undefined || r.step === null ? {} : { step: r.step as number });
  else if (r.type === "tag") tracker.tag(name, String(r.value));
  else if (r.type === "artifact" && typeof r.path === "string") await tracker.artifact(name, r.path, typeof r.mediaType === "string" ? { mediaType: r.mediaType } : {});
  else throw new SluiceError("INVALID_INPUT", `SLUICE_TRACK_FILE line ${n}: unknown record ${line.slice(0, 120)} (type must be param, metric, tag or artifact)`);
}
