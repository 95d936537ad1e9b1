/**
 * Resource requests and capacities (`resources: { cpu: 2, memory: "4Gi", gpu: 1 }` on a task;
 * `sluice worker --resources cpu=4,memory=16Gi,gpu=1`). Memory is kept in MiB. A worker that declares no
 * capacity for a dimension has no limit on it (decision 0012).
 */
import { SluiceError, type ErrorCode } from "../errors.js";

/** What a task asks for while it runs. */
export interface ResourceRequest {
  /** CPU cores (fractions allowed). */
  cpu?: number;
  /** Bytes as a number, or "512Mi", "16Gi", "2G", "100M". */
  memory?: number | string;
  /** Whole GPUs. */
  gpu?: number;
}

/** Normalised: memory in MiB, absent dimensions 0 (requests) or unlimited (capacities). */
export interface Resources {
  cpu: number;
  memoryMb: number;
  gpu: number;
}

export type Capacity = Partial<Resources>;

const MEMORY_UNITS: Record<string, number> = {
  "": 1 / (1024 * 1024),
  k: 1000 / 1048576,
  ki: 1 / 1024,
  m: 1_000_000 / 1048576,
  mi: 1,
  g: 1e9 / 1048576,
  gi: 1024,
  t: 1e12 / 1048576,
  ti: 1024 * 1024,
};

/** "16Gi" -> 16384 (MiB); a number is bytes. */
export function parseMemory(value: number | string, field: string, code: ErrorCode = "INVALID_DAG"): number {
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value < 0) throw new SluiceError(code, `${field}: ${value} is not a number of bytes`);
    return value / 1048576;
  }
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?$/i.exec(value.trim());
  if (!m) throw new SluiceError(code, `${field}: "${value}" is not an amount of memory; use e.g. "512Mi", "16Gi" or a number of bytes`);
  return Number(m[1]) * MEMORY_UNITS[(m[2] ?? "").toLowerCase()]!;
}

/** A task's `resources` option, checked and normalised. */
export function resourceRequest(r: ResourceRequest | undefined, where: string): Resources | null {
  if (r === undefined) return null;
  if (typeof r !== "object" || r === null) throw new SluiceError("INVALID_DAG", `${where}: resources must be an object like { cpu: 2, memory: "4Gi", gpu: 1 }`);
  for (const k of Object.keys(r)) {
    if (!["cpu", "memory", "gpu"].includes(k)) throw new SluiceError("INVALID_DAG", `${where}: resources.${k} is unknown; use cpu, memory and gpu`);
  }
  const num = (v: unknown, name: string, whole: boolean): number => {
    if (v === undefined) return 0;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (whole && !Number.isInteger(v))) {
      throw new SluiceError("INVALID_DAG", `${where}: resources.${name} must be a ${whole ? "whole " : ""}number ≥ 0`);
    }
    return v;
  };
  return {
    cpu: num(r.cpu, "cpu", false),
    memoryMb: r.memory === undefined ? 0 : parseMemory(r.memory, `${where}: resources.memory`),
    gpu: num(r.gpu, "gpu", true),
  };
}

/** `cpu=4,memory=16Gi,gpu=1` (the worker's --resources flag). */
export function parseCapacity(text: string): Capacity {
  const out: Capacity = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^(cpu|memory|gpu)=(.+)$/.exec(part);
    if (!m) throw new SluiceError("USAGE", `--resources: "${part}" is not cpu=<n>, memory=<amount> or gpu=<n> (e.g. cpu=4,memory=16Gi,gpu=1)`);
    const [, key, value] = m as unknown as [string, "cpu" | "memory" | "gpu", string];
    if (key === "memory") out.memoryMb = parseMemory(value, "--resources memory", "USAGE");
    else {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0 || (key === "gpu" && !Number.isInteger(n))) throw new SluiceError("USAGE", `--resources ${key}: "${value}" is not a ${key === "gpu" ? "whole " : ""}number ≥ 0`);
      out[key] = n;
    }
  }
  return out;
}

/** Whether `req` fits in what `capacity` leaves after `used` (undeclared dimensions are unlimited). */
export function fits(req: Resources, used: Resources, capacity: Capacity): boolean {
  return (
    (capacity.cpu === undefined || used.cpu + req.cpu <= capacity.cpu + 1e-9) &&
    (capacity.memoryMb === undefined || used.memoryMb + req.memoryMb <= capacity.memoryMb + 1e-9) &&
    (capacity.gpu === undefined || used.gpu + req.gpu <= capacity.gpu)
  );
}

export const NO_RESOURCES: Readonly<Resources> = Object.freeze({ cpu: 0, memoryMb: 0, gpu: 0 });

/** `cpu=4,memory=16Gi,gpu=1`, as `--resources` takes it; dimensions not given are left out. */
export function formatCapacity(c: Capacity): string {
  const parts: string[] = [];
  if (c.cpu !== undefined) parts.push(`cpu=${c.cpu}`);
  if (c.memoryMb !== undefined) parts.push(`memory=${c.memoryMb >= 1024 ? `${+(c.memoryMb / 1024).toFixed(2)}Gi` : `${+c.memoryMb.toFixed(1)}Mi`}`);
  if (c.gpu !== undefined) parts.push(`gpu=${c.gpu}`);
  return parts.join(",");
}

/** A request's non-zero dimensions, formatted as a capacity. */
export function formatRequest(r: Resources): string {
  return formatCapacity({ ...(r.cpu ? { cpu: r.cpu } : {}), ...(r.memoryMb ? { memoryMb: r.memoryMb } : {}), ...(r.gpu ? { gpu: r.gpu } : {}) });
}
