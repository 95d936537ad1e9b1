/**
 * Serving the built web UI (dist/ui, made by `npm run build`) on the API's port. Hashed files under
 * /assets/ never change, so they are cached for a year (immutable); index.html is `no-cache` so that a new
 * release is picked up on the next load. Every other GET that is not an API path gets index.html (the UI
 * routes in the browser). Files are resolved inside the UI folder only: `..`, encoded or not, never
 * leaves it.
 *
 * `/assets/` is both Vite's folder of built files and the UI's route of asset pages (`/assets/<name>`):
 * only a file that exists there is served from it. A missing path under it is the app for a page load
 * (a reload or a shared link of an asset page) and a 404 for anything else (a stale page's script
 * request must not get HTML back): the browser says which with `Sec-Fetch-Mode: navigate`, and older
 * clients with `Accept: text/html`.
 */
import { readFile, stat } from "node:fs/promises";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Context, Hono } from "hono";

/** The policy the UI is built to run under: no inline script, everything from this origin. */
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

/** dist/ui next to this module's dist/server. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL("../ui/", import.meta.url));

export function mountStatic(app: Hono, opts: { dir?: string } = {}): void {
  const root = resolve(opts.dir ?? DEFAULT_UI_DIR);

  const securityHeaders = (c: Context) => {
    c.header("Content-Security-Policy", UI_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin");
    c.header("X-Frame-Options", "DENY");
  };

  const sendIndex = async (c: Context) => {
    securityHeaders(c);
    c.header("Cache-Control", "no-cache");
    let html: Buffer;
    try {
      html = await readFile(join(root, "index.html"));
    } catch {
      c.header("Content-Type", "text/plain; charset=utf-8");
      return c.body("The web UI is not built: run `npm run build` (it writes dist/ui).", 503);
    }
    c.header("Content-Type", "text/html; charset=utf-8");
    return c.body(new Uint8Array(html), 200);
  };

  const handler = async (c: Context, next: () => Promise<void>) => {
    const path = c.req.path;
    if (path === "/api" || path.startsWith("/api/")) return next();
    let decoded: string;
    try {
      decoded = decodeURIComponent(path);
    } catch {
      return sendIndex(c);
    }
    if (decoded.includes("\0")) return sendIndex(c);
    const file = resolve(root, `.${decoded}`);
    // inside the UI folder and not index.html itself (that one always goes through sendIndex)
    if (file.startsWith(root + sep) && file !== join(root, "index.html")) {
      const s = await stat(file).catch(() => null);
      if (s?.isFile()) {
        const body = await readFile(file);
        securityHeaders(c);
        c.header("Content-Type", TYPES[extname(file).toLowerCase()] ?? "application/octet-stream");
        c.header("Cache-Control", decoded.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache");
        return c.body(new Uint8Array(body), 200);
      }
      // a missing built file is a 404, not the app: a stale page must not get HTML for its script
      if (decoded.startsWith("/assets/") && !isPageLoad(c)) return c.text("not found", 404);
    }
    return sendIndex(c);
  };
  // Hono answers HEAD with the GET handler, without the body
  app.get("*", handler);
}

/** A top-level page load (navigation), as opposed to a script, style, image or fetch request. */
function isPageLoad(c: Context): boolean {
  const mode = c.req.header("Sec-Fetch-Mode");
  if (mode !== undefined) return mode === "navigate";
  return (c.req.header("Accept") ?? "").includes("text/html");
}
