/**
 * The model registry's records (issue 15, items 3–4): what a registered model version is, as the registry
 * stores it and a model server loads it. Registration (ctx.models.register), aliases and promotion gates
 * write these; `sluice models serve` reads them. Kept in core so that both sides share one definition.
 */

/** How a version predicts: the code that turns its artifact into a predictor. */
export type ModelFlavor =
  /**
   * TypeScript/JavaScript, in process: `module` (a path relative to the DAGs folder) exports `export`
   * (default "load"): `(artifact: Uint8Array, version: ModelVersionRecord) => Predictor | Promise<Predictor>`.
   */
  | { kind: "js"; module: string; export: string }
  /**
   * Python, in a long-lived process Sluice manages: `script` (relative to the DAGs folder) defines
   * `load(path)` (the artifact written to a file) returning an object with `predict(rows) -> list`.
   */
  | { kind: "python"; script: string };

/** What one request row must be (JSON Schema of an object) and, when known, what a prediction is. */
export interface ModelSignature {
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
}

/** Version `version` of the model `name`, and where it came from (lineage). */
export interface ModelVersionRecord {
  name: string;
  /** 1, 2, 3… per name, in order of registration. */
  version: number;
  /** The artifact store's reference of the model's bytes (artifacts/artifactStore.ts). */
  artifactRef: string;
  flavor: ModelFlavor;
  /** A free label: "ml-random-forest", "sklearn", … */
  framework: string | null;
  signature: ModelSignature | null;
  metrics: Record<string, number>;
  params: Record<string, unknown>;
  description: string | null;
  /** The attempt that registered it. */
  dagId: string;
  dagVersion: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  attemptId: number;
  createdAt: number;
  /** The asset events the registering run consumed (lineage: dataset → run → model version); the registry always sets it. */
  inputEvents?: ModelInputEvent[];
}

/** An asset event a registering run consumed (its `triggeringAssetEvents`). */
export interface ModelInputEvent {
  id: number;
  asset: string;
  dagId: string;
  runId: string;
  createdAt: number;
}

/** A loaded model version, ready to answer. */
export interface Predictor {
  /** One prediction per row, in order. */
  predict(rows: readonly unknown[]): unknown[] | Promise<unknown[]>;
  /** Free what it holds (a Python process…); called once it is swapped out and drained. */
  close?(): void | Promise<void>;
}
