/**
 * Serving the HTTP API on a port (Node's http server through @hono/node-server). Port 0 takes any free
 * port; the bound one is returned (tests and `sluice dev` print it).
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import { SluiceError } from "../errors.js";

export interface RunningServer {
  port: number;
  host: string;
  url: string;
  close(): Promise<void>;
}

export function startServer(app: Hono, opts: { port: number; host: string }): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    // overrideGlobalObjects: false — by default the adapter replaces the process's global Request and
    // Response with its own; inline tasks run in this process and must see Node's own.
    const server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host, overrideGlobalObjects: false }, (info: AddressInfo) => {
      server.off("error", onError);
      const host = info.family === "IPv6" ? `[${info.address}]` : info.address;
      resolve({
        port: info.port,
        host: info.address,
        url: `http://${host}:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            // keep-alive connections would hold close() open
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
    const onError = (e: NodeJS.ErrnoException) => {
      const hint = e.code === "EADDRINUSE" ? `; choose another with --port (0: any free port)` : "";
      reject(new SluiceError("CONFIG", `cannot serve the HTTP API on ${opts.host}:${opts.port}: ${e.message}${hint}`, { cause: e }));
    };
    server.once("error", onError);
    // Node closes idle keep-alive connections after 5 s; a client that reuses one just then (a browser
    // tab, a proxy, a script whose event loop was busy) gets "socket hang up". Outlive common proxy
    // idle timeouts (60 s) instead, as proxies expect of their upstreams.
    const http = server as { keepAliveTimeout?: number; headersTimeout?: number };
    http.keepAliveTimeout = 65_000;
    http.headersTimeout = 66_000;
  });
}
