/**
 * `deno task build [--cpu native]`: compiles libflashmla with `zig build -Doptimize=ReleaseFast`.
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { zigBuild } from "../ffi/zig.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { cpu: { type: "string", default: "x86_64_v3" } },
});
const kernelsDir = fileURLToPath(new URL("../zig-kernels/", import.meta.url));
const started = performance.now();
zigBuild(kernelsDir, { cpu: values.cpu });
console.log(
  `Built libflashmla (${values.cpu}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
