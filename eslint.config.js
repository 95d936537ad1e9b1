// ESLint (flat config): `npm run lint`. The recommended rules of ESLint and typescript-eslint everywhere;
// the type-aware ones (floating and misused promises, unsafe `any`, ...) on src/ only, the shipped code:
// they need a TypeScript program, which triples the run time (~40 s of one core in all, ~12 s without),
// and on test/ they mostly flag node:test's `test()` promises and `res.json()` values, which the
// typecheck and the assertions already hold. Import boundaries between the layers come last.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

/**
 * What each folder of src/ must not import (ARCHITECTURE.md: dependencies point downward only; cli/ and
 * server/ are two front ends over the same layers, so neither imports the other). Listed by the folder or
 * top-level file imported; a folder not listed may be imported. Static imports and re-exports only:
 * `import()` expressions are not checked (src/ has none across layers).
 */
const FORBIDDEN = {
  cli: ["server", "bench"],
  server: ["cli", "bench"],
  engine: ["cli", "server", "bench", "sluice.ts", "runtime.ts", "index.ts"],
  worker: ["cli", "server", "engine", "bench", "sluice.ts", "runtime.ts", "index.ts"],
  executors: ["cli", "server", "engine", "worker", "bench", "auth", "sluice.ts", "runtime.ts", "index.ts"],
  logs: ["cli", "server", "engine", "worker", "executors", "bench", "auth", "sluice.ts", "runtime.ts", "index.ts"],
  // store/artifacts.ts records blobs of artifacts/ (the diagram has artifacts/ above store/)
  store: ["cli", "server", "engine", "worker", "executors", "logs", "bench", "auth", "secrets", "sluice.ts", "runtime.ts", "index.ts"],
  artifacts: ["cli", "server", "engine", "worker", "executors", "logs", "bench", "auth", "sluice.ts", "runtime.ts", "index.ts"],
  // the keys, the masking of secret values and the lookup of connections and variables: below the worker
  secrets: ["cli", "server", "engine", "worker", "executors", "logs", "bench", "auth", "sluice.ts", "runtime.ts", "index.ts"],
  auth: ["cli", "server", "engine", "worker", "executors", "bench", "sluice.ts", "runtime.ts", "index.ts"],
  // spans and trace ids (OpenTelemetry): under the engine, the worker and the executors, which record them
  tracing: ["cli", "server", "engine", "worker", "executors", "logs", "artifacts", "store", "bench", "auth", "secrets", "sluice.ts", "runtime.ts", "index.ts"],
  // model serving (loading versions, hot swap, batching, the inference log's writer): under both front ends
  serving: ["cli", "server", "bench", "runtime.ts", "index.ts"],
  // the pure layers: nothing above them, nor config.ts (which reads the environment)
  dsl: ["cli", "server", "engine", "worker", "executors", "logs", "artifacts", "store", "bench", "auth", "sluice.ts", "runtime.ts", "index.ts", "config.ts"],
  core: ["cli", "server", "engine", "worker", "executors", "logs", "artifacts", "store", "dsl", "bench", "auth", "sluice.ts", "runtime.ts", "index.ts", "config.ts"],
  // drift statistics and other pure ML helpers that DAG files import from "sluice"
  ml: ["cli", "server", "engine", "worker", "executors", "logs", "artifacts", "store", "dsl", "core", "bench", "auth", "secrets", "app", "sluice.ts", "runtime.ts", "index.ts", "config.ts"],
  // the metric definitions (prom-client): below the store, which times its transactions with them; the
  // deployment's gauges are read by store/gauges.ts and rendered by server/metrics.ts, never from here
  metrics: ["cli", "server", "engine", "worker", "executors", "logs", "artifacts", "store", "dsl", "core", "bench", "auth", "secrets", "app", "sluice.ts", "runtime.ts", "index.ts", "config.ts"],
};

/**
 * The store keeps its connection (ARCHITECTURE.md): outside src/store/ nothing imports kysely, nor the
 * store's internal handle accessor (store/aggregates.ts's handleOf); the store's objects are the API.
 */
const KYSELY = { regex: "^kysely(/|$)", message: "only src/store/ talks SQL (kysely): add an intent-named store method instead" };
const STORE_HANDLE = { regex: "^(\\.\\./)+store/aggregates\\.js$", message: "the store's handle stays in src/store/: call store.<aggregate>.<method> instead" };

/** An import specifier (relative, from any depth under src/<folder>/) that reaches `target`. */
function reaching(target) {
  // a top-level file is imported by its built name: sluice.ts as "../sluice.js"
  return target.endsWith(".ts") ? `^(\\.\\./)+${target.replace(/\.ts$/, "\\.js")}$` : `^(\\.\\./)+${target}(/|$)`;
}

/** One rule per file: ESLint takes a rule's options from the last config that matches, it does not merge them. */
function restrictedImports(patterns) {
  return { "no-restricted-imports": ["error", { patterns }] };
}

const boundaries = [
  { files: ["src/**/*.ts"], ignores: ["src/store/**"], rules: restrictedImports([KYSELY, STORE_HANDLE]) },
  ...Object.entries(FORBIDDEN).map(([folder, targets]) => ({
    files: [`src/${folder}/**/*.ts`],
    rules: restrictedImports([
      ...(folder !== "store" ? [KYSELY, STORE_HANDLE] : []),
      ...targets.map((t) => ({
        regex: reaching(t),
        caseSensitive: true,
        message: `src/${folder}/ must not import src/${t} (layers: ARCHITECTURE.md; the rules: eslint.config.js)`,
      })),
    ]),
  })),
];

export default defineConfig(
  { ignores: ["dist/", "ui/dist/", "test-artifacts/", ".sluice/", ".bench/"] },
  { linterOptions: { reportUnusedDisableDirectives: "error" } },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // `_name` marks a parameter or binding kept for its position or to leave a key out of a rest object
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ["src/**/*.ts"],
    extends: [tseslint.configs.recommendedTypeCheckedOnly],
    languageOptions: { parserOptions: { project: "./tsconfig.build.json", tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `async` without `await` is how a function turns its throws into rejections, and how it implements
      // a promise-returning interface (Kysely's Driver, Executor); dropping it would change behaviour
      "@typescript-eslint/require-await": "off",
      // Sluice rethrows (and rejects with) caught errors as they are — `unknown`, which a check such as
      // `if (err)` narrows to `{}`, which these rules then mistake for a thrown non-Error; the boundaries
      // normalise whatever was thrown with toSluiceError
      "@typescript-eslint/only-throw-error": "off",
      "@typescript-eslint/prefer-promise-reject-errors": "off",
    },
  },
  {
    // Kysely's Dialect interface is typed with Kysely<any> (createIntrospector, its introspector)
    files: ["src/store/postgres.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // tests read the CLI's and the API's JSON output and reach into internals; the assertions hold them
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // type tests declare values only to take their types (`typeof x`)
    files: ["test/types/**/*.ts"],
    rules: { "@typescript-eslint/no-unused-vars": "off" },
  },
  {
    files: ["ui/src/**/*.{ts,tsx}"],
    languageOptions: { globals: globals.browser },
    plugins: { "react-hooks": reactHooks },
    rules: {
      "react-hooks/rules-of-hooks": "error",
      "react-hooks/exhaustive-deps": "error",
    },
  },
  ...boundaries,
);
