/**
 * `bench`: llama-bench-compatible throughput tests (pp512, tg64, tg64@pp16384) over thread
 * counts, cache types and attention strategies, printed as markdown, JSON, JSONL or CSV with
 * llama-bench's field names, optionally drawn as an SVG of t/s against depth.
 * @module
 */
import { fileURLToPath } from "node:url";
import {
  ATTENTION_STRATEGIES,
  type AttentionStrategy,
  CACHE_TYPES,
  type CacheType,
  checkModelPath,
  openModel,
} from "../engine.ts";
import { commaList, normalizeLlamaFlags } from "../llama_flags.ts";
import { plotDepthSvg } from "../plot.ts";
import { choiceFlag, type Command, intFlag, parseFlags, UsageError } from "../usage.ts";
import { type BenchRow, formatRows, OUTPUT_FORMATS, testName } from "../bench/report.ts";
import { type BenchPlan, buildCommit, cpuInfo, planTests, runBench } from "../bench/runner.ts";
import { physicalCoreCount, THREADS_MAX } from "../../src/thread_pool.ts";

const USAGE = `flashmla bench — llama-bench-style throughput tests

Usage: bench -m MODEL [flags]

  -m, --model FILE         GGUF model (repeat for several models)
  -p, --n-prompt N,...     prompt sizes to time as one batch          (default 512; 0 = none)
  -n, --n-gen N,...        tokens to generate one by one              (default 64; 0 = none)
  -d, --n-depth N,...      run every -p/-n test on top of this many cached tokens (default 0)
  --gp DEPTH,N             a generation test of N tokens at DEPTH: tg64@pp16384 (repeatable;
                           llama.cpp spelling -pg / -gp also accepted)
  -r, --repetitions N      timed repetitions per test                (default 5)
  -t, --threads N,...      thread counts                             (default: physical cores)
  -ctk, --cache-type-k T,...  cache types: f16, q8_0, q8_KV          (default f16)
  --attn S,...             attention strategies: auto, heads, kvsplit (default auto)
  --fill MODE              fill depth by a real "prefill" or "synthetic" cache rows (default prefill)
  -b, --batch-size N       prompt batch size                          (default 512)
  -o, --output FMT         md, json, jsonl or csv                     (default md)
  --plot FILE.svg          also draw t/s against depth per strategy and cache type
  -rtr, --run-time-repack 0|1,...  repack IQ4_NL/Q4_0/Q4_K/Q5_0/Q5_1/Q5_K/Q6_K/Q8_0 weights at load for faster matmuls (default 1)
  --no-warmup              skip the untimed warm-up run
  -h, --help               this text

Rows are named like llama-bench's: pp512, tg64, and tg64@pp16384 for a test at depth.
Fields: model_filename, model_type, model_size, model_n_params, n_threads, type_k, n_prompt,
n_gen, n_depth, avg_ns, stddev_ns, avg_ts, stddev_ts, samples_ts, … plus attn, fill, engine.
Example: bench -m v2-lite.gguf -p 512 -n 64 -d 0,4096,16384 --attn heads,kvsplit -ctk f16,q8_KV`;

const OPTIONS = {
  model: { type: "string", short: "m", multiple: true },
  "n-prompt": { type: "string", short: "p", multiple: true },
  "n-gen": { type: "string", short: "n", multiple: true },
  "n-depth": { type: "string", short: "d", multiple: true },
  gp: { type: "string", multiple: true },
  repetitions: { type: "string", short: "r" },
  threads: { type: "string", short: "t", multiple: true },
  "cache-type-k": { type: "string", multiple: true },
  ctk: { type: "string", multiple: true },
  attn: { type: "string", multiple: true },
  fill: { type: "string" },
  "batch-size": { type: "string", short: "b" },
  output: { type: "string", short: "o" },
  plot: { type: "string" },
  "no-warmup": { type: "boolean" },
  "run-time-repack": { type: "string", multiple: true },
} as const;

/** Parsed `bench` arguments. */
export interface BenchArgs {
  /** Model paths. */
  models: string[];
  /** The run plan. */
  plan: BenchPlan;
  /** Output format. */
  output: typeof OUTPUT_FORMATS[number];
  /** SVG path, if asked. */
  plot?: string;
  /** Load settings to run every model with: repack weights or not (`-rtr 0,1`). */
  repack: boolean[];
}

function ints(
  flag: string,
  values: string[] | undefined,
  fallback: number[],
  min: number,
  max: number,
): number[] {
  if (values === undefined) return fallback;
  return commaList(flag, values).map((v) => intFlag(flag, v, 0, min, max));
}

/**
 * Parses and validates `bench` arguments (llama.cpp spellings such as `-ctk` included).
 *
 * @param args Arguments after the command name.
 * @returns Models, plan, output format, plot path.
 * @throws {UsageError} For unknown flags and bad values.
 *
 * @example
 * ```ts
 * import { parseBenchArgs } from "./bench.ts";
 * const { plan } = parseBenchArgs(["-m", "a.gguf", "-d", "0,4096", "--attn", "heads,kvsplit"]);
 * ```
 */
export function parseBenchArgs(args: string[]): BenchArgs {
  const { values } = parseFlags(normalizeLlamaFlags(args, ["-ctk", "-pg", "-gp", "-rtr"]), OPTIONS);
  const models = values.model ?? [];
  if (models.length === 0) throw new UsageError("-m MODEL is required");
  const limit = 1 << 20;
  const nPrompt = ints("-p", values["n-prompt"], [512], 0, limit);
  const nGen = ints("-n", values["n-gen"], [64], 0, limit);
  const depths = ints("-d", values["n-depth"], [0], 0, limit);
  const gp = (values.gp ?? []).map((pair) => {
    const parts = pair.split(",");
    if (parts.length !== 2) throw new UsageError(`--gp must be DEPTH,N, got "${pair}"`);
    return {
      depth: intFlag("--gp DEPTH", parts[0], 0, 0, limit),
      nGen: intFlag("--gp N", parts[1], 0, 1, limit),
    };
  });
  const typeValues = [...(values["cache-type-k"] ?? []), ...(values.ctk ?? [])];
  const cacheTypes = (typeValues.length > 0 ? commaList("-ctk", typeValues) : ["f16"]).map((t) =>
    choiceFlag("-ctk", t, CACHE_TYPES, "f16")
  ) as CacheType[];
  const attentions = (values.attn ? commaList("--attn", values.attn) : ["auto"]).map((a) =>
    choiceFlag("--attn", a, ATTENTION_STRATEGIES, "auto")
  ) as AttentionStrategy[];
  const tests = planTests(nPrompt, nGen, depths, gp);
  if (tests.length === 0) throw new UsageError("Nothing to run: every -p and -n is 0 and no --gp");
  const output = choiceFlag("-o", values.output, OUTPUT_FORMATS, "md");
  const plot = values.plot;
  if (plot !== undefined && !plot.endsWith(".svg")) {
    throw new UsageError(`--plot must name an .svg file, got "${plot}"`);
  }
  const repack = ints("-rtr", values["run-time-repack"], [1], 0, 1).map((v) => v === 1);
  return {
    models,
    output,
    plot,
    repack,
    plan: {
      tests,
      threads: ints("-t", values.threads, [physicalCoreCount()], 1, THREADS_MAX),
      cacheTypes,
      attentions,
      repetitions: intFlag("-r", values.repetitions, 5, 1, 1000),
      fill: choiceFlag("--fill", values.fill, ["prefill", "synthetic"] as const, "prefill"),
      batchSize: intFlag("-b", values["batch-size"], 512, 1, 1 << 16),
      warmup: !values["no-warmup"],
    },
  };
}

function summary(row: BenchRow): string {
  const fill = row.n_depth > 0 ? ` ${row.fill}` : "";
  return `${testName(row).padEnd(16)} t=${row.n_threads} ${row.type_k} ${row.attn}${fill}` +
    ` rtr=${row.repack ? 1 : 0}: ` +
    `${row.avg_ts.toFixed(2)} ± ${row.stddev_ts.toFixed(2)} t/s`;
}

/** The `bench` command. */
export const command: Command = {
  summary: "llama-bench-style pp/tg/depth throughput tests (md, json, csv, svg plot)",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const parsed = parseBenchArgs(args);
    for (const path of parsed.models) checkModelPath(path);
    const repoDir = fileURLToPath(new URL("../../", import.meta.url));
    const rows: BenchRow[] = [];
    for (const path of parsed.models) {
      for (const repack of parsed.repack) {
        using model = await openModel(path, { repack });
        const env = {
          modelFilename: path,
          buildCommit: buildCommit(repoDir),
          cpuInfo: cpuInfo(),
          repack,
        };
        rows.push(...await runBench(model, parsed.plan, env, (row) => console.error(summary(row))));
      }
    }
    let text = formatRows(rows, parsed.output);
    // llama-bench ends its markdown with the build; JSON and CSV carry it in every row.
    if (parsed.output === "md") text += `\nbuild: ${rows[0]?.build_commit ?? "unknown"}\n`;
    await Deno.stdout.write(new TextEncoder().encode(text));
    if (parsed.plot !== undefined) {
      Deno.writeTextFileSync(parsed.plot, plotDepthSvg(rows));
      console.error(`Wrote ${parsed.plot}`);
    }
    return 0;
  },
};
