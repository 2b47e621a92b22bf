/**
 * `demo` (= `deno task demo`): the project in one command on a fresh machine. It builds the
 * kernels if needed, makes a synthetic DeepSeek2 model on first run into the cache directory
 * (`tiny` in seconds; `--preset v2-lite` for the full shape), streams generated text, then
 * prints a short token-generation-at-depth table comparing the `heads` and `kvsplit`
 * attention strategies. The weights are random, so the text is too: the point is the path
 * and the speed.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { native, packageCacheRoot } from "../../ffi/library.ts";
import { type ModelLike, openModel } from "../engine.ts";
import { commaList } from "../llama_flags.ts";
import { type BenchRow, formatParams, formatSize } from "../bench/report.ts";
import { buildCommit, cpuInfo, planTests, runBench } from "../bench/runner.ts";
import { ProgressBar } from "../progress.ts";
import { choiceFlag, type Command, intFlag, parseFlags } from "../usage.ts";
import { generateToStream } from "./run.ts";
import { physicalCoreCount, THREADS_MAX } from "../../src/thread_pool.ts";

/** Synthetic model presets the demo can make. */
export const DEMO_PRESETS = ["tiny", "v2-lite"] as const;
/** One of {@linkcode DEMO_PRESETS}. */
export type DemoPreset = typeof DEMO_PRESETS[number];

const USAGE = `flashmla demo — build, make a synthetic DeepSeek2 model, generate, bench

Usage: demo [flags]            (also: deno task demo)

  --preset NAME            tiny (default; made in seconds) or v2-lite (full DeepSeek-V2-Lite shape, ~9 GB)
  -m, --model FILE         use this GGUF instead of a synthetic model
  -p, --prompt TEXT        prompt                                   (default "The history of")
  -n, --n-predict N        tokens to generate                       (default 32)
  -t, --threads N          threads                                  (default: physical cores)
  -d, --depths N,...       cache depths of the TG table             (default 0,1024,4096)
  --tg N                   tokens timed per table cell              (default 8)
  --no-bench               skip the TG-at-depth table
  -h, --help               this text

Models are cached in $XDG_CACHE_HOME/flashmla-deno/models (or ~/.cache/flashmla-deno/models).`;

const OPTIONS = {
  preset: { type: "string" },
  model: { type: "string", short: "m" },
  prompt: { type: "string", short: "p" },
  "n-predict": { type: "string", short: "n" },
  threads: { type: "string", short: "t" },
  depths: { type: "string", short: "d", multiple: true },
  tg: { type: "string" },
  "no-bench": { type: "boolean" },
} as const;

/**
 * Where the demo keeps its synthetic model for a preset.
 *
 * @param preset tiny or v2-lite.
 * @returns Absolute path of the GGUF file.
 *
 * @example
 * ```ts
 * import { demoModelPath } from "./demo.ts";
 * console.log(demoModelPath("tiny")); // ~/.cache/flashmla-deno/models/demo-tiny-q8_0.gguf
 * ```
 */
export function demoModelPath(preset: DemoPreset): string {
  const file = preset === "tiny" ? "demo-tiny-q8_0.gguf" : "demo-v2-lite-iq4_nl.gguf";
  return join(packageCacheRoot(), "models", file);
}

/**
 * Makes the preset's synthetic model at `path` unless it exists (with the real DeepSeek
 * vocabulary when ../shared has it, else the synthesizer's small byte-level one); writes to
 * a temporary file and renames it, so an interrupted run never leaves a truncated model behind.
 *
 * @param preset tiny or v2-lite.
 * @param path Target path.
 * @returns Whether a model was made.
 */
export async function ensureDemoModel(preset: DemoPreset, path: string): Promise<boolean> {
  try {
    if (Deno.statSync(path).isFile) return false;
  } catch {
    // Not made yet.
  }
  Deno.mkdirSync(join(path, ".."), { recursive: true });
  const partial = `${path}.partial-${Deno.pid}`;
  const { synthesizeModel } = await import("../../src/synth/synthesize.ts");
  const bar = new ProgressBar(`making ${preset} model`);
  try {
    await synthesizeModel(partial, {
      preset,
      wtype: preset === "tiny" ? "Q8_0" : "IQ4_NL",
      seed: 42,
      onProgress: (done: number, total: number) => bar.update(total > 0 ? done / total : 1),
    });
    Deno.renameSync(partial, path);
  } catch (e) {
    try {
      Deno.removeSync(partial);
    } catch {
      // Nothing was written.
    }
    throw e;
  } finally {
    bar.finish();
  }
  return true;
}

/**
 * Pivots TG rows into the demo table: depth | heads t/s | kvsplit t/s | kvsplit / heads.
 *
 * @param rows Rows of a run over attn heads,kvsplit.
 * @returns Markdown table.
 *
 * @example
 * ```ts
 * import { depthTable } from "./demo.ts";
 * import type { BenchRow } from "../bench/report.ts";
 * declare const rows: BenchRow[];
 * console.log(depthTable(rows));
 * ```
 */
export function depthTable(rows: readonly BenchRow[]): string {
  const depths = [...new Set(rows.map((r) => r.n_depth))].sort((a, b) => a - b);
  const cell = (depth: number, attn: string) =>
    rows.find((r) => r.n_depth === depth && r.attn === attn);
  const lines = [
    "| depth | heads t/s | kvsplit t/s | kvsplit / heads |",
    "| ----: | --------: | ----------: | --------------: |",
  ];
  for (const depth of depths) {
    const heads = cell(depth, "heads");
    const kvsplit = cell(depth, "kvsplit");
    const fmt = (r?: BenchRow) => (r ? `${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)}` : "-");
    const ratio = heads && kvsplit && heads.avg_ts > 0
      ? `${(kvsplit.avg_ts / heads.avg_ts).toFixed(2)}×`
      : "-";
    lines.push(`| ${depth} | ${fmt(heads)} | ${fmt(kvsplit)} | ${ratio} |`);
  }
  return lines.join("\n");
}

async function benchTable(
  model: ModelLike,
  path: string,
  threads: number,
  depths: number[],
  tg: number,
): Promise<string> {
  const rows = await runBench(model, {
    tests: planTests([], [tg], depths, []),
    threads: [threads],
    cacheTypes: ["f16"],
    attentions: ["heads", "kvsplit"],
    repetitions: 3,
    fill: "synthetic",
    batchSize: 512,
    warmup: true,
  }, {
    modelFilename: path,
    buildCommit: buildCommit(fileURLToPath(new URL("../../", import.meta.url))),
    cpuInfo: cpuInfo(),
  });
  return depthTable(rows);
}

/** The `demo` command. */
export const command: Command = {
  summary: "build, make a synthetic model, generate text, print a TG-at-depth table",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const { values } = parseFlags(args, OPTIONS);
    const preset = choiceFlag("--preset", values.preset, DEMO_PRESETS, "tiny");
    const threads = intFlag("-t", values.threads, physicalCoreCount(), 1, THREADS_MAX);
    const nPredict = intFlag("-n", values["n-predict"], 32, 1, 4096);
    const tg = intFlag("--tg", values.tg, 8, 1, 1024);
    const depths = values.depths
      ? commaList("-d", values.depths).map((d) => intFlag("-d", d, 0, 0, 1 << 20))
      : [0, 1024, 4096];

    // native() builds libflashmla with zig when it is missing or stale (about a minute the
    // first time on 2 cores), then opens it.
    console.error("kernels: building with zig if needed…");
    let started = performance.now();
    native();
    console.error(`kernels ready (${((performance.now() - started) / 1000).toFixed(1)} s)`);

    const path = values.model ?? demoModelPath(preset);
    if (values.model === undefined) {
      started = performance.now();
      if (await ensureDemoModel(preset, path)) {
        console.error(
          `made ${preset} model ${path} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
        );
      }
    }
    using model = await openModel(path);
    const info = model.info;
    console.error(
      `model ${info.name}: ${info.nLayer} layers, ${formatParams(info.paramCount)} params, ` +
        `${info.weightType}, ${formatSize(info.fileBytes)}${
          values.model === undefined ? " (synthetic: random weights, so random text)" : ""
        }`,
    );
    const prompt = values.prompt ?? "The history of";
    await Deno.stdout.write(new TextEncoder().encode(prompt));
    const line = await generateToStream(model, prompt, {
      chat: false,
      stop: [],
      values: { "n-predict": String(nPredict), threads: String(threads), seed: "42" },
    }, Deno.stdout);
    console.log("");
    console.error(line);
    if (!values["no-bench"]) {
      console.log(
        `\nToken generation at depth (tg${tg}, ${threads} threads, f16 cache, synthetic fill):\n`,
      );
      console.log(await benchTable(model, path, threads, depths, tg));
    }
    return 0;
  },
};
