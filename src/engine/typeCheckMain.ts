/**
 * Entry point of `sluice dev`'s type-check child process (typeCheckService.ts): one checker for the life of
 * the process, so each check after the first re-checks only the files that changed. The compiler's CPU
 * time is spent here, never on the event loop that schedules runs and answers the UI.
 */
import { DagTypeChecker } from "./typeCheck.js";
import type { TypeCheckReply, TypeCheckRequest } from "./typeCheckService.js";

let checker: DagTypeChecker | null = null;

function reply(m: TypeCheckReply): void {
  process.send!(m);
}

process.on("message", (m: TypeCheckRequest) => {
  void (async () => {
    try {
      checker ??= await DagTypeChecker.open(m.dir, m.cacheDir);
      reply({ errors: checker.check(m.files) });
    } catch (e) {
      reply({ failure: e instanceof Error ? e.message : String(e) });
    }
  })();
});
