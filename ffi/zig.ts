/**
 * Finds the Zig compiler and builds libflashmla with it.
 * @module
 */
import toolchain from "../toolchain.json" with { type: "json" };
import { NativeError } from "../src/errors.ts";

/** A way to run zig: the program and the arguments that come before zig's own. */
export interface ZigCommand {
  /** Program to execute. */
  program: string;
  /** Arguments placed before the zig arguments (e.g. `["-m", "ziglang"]`). */
  prefix: string[];
}

function runs(program: string, prefix: string[]): string | undefined {
  try {
    const out = new Deno.Command(program, {
      args: [...prefix, "version"],
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Finds zig through `$ZIG`, then `zig` on `PATH`, then `python3 -m ziglang`; throws a
 * `NativeError` that says exactly what to install when none works.
 *
 * @returns The command that runs the pinned zig.
 */
export function findZig(): ZigCommand {
  const candidates: ZigCommand[] = [];
  const fromEnv = Deno.env.get("ZIG");
  if (fromEnv) candidates.push({ program: fromEnv, prefix: [] });
  candidates.push({ program: "zig", prefix: [] });
  candidates.push({ program: "python3", prefix: ["-m", "ziglang"] });
  const wrongVersions: string[] = [];
  for (const candidate of candidates) {
    const version = runs(candidate.program, candidate.prefix);
    if (version === undefined) continue;
    if (version === toolchain.zig) return candidate;
    wrongVersions.push(`${[candidate.program, ...candidate.prefix].join(" ")} is ${version}`);
  }
  const seen = wrongVersions.length > 0 ? ` (found: ${wrongVersions.join("; ")})` : "";
  throw new NativeError(
    `Zig ${toolchain.zig} is needed to build libflashmla${seen}. ` +
      `Install it with: pip install ziglang==${toolchain.zig}  ` +
      `(or set ZIG=/path/to/zig, or FLASHMLA_LIB=/path/to/libflashmla.so to use a prebuilt library)`,
  );
}

/**
 * Runs `zig build -Doptimize=ReleaseFast` in `projectDir`, installing into `prefix`.
 *
 * @param projectDir Directory holding build.zig.
 * @param options `prefix` for `--prefix`, `cpu` for `-Dcpu`, `cacheDir` for zig's local cache.
 */
export function zigBuild(
  projectDir: string,
  options: { prefix?: string; cpu?: string; cacheDir?: string } = {},
): void {
  const zig = findZig();
  const args = [...zig.prefix, "build", "-Doptimize=ReleaseFast"];
  if (options.cpu) args.push(`-Dcpu=${options.cpu}`);
  if (options.prefix) args.push("--prefix", options.prefix);
  if (options.cacheDir) args.push("--cache-dir", options.cacheDir);
  const out = new Deno.Command(zig.program, {
    args,
    cwd: projectDir,
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  if (!out.success) {
    const log = new TextDecoder().decode(out.stderr).slice(-4000);
    throw new NativeError(`Building libflashmla failed in ${projectDir}:\n${log}`);
  }
}
