#!/usr/bin/env node
import { main } from "../dist/main.js";

// No top-level await: DAG files compiled as CommonJS require("sluice"), and Node refuses require() of
// an ES module graph that is still evaluating.
let finished = false;
main(process.argv.slice(2)).then((code) => {
  finished = true;
  process.exitCode = code;
});
// If the event loop empties before main() settles, something waited on a promise nothing will resolve:
// say so and fail, rather than exit 0 as if all went well.
process.on("beforeExit", () => {
  if (!finished) {
    process.stderr.write("error [INTERNAL]: sluice stopped before finishing its work (nothing left to wait on); this is a bug in Sluice\n");
    process.exitCode = 1;
    finished = true;
  }
});
