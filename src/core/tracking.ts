/**
 * Experiment tracking's rules (pure): what a name, a param and a metric point may be. The worker's tracker
 * and a process-isolated task's (executors/childMain.ts) check the same way, so a mistake fails the task
 * where it was made, naming the metric.
 */
import { SluiceError } from "../errors.js";

const NAME = /^[A-Za-z0-9_.\-/ :]{1,200}$/;

/** A param, metric, tag or artifact name: letters, digits and `_ . - / : space`, 1-200 characters. */
export function checkTrackName(where: string, kind: "param" | "metric" | "tag" | "artifact", name: unknown): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new SluiceError("INVALID_INPUT", `${where}: ${kind} name ${JSON.stringify(name)} is not valid (1-200 letters, digits, "_", ".", "-", "/", ":" or spaces)`);
  }
  return name;
}

/** A metric point: a finite number, and a whole, non-negative step. */
export function checkMetric(where: string, name: string, value: unknown, step: unknown): void {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new SluiceError("INVALID_INPUT", `${where}: metric "${name}" must be a finite number, got ${typeof value === "number" ? String(value) : JSON.stringify(value) ?? String(value)}`);
  }
  if (step !== undefined && (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0)) {
    throw new SluiceError("INVALID_INPUT", `${where}: metric "${name}": step must be a whole number ≥ 0, got ${JSON.stringify(step)}`);
  }
}

/** A param's value as stored: JSON text (a value JSON cannot hold is refused, naming the param). */
export function paramJson(where: string, name: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw new SluiceError("INVALID_INPUT", `${where}: param "${name}" must be JSON (a string, number, boolean, null, list or object)`);
  return text;
}
