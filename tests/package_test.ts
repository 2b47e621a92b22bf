/**
 * The package as a user gets it: exactly the files `deno publish --dry-run` lists, copied into
 * an empty directory with no zig-kernels/ beside them, every cache (our library cache, zig's
 * global and local caches) pointed at empty directories. Importing `mod.ts` from there must
 * build libflashmla from the embedded sources with the user's zig, load a tiny model and
 * generate tokens. (DENO_DIR is kept: JSR is unreachable and only local modules are used.)
 */
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import denoConfig from "../deno.json" with { type: "json" };
import { KERNEL_SOURCES_HASH } from "../ffi/kernel_sources.ts";
import { synthesizeModel } from "../src/synth/synthesize.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

/** Files the publish dry run would upload, as paths relative to the repository root. */
async function publishedFiles(): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    // Type-checking is `deno task check`'s job; the file list does not depend on it.
    args: ["publish", "--dry-run", "--allow-dirty", "--no-check"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `deno publish --dry-run failed:\n${text}`);
  const prefix = `file://${root}`;
  return text.split("\n")
    .map((line) => line.trim())
    .filter((line) => line.startsWith(prefix))
    .map((line) => line.slice(prefix.length).replace(/ \([^)]*\)$/, ""));
}

const USER_SCRIPT = `
import { Model } from "./mod.ts";
const model = await Model.load(Deno.args[0]);
const ctx = model.createContext({ ctxLen: 256, threads: 2 });
let text = "";
for await (const piece of ctx.generate("Hello", { maxTokens: 8, temperature: 0 })) text += piece;
console.log(JSON.stringify({ generated: ctx.stats.generatedTokens, text }));
ctx.close();
model.close();
`;

Deno.test("package: the published file set builds its library, loads a tiny model and generates", async () => {
  const files = await publishedFiles();
  assert.ok(files.includes("mod.ts") && files.includes("ffi/kernel_sources.ts"), files.join(" "));
  assert.ok(!files.some((f) => f.endsWith(".zig") || f.endsWith(".so")), "no native files ship");

  const temp = Deno.makeTempDirSync({ prefix: "flashmla-package-" });
  try {
    const pkg = join(temp, "pkg");
    for (const file of files) {
      Deno.mkdirSync(dirname(join(pkg, file)), { recursive: true });
      Deno.copyFileSync(join(root, file), join(pkg, file));
    }
    Deno.writeTextFileSync(join(pkg, "use_package.ts"), USER_SCRIPT);
    const modelPath = join(temp, "tiny.gguf");
    await synthesizeModel(modelPath, { preset: "tiny", wtype: "Q8_0", layers: 2, seed: 5 });
    const xdg = join(temp, "xdg");
    // The user's environment minus anything pointing at a prebuilt or cached library; HOME
    // stays (pyenv shims need it), every cache directory moves into the empty temp dir.
    const env: Record<string, string> = {
      ...Deno.env.toObject(),
      NO_COLOR: "1",
      XDG_CACHE_HOME: xdg,
      ZIG_GLOBAL_CACHE_DIR: join(temp, "zig-global"),
      ZIG_LOCAL_CACHE_DIR: join(temp, "zig-local"),
    };
    delete env.FLASHMLA_LIB;
    delete env.FLASHMLA_CACHE_DIR;
    const started = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-lock", join(pkg, "use_package.ts"), modelPath],
      cwd: pkg,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.ok(out.success, `the package script failed:\n${stderr}\n${stdout}`);
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    assert.ok(result.generated >= 1 && result.generated <= 8, stdout);
    // The library was built from the embedded sources into the per-version cache directory.
    const lib = join(
      xdg,
      "flashmla-deno",
      `${denoConfig.version}-${KERNEL_SOURCES_HASH}`,
      "lib",
      "libflashmla.so",
    );
    assert.ok(Deno.statSync(lib).isFile, `missing ${lib}`);
    // The ./cli export runs from the package too.
    const help = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", join(pkg, "cli", "main.ts"), "bench", "--help"],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(help.code, 0, new TextDecoder().decode(help.stderr));
    assert.match(new TextDecoder().decode(help.stdout), /llama-bench/);
    console.log(
      `package build + load + generate: ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  } finally {
    Deno.removeSync(temp, { recursive: true });
  }
});
