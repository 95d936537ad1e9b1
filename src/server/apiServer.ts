/**
 * The HTTP API as a process of its own (`sluice server`; `sluice dev` and `sluice scheduler` serve it
 * too): the app of app.ts wired to a Sluice, served on a port. The CLI stays a thin layer over this.
 */
import type { Sluice } from "../sluice.js";
import type { SluiceError } from "../errors.js";
import { createApp } from "./app.js";
import { startServer, type RunningServer } from "./server.js";

export interface ApiServerOptions {
  port: number;
  host: string;
  /** The bearer token of the API (SLUICE_EVENT_TOKEN). */
  token: string;
  onError?: (e: SluiceError) => void;
}

/**
 * Serve Sluice's HTTP API until `close()`.
 *
 * @example
 * const server = await startApiServer(s, { port: 8080, host: "0.0.0.0", token: process.env.SLUICE_EVENT_TOKEN! });
 */
export function startApiServer(s: Sluice, opts: ApiServerOptions): Promise<RunningServer> {
  const app = createApp({
    eventToken: opts.token,
    sendEvent: (name, payload, o) => s.engine.triggers.sendEvent(name, payload, o),
    ...(opts.onError ? { onError: opts.onError } : {}),
  });
  return startServer(app, { port: opts.port, host: opts.host });
}
