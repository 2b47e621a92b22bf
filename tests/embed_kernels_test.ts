import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  GENERATED_PATH,
  hashKernelSources,
  readKernelSources,
  renderRepositoryKernelSources,
} from "../scripts/embed_kernels.ts";
import {
  KERNEL_PACKAGE_VERSION,
  KERNEL_SOURCES,
  KERNEL_SOURCES_HASH,
} from "../ffi/kernel_sources.ts";
import denoConfig from "../deno.json" with { type: "json" };

const root = fileURLToPath(new URL("../", import.meta.url));

Deno.test("ffi/kernel_sources.ts is in sync with zig-kernels/ (run `deno task embed`)", async () => {
  const expected = await renderRepositoryKernelSources();
  const actual = Deno.readTextFileSync(`${root}${GENERATED_PATH}`);
  const sources = readKernelSources(`${root}zig-kernels`);
  const stale = [...sources.keys()].filter((path) => KERNEL_SOURCES[path] !== sources.get(path));
  const extra = Object.keys(KERNEL_SOURCES).filter((path) => !sources.has(path));
  assert.deepEqual(
    { stale, extra },
    { stale: [], extra: [] },
    "kernel sources changed: run `deno task embed`",
  );
  assert.equal(actual, expected, "ffi/kernel_sources.ts differs: run `deno task embed`");
});

Deno.test("embedded kernel sources carry build.zig, root.zig, the version and the hash", async () => {
  assert.ok("build.zig" in KERNEL_SOURCES);
  assert.ok("src/root.zig" in KERNEL_SOURCES);
  assert.equal(KERNEL_PACKAGE_VERSION, denoConfig.version);
  const map = new Map(Object.entries(KERNEL_SOURCES));
  assert.equal(await hashKernelSources(map), KERNEL_SOURCES_HASH);
  // The hash changes with any byte of any file.
  map.set("src/root.zig", map.get("src/root.zig") + " ");
  assert.notEqual(await hashKernelSources(map), KERNEL_SOURCES_HASH);
});
