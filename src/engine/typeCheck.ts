/**
 * Type checking of the DAGs folder with the TypeScript compiler API (`sluice dags check`, and `sluice dev`
 * beside its loading). Loading DAG files strips types (tsx/esbuild) and never waits for this: the check is
 * what keeps the README's promise that a task returning the wrong type "stops compiling" without the user
 * running tsc.
 *
 * Compiler options come from the nearest tsconfig.json above the DAGs folder (its `include` is ignored:
 * the roots are the DAG files, and what they import); without one, strict defaults for ES modules. The
 * check is incremental twice over: within a process a checker keeps its last program (only changed files
 * are checked again), and across processes the compiler's build info is kept in the Sluice home, keyed by
 * the folder, so a second `sluice dags check` re-checks only what changed.
 */
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import type ts from "typescript";

export interface DagTypeError {
  /** Path relative to the DAGs folder. */
  file: string;
  line: number;
  column: number;
  /** TypeScript's code: 2322 is TS2322. */
  code: number;
  message: string;
}

/** Strict options for ES-module DAG files when no tsconfig.json is found. */
const DEFAULTS: ts.CompilerOptions = {
  strict: true,
  skipLibCheck: true,
  esModuleInterop: true,
  resolveJsonModule: true,
  allowImportingTsExtensions: true,
};

export class DagTypeChecker {
  private last: ts.EmitAndSemanticDiagnosticsBuilderProgram | undefined;
  /** Parsed source files by path, reused while their text is unchanged (lib and @types files above all). */
  private readonly sources = new Map<string, { text: string; file: ts.SourceFile }>();

  private constructor(
    private readonly tsc: typeof ts,
    private readonly dir: string,
    private readonly options: ts.CompilerOptions,
  ) {}

  /** A checker for the DAGs folder `dir`; `cacheDir`: where build info survives between processes. */
  static async open(dir: string, cacheDir: string | null): Promise<DagTypeChecker> {
    // loaded on demand: the compiler is big, and nothing on the loading path needs it
    const tsc = (await import("typescript")).default;
    const root = resolve(dir);
    const options = compilerOptions(tsc, root);
    if (cacheDir) {
      mkdirSync(cacheDir, { recursive: true });
      const key = createHash("sha256").update(root).digest("hex").slice(0, 16);
      options.incremental = true;
      options.tsBuildInfoFile = join(cacheDir, `${key}.tsbuildinfo`);
    }
    return new DagTypeChecker(tsc, root, options);
  }

  /** Check `files` (absolute paths of DAG files) and what they import; errors inside the DAGs folder. */
  check(files: readonly string[]): DagTypeError[] {
    const tsc = this.tsc;
    const host = tsc.createIncrementalCompilerHost(this.options);
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (name, lang, onError, create) => {
      const text = tsc.sys.readFile(name);
      if (text === undefined) return read(name, lang, onError, create);
      const hit = this.sources.get(name);
      if (hit && hit.text === text) return hit.file;
      const file = read(name, lang, onError, create);
      if (file) this.sources.set(name, { text, file });
      return file;
    };
    const program =
      this.last === undefined && this.options.incremental
        ? tsc.createIncrementalProgram({ rootNames: [...files], options: this.options, host })
        : tsc.createEmitAndSemanticDiagnosticsBuilderProgram([...files], this.options, host, this.last);
    this.last = program;
    const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics(), ...program.getSyntacticDiagnostics(), ...program.getSemanticDiagnostics()];
    // with noEmit this writes the build info alone (the next process starts from it)
    if (this.options.incremental) program.emit();
    return diagnostics.flatMap((d) => this.toError(d));
  }

  private toError(d: ts.Diagnostic): DagTypeError[] {
    const message = this.tsc.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return [{ file: "", line: 0, column: 0, code: d.code, message }];
    const rel = relative(this.dir, d.file.fileName);
    // errors in packages or files outside the folder are not the DAG author's to fix here
    if (rel.startsWith("..") || isAbsolute(rel) || rel.split(/[\\/]/).includes("node_modules")) return [];
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return [{ file: rel, line: line + 1, column: character + 1, code: d.code, message }];
  }
}

/** The nearest tsconfig.json's options (made check-only), or the defaults. */
function compilerOptions(tsc: typeof ts, dir: string): ts.CompilerOptions {
  const found = tsc.findConfigFile(dir, (f) => tsc.sys.fileExists(f));
  let options: ts.CompilerOptions = { ...DEFAULTS, module: tsc.ModuleKind.ESNext, moduleResolution: tsc.ModuleResolutionKind.Bundler, target: tsc.ScriptTarget.ES2022 };
  if (found) {
    const parsed = tsc.getParsedCommandLineOfConfigFile(found, {}, { ...tsc.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
    if (parsed) options = { ...parsed.options, configFilePath: undefined };
  }
  // only a check: nothing is written but the build info
  return { ...options, noEmit: true, declaration: false, declarationMap: false, sourceMap: false, composite: false, emitDeclarationOnly: false, rootDir: options.rootDir ?? dirname(found ?? join(dir, "x")) };
}

/** `file:line:column - error TSnnnn: message`, as tsc prints them. */
export function formatTypeError(e: DagTypeError): string {
  return `${e.file ? `${e.file}:${e.line}:${e.column} - ` : ""}error TS${e.code}: ${e.message}`;
}
