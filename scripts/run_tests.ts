/**
 * The project's test command (`deno task test`): runs the Zig unit tests, then `deno test`,
 * streams both outputs and ends with one line `N passed, N failed` over both suites.
 * Extra arguments are passed to `deno test` (e.g. a file filter).
 * @module
 */
import { fileURLToPath } from "node:url";
import { findZig } from "../ffi/zig.ts";
import { findNodeLlamaCpp } from "../tests/helpers/node_llama_cpp.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** Runs a command, echoing its output as it comes, and returns that output without colours. */
async function tee(
  program: string,
  args: string[],
  cwd: string,
): Promise<{ text: string; ok: boolean }> {
  const child = new Deno.Command(program, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let text = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      await sink.write(chunk);
      text += decoder.decode(chunk, { stream: true });
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { text: text.replace(ANSI, ""), ok: status.success };
}

/** Counts from zig's `--summary all` line: "N/M tests passed". */
export function zigCounts(text: string, ok: boolean): { passed: number; failed: number } {
  const match = text.match(/(\d+)\/(\d+) tests passed/);
  if (!match) return { passed: 0, failed: 1 }; // compile error: no tests ran
  const passed = Number(match[1]);
  const failed = Number(match[2]) - passed;
  return { passed, failed: failed === 0 && !ok ? 1 : failed };
}

/** Counts from deno test's summary: "ok | 3 passed (12 steps) | 0 failed". */
export function denoCounts(text: string, ok: boolean): { passed: number; failed: number } {
  const match = text.match(/(?:ok|FAILED) \| (\d+) passed[^|]*\| (\d+) failed/);
  if (!match) return { passed: 0, failed: 1 }; // type-check error: no summary
  const failed = Number(match[2]);
  return { passed: Number(match[1]), failed: failed === 0 && !ok ? 1 : failed };
}

if (import.meta.main) {
  const zig = findZig();
  const zigRun = await tee(
    zig.program,
    [...zig.prefix, "build", "test", "-Doptimize=ReleaseSafe", "--summary", "all"],
    `${root}zig-kernels`,
  );
  const zigResult = zigCounts(zigRun.text, zigRun.ok);
  // The comparison tests judge us against llama.cpp; install that reference (dev only) up front
  // so no test silently skips it on a clean machine.
  if ("missing" in findNodeLlamaCpp()) {
    await tee(Deno.execPath(), ["run", "-A", "tests/helpers/node_llama_cpp.ts", "--install"], root);
  }
  const denoRun = await tee(Deno.execPath(), ["test", "-A", ...Deno.args], root);
  const denoResult = denoCounts(denoRun.text, denoRun.ok);
  const passed = zigResult.passed + denoResult.passed;
  const failed = zigResult.failed + denoResult.failed;
  console.log(
    `\nzig: ${zigResult.passed} passed, ${zigResult.failed} failed; ` +
      `deno: ${denoResult.passed} passed, ${denoResult.failed} failed`,
  );
  console.log(`${passed} passed, ${failed} failed`);
  Deno.exit(failed === 0 ? 0 : 1);
}
