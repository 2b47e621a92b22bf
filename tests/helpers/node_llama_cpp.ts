/**
 * Test helper: locates (and on request installs) node-llama-cpp, the llama.cpp binding used as
 * the reference in comparison tests. It lives in `<repo>/.cache/node-llama-cpp/` (gitignored),
 * pinned to `toolchain.json`'s "node-llama-cpp" version, and is only ever run from Node.js
 * child processes: nothing in `src/` imports it.
 *
 * Install: `deno run -A tests/helpers/node_llama_cpp.ts --install`
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** Where node-llama-cpp is installed (`npm install --prefix`). */
export const NODE_LLAMA_CPP_PREFIX: string = join(REPO_ROOT, ".cache", "node-llama-cpp");

/** The pinned version from toolchain.json. */
export function pinnedNodeLlamaCppVersion(): string {
  const pins = JSON.parse(Deno.readTextFileSync(join(REPO_ROOT, "toolchain.json")));
  return pins["node-llama-cpp"];
}

/**
 * The path of node-llama-cpp's ES module entry when the pinned version is installed and
 * `node` is on PATH; otherwise a sentence saying what is missing.
 */
export function findNodeLlamaCpp(): { entry: string } | { missing: string } {
  const pkgDir = join(NODE_LLAMA_CPP_PREFIX, "node_modules", "node-llama-cpp");
  const pkgJson = join(pkgDir, "package.json");
  const want = pinnedNodeLlamaCppVersion();
  if (!existsSync(pkgJson)) {
    return {
      missing: `node-llama-cpp ${want} is not installed in ${NODE_LLAMA_CPP_PREFIX} ` +
        "(run: deno run -A tests/helpers/node_llama_cpp.ts --install)",
    };
  }
  const have = JSON.parse(Deno.readTextFileSync(pkgJson)).version;
  if (have !== want) {
    return { missing: `node-llama-cpp ${have} is installed but toolchain.json pins ${want}` };
  }
  try {
    const probe = new Deno.Command("node", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync();
    if (!probe.success) return { missing: "node --version failed" };
  } catch {
    return { missing: "node (Node.js) is not on PATH" };
  }
  return { entry: join(pkgDir, "dist", "index.js") };
}

/**
 * Runs a Node.js script with a JSON request on stdin and parses its JSON stdout.
 *
 * @param script Path of the .mjs script.
 * @param request Serializable request.
 * @returns The parsed reply.
 */
export async function runNodeJson<T>(script: string, request: unknown): Promise<T> {
  const child = new Deno.Command("node", {
    args: [script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(request)));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  const err = new TextDecoder().decode(stderr);
  if (!success) throw new Error(`node ${script} failed:\n${err}`);
  return JSON.parse(new TextDecoder().decode(stdout)) as T;
}

if (import.meta.main && Deno.args.includes("--install")) {
  const version = pinnedNodeLlamaCppVersion();
  Deno.mkdirSync(NODE_LLAMA_CPP_PREFIX, { recursive: true });
  const { success } = await new Deno.Command("npm", {
    args: [
      "install",
      "--prefix",
      NODE_LLAMA_CPP_PREFIX,
      "--no-audit",
      "--no-fund",
      "--save-exact",
      `node-llama-cpp@${version}`,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(success ? 0 : 1);
}
