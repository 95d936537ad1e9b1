/**
 * Where connections and variables come from (docs/decisions/0016-secrets.md): backends looked up in
 * order, the first that knows an id wins —
 *
 * 1. the environment: `SLUICE_CONN_<ID>` (a URI, or a JSON object) and `SLUICE_VAR_<KEY>` (JSON), `<ID>`
 *    upper-cased with `-` and `.` as `_`. They are SLUICE_* variables, so no task process ever inherits
 *    them: the worker resolves them and passes on only what a task declares;
 * 2. a folder (`SLUICE_SECRETS_DIR`): files `connections/<id>` (a URI or JSON) and `variables/<key>`
 *    (JSON) — the shape a mounted Kubernetes secret takes;
 * 3. the metadata store (`sluice connections add`, the API, the UI), decrypted with the keyring.
 *
 * Another secret manager is one more class implementing `SecretsBackend`, put in the chain where it should
 * be consulted (Sluice builds the chain in secrets/secrets.ts). A Vault backend, say, would be
 * `secrets/vault.ts`:
 *
 *   export class VaultBackend implements SecretsBackend {
 *     readonly name = "Vault (secret/sluice)";
 *     constructor(private readonly addr: string, private readonly token: string) {}
 *     async connection(id) {
 *       const r = await fetch(`${this.addr}/v1/secret/data/sluice/connections/${id}`, { headers: { "X-Vault-Token": this.token } });
 *       if (r.status === 404) return null;
 *       return connectionFromJson((await r.json()).data.data, `Vault connection "${id}"`);
 *     }
 *     async variable(key) { … the same under variables/, { value, secret: true } … }
 *   }
 *
 * with its address and token read in config.ts. Backends return null for an id they do not hold and
 * throw for one they hold but cannot read (a malformed value, a key that does not decrypt): a broken
 * secret must fail loudly, not fall through to an older copy further down the chain.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { JsonValue } from "../core/assets.js";
import { SluiceError } from "../errors.js";
import type { Store } from "../store/store.js";
import { connectionFromText, envName, type ConnectionFields } from "./connection.js";
import type { Keyring } from "./keyring.js";
import { openConnection, openVariable } from "./rows.js";

export interface ResolvedVariable {
  value: JsonValue;
  /** Whether the value is secret (masked in what the task writes): always, from the env and folder backends. */
  secret: boolean;
}

export interface SecretsBackend {
  /** How messages name it ("environment (SLUICE_CONN_<ID>)"). */
  readonly name: string;
  connection(id: string): Promise<ConnectionFields | null>;
  variable(key: string): Promise<ResolvedVariable | null>;
}

function parseVariable(text: string, where: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    throw new SluiceError("INVALID_INPUT", `${where} is not JSON; a variable's value is JSON (a string needs quotes: "\\"text\\"")`);
  }
}

/** SLUICE_CONN_<ID> / SLUICE_VAR_<KEY>, captured by config.ts (the only reader of the environment). */
export class EnvBackend implements SecretsBackend {
  readonly name = "environment (SLUICE_CONN_<ID>, SLUICE_VAR_<KEY>)";
  constructor(private readonly env: Readonly<Record<string, string>>) {}

  async connection(id: string): Promise<ConnectionFields | null> {
    const name = envName("connection", id);
    const text = this.env[name];
    return text === undefined || text === "" ? null : connectionFromText(text, `environment variable ${name}`);
  }

  async variable(key: string): Promise<ResolvedVariable | null> {
    const name = envName("variable", key);
    const text = this.env[name];
    return text === undefined ? null : { value: parseVariable(text, `environment variable ${name}`), secret: true };
  }
}

/** Files `<dir>/connections/<id>` and `<dir>/variables/<key>` (a mounted Kubernetes secret). */
export class FolderBackend implements SecretsBackend {
  readonly name: string;
  constructor(private readonly dir: string) {
    this.name = `folder ${dir} (SLUICE_SECRETS_DIR)`;
  }

  private async read(sub: string, id: string): Promise<{ file: string; text: string } | null> {
    // ids are checked against SECRET_ID_PATTERN before any lookup: no "/" or ".." reaches this join
    const file = join(this.dir, sub, id);
    try {
      return { file, text: await readFile(file, "utf8") };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      throw new SluiceError("CONFIG", `cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  async connection(id: string): Promise<ConnectionFields | null> {
    const f = await this.read("connections", id);
    return f ? connectionFromText(f.text, `file ${f.file}`) : null;
  }

  async variable(key: string): Promise<ResolvedVariable | null> {
    const f = await this.read("variables", key);
    return f ? { value: parseVariable(f.text.trim(), `file ${f.file}`), secret: true } : null;
  }
}

/** The metadata store's rows, decrypted with the keyring (SECRET_KEY when they do not decrypt). */
export class StoreBackend implements SecretsBackend {
  readonly name = "metadata store";
  constructor(
    private readonly store: Pick<Store, "connections" | "variables">,
    private readonly keys: () => Keyring | null,
  ) {}

  async connection(id: string): Promise<ConnectionFields | null> {
    const row = await this.store.connections.get(id);
    return row ? openConnection(this.keys, row) : null;
  }

  async variable(key: string): Promise<ResolvedVariable | null> {
    const row = await this.store.variables.get(key);
    return row ? { value: openVariable(this.keys, row), secret: row.isSecret } : null;
  }
}

/** The backends in order: the first that holds an id answers; none: CONNECTION_NOT_FOUND / VARIABLE_NOT_FOUND. */
export class SecretsChain {
  constructor(readonly backends: readonly SecretsBackend[]) {}

  async connection(id: string): Promise<ConnectionFields & { source: string }> {
    for (const b of this.backends) {
      const c = await b.connection(id);
      if (c) return { ...c, source: b.name };
    }
    throw new SluiceError("CONNECTION_NOT_FOUND", `connection "${id}" not found; searched: ${this.searched("connection", id)}`, { details: { connId: id } });
  }

  async variable(key: string): Promise<ResolvedVariable & { source: string }> {
    for (const b of this.backends) {
      const v = await b.variable(key);
      if (v) return { ...v, source: b.name };
    }
    throw new SluiceError("VARIABLE_NOT_FOUND", `variable "${key}" not found; searched: ${this.searched("variable", key)}`, { details: { key } });
  }

  private searched(kind: "connection" | "variable", id: string): string {
    return this.backends
      .map((b) => (b instanceof EnvBackend ? `environment (${envName(kind, id)})` : b instanceof FolderBackend ? b.name.replace(" (SLUICE_SECRETS_DIR)", `/${kind === "connection" ? "connections" : "variables"}/${id}`) : b.name))
      .join(", ");
  }
}
