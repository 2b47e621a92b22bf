/**
 * Finds, (re)builds and opens libflashmla, once per process. The search order:
 * 1. `FLASHMLA_LIB`: a prebuilt library, used as is.
 * 2. The repository's `zig-kernels/`: built into `zig-kernels/zig-out/lib`, and rebuilt when a
 *    kernel source is newer than the library.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NativeError } from "../src/errors.ts";
import { ABI_VERSION, type Symbols, symbols } from "./symbols.ts";
import { zigBuild } from "./zig.ts";

let opened: Deno.DynamicLibrary<typeof symbols> | undefined;

const LIBRARY_FILE = "libflashmla.so";

function mtimeMs(path: string): number | undefined {
  try {
    return Deno.statSync(path).mtime?.getTime();
  } catch {
    return undefined;
  }
}

/** Newest modification time among build.zig and every .zig file under src/. */
function newestSourceMs(kernelsDir: string): number {
  let newest = mtimeMs(join(kernelsDir, "build.zig")) ?? 0;
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else if (entry.name.endsWith(".zig")) newest = Math.max(newest, mtimeMs(path) ?? 0);
    }
  };
  walk(join(kernelsDir, "src"));
  return newest;
}

/**
 * The path of a library built from the repository's kernel sources, building it first when it
 * is missing or older than a source.
 *
 * @returns Absolute path of libflashmla.so.
 */
export function ensureRepositoryBuild(): string {
  const kernelsDir = fileURLToPath(new URL("../zig-kernels/", import.meta.url));
  const libraryPath = join(kernelsDir, "zig-out", "lib", LIBRARY_FILE);
  const builtMs = mtimeMs(libraryPath);
  if (builtMs === undefined || newestSourceMs(kernelsDir) > builtMs) zigBuild(kernelsDir);
  return libraryPath;
}

function locateLibrary(): string {
  const fromEnv = Deno.env.get("FLASHMLA_LIB");
  if (fromEnv) {
    if (mtimeMs(fromEnv) === undefined) {
      throw new NativeError(`FLASHMLA_LIB points at "${fromEnv}", which does not exist`);
    }
    return fromEnv;
  }
  if (!import.meta.url.startsWith("file:")) {
    throw new NativeError(
      `Cannot build libflashmla from ${import.meta.url}: set FLASHMLA_LIB to a prebuilt library`,
    );
  }
  return ensureRepositoryBuild();
}

/**
 * The library's symbols, opening (and if needed building) it on first use.
 *
 * @returns Callable native symbols.
 */
export function native(): Symbols {
  if (opened === undefined) {
    const path = locateLibrary();
    let library: Deno.DynamicLibrary<typeof symbols>;
    try {
      library = Deno.dlopen(path, symbols);
    } catch (cause) {
      throw new NativeError(`Cannot open libflashmla at "${path}": ${cause}`);
    }
    const abi = library.symbols.fm_abi_version();
    if (abi !== ABI_VERSION) {
      library.close();
      throw new NativeError(
        `libflashmla at "${path}" has ABI ${abi}, this binding needs ${ABI_VERSION}; rebuild it`,
      );
    }
    opened = library;
  }
  return opened.symbols;
}
