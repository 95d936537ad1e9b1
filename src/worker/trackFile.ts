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
import type { ModelRegistry, RegisterModelOptions } from "../dsl/types.js";
import type { AttemptTracker } from "./tracker.js";

/** python/ at the package root, from src/worker or dist/worker alike. */
const PYTHON_DIR = fileURLToPath(new URL("../../python/", import.meta.url));

export interface TrackChannel {
  env: Record<string, string>;
  /**
   * Read what the task recorded into `tracker`, then remove the file. `models`: where its model
   * registrations go — only for a task that succeeded (null: they are dropped, as a failed TypeScript
   * task's never happen).
   */
  drain(tracker: AttemptTracker, models?: ModelRegistry | null): Promise<void>;
}

export async function openTrackChannel(base: Record<string, string>): Promise<TrackChannel> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-track-"));
  const file = join(dir, "track.jsonl");
  const pythonPath = [PYTHON_DIR.replace(/[\\/]$/, ""), base.PYTHONPATH].filter(Boolean).join(delimiter);
  return {
    env: { SLUICE_TRACK_FILE: file, PYTHONPATH: pythonPath },
    async drain(tracker, models = null) {
      try {
        const text = await readFile(file, "utf8").catch(() => "");
        const lines = text.split("\n");
        for (const [i, line] of lines.entries()) {
          if (!line.trim()) continue;
          await apply(tracker, models, line, i + 1);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

async function apply(tracker: AttemptTracker, models: ModelRegistry | null, line: string, n: number): Promise<void> {
  let r: { type?: unknown; name?: unknown; value?: unknown; step?: unknown; path?: unknown; mediaType?: unknown; flavor?: unknown; metrics?: unknown; params?: unknown; signature?: unknown; framework?: unknown; description?: unknown };
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
  else if (r.type === "model") {
    // sluice_track.register_model: checked and stored like ctx.models.register (worker/models.ts)
    if (!models) return;
    const opt = <T>(v: unknown): T | undefined => (v === undefined || v === null ? undefined : (v as T));
    await models.register(name, {
      artifact: typeof r.path === "string" ? r.path : (undefined as never),
      flavor: r.flavor as RegisterModelOptions["flavor"],
      ...(opt(r.metrics) ? { metrics: r.metrics as Record<string, number> } : {}),
      ...(opt(r.params) ? { params: r.params as RegisterModelOptions["params"] } : {}),
      ...(opt(r.signature) ? { signature: r.signature as Record<string, unknown> } : {}),
      ...(opt(r.framework) ? { framework: r.framework as string } : {}),
      ...(opt(r.description) ? { description: r.description as string } : {}),
    });
  } else throw new SluiceError("INVALID_INPUT", `SLUICE_TRACK_FILE line ${n}: unknown record ${line.slice(0, 120)} (type must be param, metric, tag, artifact or model)`);
}
