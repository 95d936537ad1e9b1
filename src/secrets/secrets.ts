/**
 * The secrets of one Sluice: its keyring (loaded once per process, created when first written) and the
 * chain of backends that connections and variables are looked up in (secrets/backends.ts). The worker
 * resolves what tasks ask for through it; the application layer (app/secrets.ts) seals what people write.
 */
import type { SluiceConfig } from "../config.js";
import { SluiceError } from "../errors.js";
import type { Store } from "../store/store.js";
import { EnvBackend, FolderBackend, SecretsChain, StoreBackend, type ResolvedVariable, type SecretsBackend } from "./backends.js";
import { checkSecretId, toConnection, type Connection } from "./connection.js";
import type { Keyring } from "./keyring.js";
import { processKeyring } from "./keys.js";

export class Secrets {
  readonly chain: SecretsChain;

  constructor(
    private readonly config: Pick<SluiceConfig, "secretKey" | "secretsDir" | "secretsEnv">,
    store: Pick<Store, "connections" | "variables">,
  ) {
    const backends: SecretsBackend[] = [new EnvBackend(config.secretsEnv)];
    if (config.secretsDir) backends.push(new FolderBackend(config.secretsDir));
    backends.push(new StoreBackend(store, () => this.reader()));
    this.chain = new SecretsChain(backends);
  }

  /** The keyring for reading: null when none is configured (then only rows without secrets can be read). */
  reader(): Keyring | null {
    return processKeyring(this.config.secretKey, { create: false });
  }

  /** The keyring for writing a secret: the configured keys, or a new key file (mode 0600) the first time. */
  writer(): Keyring {
    const k = processKeyring(this.config.secretKey, { create: true });
    if (!k) throw new SluiceError("SECRET_KEY", "no secret key could be loaded or created");
    return k;
  }

  /** A connection from the first backend that holds it; CONNECTION_NOT_FOUND names the backends searched. */
  async connection(id: string): Promise<Connection> {
    checkSecretId("connection", id);
    const { source: _source, ...fields } = await this.chain.connection(id);
    return toConnection(id, fields);
  }

  async variable(key: string): Promise<ResolvedVariable> {
    checkSecretId("variable", key);
    const { source: _source, ...v } = await this.chain.variable(key);
    return v;
  }
}

/** What a worker needs to resolve tasks' connections and variables. */
export type TaskSecrets = Pick<Secrets, "connection" | "variable">;
