/**
 * The CLI commands end to end on a real (synthetic, 2-layer) tiny model, each in its own
 * process as a user runs them.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { synthesizeModel } from "../src/synth/synthesize.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const temp = Deno.makeTempDirSync({ prefix: "flashmla-cli-e2e-" });
const modelPath = join(temp, "tiny.gguf");
let made: Promise<unknown> | undefined;

function model(): Promise<unknown> {
  made ??= synthesizeModel(modelPath, { preset: "tiny", wtype: "Q8_0", layers: 2, seed: 3 });
  return made;
}

async function cli(
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  await model();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}cli/main.ts`, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", XDG_CACHE_HOME: join(temp, "xdg") },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test({
  name: "cli run streams text and prints a timing line",
  sanitizeResources: false,
  fn: async () => {
    const result = await cli([
      "run",
      "-m",
      modelPath,
      "-p",
      "Hello",
      "-n",
      "8",
      "--temp",
      "0",
      "-t",
      "2",
      "-c",
      "256",
      "-ctk",
      "q8_0",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.length > 0, "some text was generated");
    const timing = result.stderr.match(/prompt (\d+) tokens .* \| generation (\d+) tokens/);
    assert.ok(timing, result.stderr);
    assert.ok(Number(timing[1]) >= 1 && Number(timing[2]) >= 1 && Number(timing[2]) <= 8);
  },
});

Deno.test({
  name: "cli bench -o json gives llama-bench rows per strategy, depth filled synthetically",
  sanitizeResources: false,
  fn: async () => {
    const svg = join(temp, "depth.svg");
    const result = await cli([
      "bench",
      "-m",
      modelPath,
      "-p",
      "16",
      "-n",
      "4",
      "-d",
      "0,128",
      "--attn",
      "heads,kvsplit",
      "--fill",
      "synthetic",
      "-r",
      "2",
      "-t",
      "2",
      "-o",
      "json",
      "--plot",
      svg,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const rows = JSON.parse(result.stdout);
    assert.equal(rows.length, 2 * 4);
    for (const row of rows) {
      assert.ok(row.avg_ts > 0 && row.samples_ts.length === 2, JSON.stringify(row));
      assert.equal(row.model_filename, modelPath);
      assert.equal(row.n_threads, 2);
      assert.equal(row.fill, row.n_depth > 0 ? "synthetic" : "prefill");
    }
    assert.deepEqual([...new Set(rows.map((r: { attn: string }) => r.attn))], ["heads", "kvsplit"]);
    assert.ok(Deno.readTextFileSync(svg).includes("<polyline"));
  },
});

Deno.test({
  name: "cli demo generates and prints the heads vs kvsplit depth table",
  sanitizeResources: false,
  fn: async () => {
    const result = await cli([
      "demo",
      "-m",
      modelPath,
      "-n",
      "4",
      "--depths",
      "0,256",
      "--tg",
      "2",
      "-t",
      "2",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /\| depth \| heads t\/s \| kvsplit t\/s \| kvsplit \/ heads \|/);
    assert.match(result.stdout, /\| 256 \| [\d.]+ ± [\d.]+ \| [\d.]+ ± [\d.]+ \| [\d.]+× \|/);
  },
});

Deno.test({
  name: "cli chat answers a turn from stdin and quits on /exit",
  sanitizeResources: false,
  fn: async () => {
    const result = await cli(["chat", "-m", modelPath, "-n", "4", "-c", "512"], "Hi\n/exit\n");
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.startsWith("> "), result.stdout);
    assert.equal(result.stdout.split("> ").length, 3, "two prompts: the turn, then /exit");
  },
});

Deno.test({
  name: "cli e2e cleanup",
  fn: () => Deno.removeSync(temp, { recursive: true }),
});
