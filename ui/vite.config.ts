/**
 * The web UI's build: `npm run build` runs it after the server's tsc, into dist/ui, which
 * src/server/static.ts serves. The output must run under `script-src 'self'`: Vite emits module scripts
 * as files (no inline bootstrap), and the layout Web Worker is bundled as a same-origin file.
 */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    // no inline data: URLs for scripts, no module preload polyfill (it is an inline script in older Vites)
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 4096,
    sourcemap: false,
  },
  worker: { format: "es" },
});
