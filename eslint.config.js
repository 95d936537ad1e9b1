// ESLint (flat config): `npm run lint`. The recommended rules of ESLint and typescript-eslint everywhere;
// the type-aware ones (floating and misused promises, unsafe `any`, ...) on src/ only, the shipped code:
// they need a TypeScript program, which triples the run time (~35 s of one core in all, ~12 s without),
// and on test/ they mostly flag node:test's `test()` promises and `res.json()` values, which the
// typecheck and the assertions already hold.
import js from "@eslint/js";
import { defineConfig } from "eslint/config";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

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
);
