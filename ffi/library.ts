/**
 * Finds, (re)builds and opens libflashmla, once per process. The search order:
 * 1. `FLASHMLA_LIB`: a prebuilt library, used as is.
 * 2. The repository's `zig-kernels/` (a checkout, where `../zig-kernels/build.zig` exists):
 *    built into `zig-kernels/zig-out/lib`, and rebuilt when a kernel source is newer than the
 *    library.
 * 3. Package mode (imported from JSR or from the published file set, which has no .zig files):
 *    the sources embedded in `kernel_sources.ts` are written out and built once with the
 *    user's zig into `$FLASHMLA_CACHE_DIR` or `$XDG_CACHE_HOME/flashmla-deno` or
 *    `~/.cache/flashmla-deno`, under `<version>-<source hash>/lib/libflashmla.so`.
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NativeError } from "../src/errors.ts";
import { KERNEL_PACKAGE_VERSION, KERNEL_SOURCES, KERNEL_SOURCES_HASH } from "./kernel_sources.ts";
import { ABI_VERSION, type Symbols, symbols } from "./symbols.ts";
import { findZig, zigBuild } from "./zig.ts";

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

/**
 * The directory package-mode builds are cached in: `$FLASHMLA_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/flashmla-deno`, else `~/.cache/flashmla-deno`.
 *
 * @returns An absolute directory path (not necessarily existing yet).
 */
export function packageCacheRoot(): string {
  const explicit = Deno.env.get("FLASHMLA_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "flashmla-deno");
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  if (!home) {
    throw new NativeError(
      "Cannot choose a cache directory for libflashmla: set FLASHMLA_CACHE_DIR or HOME",
    );
  }
  return join(home, ".cache", "flashmla-deno");
}

/**
 * Builds libflashmla from the embedded sources into the per-version cache directory unless a
 * build is already there, and returns its path. The build runs in a private temporary
 * directory and the library is renamed into place, so two processes building at once never
 * see a half-written file.
 *
 * @returns Absolute path of the cached libflashmla.so.
 */
export function ensureEmbeddedBuild(): string {
  const buildDir = join(packageCacheRoot(), `${KERNEL_PACKAGE_VERSION}-${KERNEL_SOURCES_HASH}`);
  const libraryPath = join(buildDir, "lib", LIBRARY_FILE);
  if (mtimeMs(libraryPath) !== undefined) return libraryPath;
  Deno.mkdirSync(join(buildDir, "lib"), { recursive: true });
  const workDir = Deno.makeTempDirSync({ dir: buildDir, prefix: "build-" });
  try {
    for (const [path, text] of Object.entries(KERNEL_SOURCES)) {
      const target = join(workDir, "kernels", path);
      Deno.mkdirSync(dirname(target), { recursive: true });
      Deno.writeTextFileSync(target, text);
    }
    const built = join(workDir, LIBRARY_FILE);
    zigBuildLibrary(join(workDir, "kernels"), built, join(workDir, "zig-cache"));
    Deno.renameSync(built, libraryPath);
  } finally {
    Deno.removeSync(workDir, { recursive: true });
  }
  return libraryPath;
}

/**
 * Compiles `src/root.zig` under `kernelsDir` straight into a shared library with
 * `zig build-lib`, with the same settings as build.zig (x86_64_v3, libc, LLVM, ReleaseFast).
 * Skipping `zig build` skips compiling the build runner, about a third of a cold build.
 */
function zigBuildLibrary(kernelsDir: string, output: string, cacheDir: string): void {
  const zig = findZig();
  const out = new Deno.Command(zig.program, {
    args: [
      ...zig.prefix,
      "build-lib",
      "-dynamic",
      "-OReleaseFast",
      "-target",
      "x86_64-linux-gnu",
      "-mcpu",
      "x86_64_v3",
      "-lc",
      "-fllvm",
      "--name",
      "flashmla",
      "--cache-dir",
      cacheDir,
      `-femit-bin=${output}`,
      "src/root.zig",
    ],
    cwd: kernelsDir,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!out.success) {
    const log = new TextDecoder().decode(out.stderr).slice(-4000);
    throw new NativeError(`Building libflashmla from the embedded sources failed:\n${log}`);
  }
}

/**
 * Marks the loaded library RTLD_NODELETE through libc's `dlopen(path, NOW|NOLOAD|NODELETE)`,
 * so it stays mapped for the life of the process. Deno closes a worker's FFI libraries when
 * the worker ends (every `deno bench` / `deno test` file runs in one); a thread pool created
 * there keeps native threads parked inside library code, and unmapping that code would crash
 * the process. Best effort: without glibc the library is simply not pinned.
 *
 * @param path The library just opened.
 */
function pinLibrary(path: string): void {
  if (Deno.build.os !== "linux") return;
  const RTLD_NOW = 0x2, RTLD_NOLOAD = 0x4, RTLD_NODELETE = 0x1000;
  try {
    const libc = Deno.dlopen("libc.so.6", {
      dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
    });
    libc.symbols.dlopen(
      new TextEncoder().encode(`${path}\0`),
      RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE,
    );
    libc.close();
  } catch {
    // Not glibc: nothing to pin with.
  }
}

/** Whether this module sits in a repository checkout with the kernel sources beside it. */
function inRepositoryCheckout(): boolean {
  if (!import.meta.url.startsWith("file:")) return false;
  const buildZig = fileURLToPath(new URL("../zig-kernels/build.zig", import.meta.url));
  return mtimeMs(buildZig) !== undefined;
}

function locateLibrary(): string {
  const fromEnv = Deno.env.get("FLASHMLA_LIB");
  if (fromEnv) {
    if (mtimeMs(fromEnv) === undefined) {
      throw new NativeError(`FLASHMLA_LIB points at "${fromEnv}", which does not exist`);
    }
    return fromEnv;
  }
  return inRepositoryCheckout() ? ensureRepositoryBuild() : ensureEmbeddedBuild();
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
    pinLibrary(path);
    opened = library;
  }
  return opened.symbols;
}
