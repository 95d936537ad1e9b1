/**
 * The model deployments of `sluice dev` / `sluice server` (POST /api/v1/models/{name}/aliases/{alias}/predict,
 * for small deployments that need no separate model server): each `name@alias` is loaded on its first
 * request and then kept, following its alias like `sluice models serve` does. At most `max` (default 8)
 * are kept; loading one more closes the least recently used (drained first). Requests that arrive while
 * a deployment loads wait for that one load.
 */
import type { Sluice } from "../sluice.js";
import type { ModelSource } from "./deployment.js";
import { deployModel, type Deployed, type DeployOptions } from "./deploy.js";

export class DeploymentPool {
  private readonly deployed = new Map<string, Promise<Deployed>>();
  private closed = false;

  constructor(
    private readonly s: Sluice,
    private readonly source: ModelSource,
    private readonly opts: Omit<DeployOptions, "name" | "alias"> & { max?: number } = {},
  ) {}

  /** The deployment of `name@alias`, loading it on first use. */
  get(name: string, alias: string): Promise<Deployed> {
    const key = `${name}@${alias}`;
    let p = this.deployed.get(key);
    if (p) {
      // most recently used last
      this.deployed.delete(key);
      this.deployed.set(key, p);
      return p;
    }
    p = deployModel(this.s, this.source, { ...this.opts, name, alias });
    this.deployed.set(key, p);
    // a failed load is not kept: the next request tries again (the alias may have been set meanwhile)
    p.catch(() => {
      if (this.deployed.get(key) === p) this.deployed.delete(key);
    });
    this.evict();
    return p;
  }

  private evict(): void {
    const max = this.opts.max ?? 8;
    while (this.deployed.size > max) {
      const [key, oldest] = this.deployed.entries().next().value as [string, Promise<Deployed>];
      this.deployed.delete(key);
      void oldest.then((d) => d.close()).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.deployed.values()];
    this.deployed.clear();
    await Promise.all(all.map((p) => p.then((d) => d.close()).catch(() => undefined)));
  }
}
