/**
 * Runs llama-bench-style tests on a model: for every configuration (threads × cache type ×
 * attention strategy) one context, and in it every test (pp N, tg N, at each depth) repeated
 * `repetitions` times. Each repetition clears the cache, fills it to the test's depth (a real
 * prefill, or synthetic rows), then times only the test itself, as llama-bench does.
 * @module
 */
import type { AttentionStrategy, CacheType, ModelLike } from "../engine.ts";
import { countProgress } from "../progress.ts";
import {
  type BenchConfig,
  type BenchRow,
  type FillMode,
  rowFromSamples,
  sizeClass,
} from "./report.ts";

/** One test: tokens processed as one prompt, or generated one by one, on top of a depth. */
export interface BenchTest {
  /** Prompt tokens in the timed part (0 for a generation test). */
  nPrompt: number;
  /** Generated tokens in the timed part (0 for a prompt test). */
  nGen: number;
  /** Tokens in the cache before the timed part. */
  depth: number;
}

/** Everything a bench run does. */
export interface BenchPlan {
  /** Tests in order. */
  tests: BenchTest[];
  /** Thread counts. */
  threads: number[];
  /** Cache types. */
  cacheTypes: CacheType[];
  /** Attention strategies. */
  attentions: AttentionStrategy[];
  /** Timed repetitions per test. */
  repetitions: number;
  /** How a depth is filled. */
  fill: FillMode;
  /** Prompt batch size. */
  batchSize: number;
  /** Whether an untimed warm-up (a 32-token batch, one decode) precedes each configuration. */
  warmup: boolean;
}

/** Facts about the run that go into every row. */
export interface BenchEnvironment {
  /** Model path. */
  modelFilename: string;
  /** Short git commit. */
  buildCommit: string;
  /** CPU name. */
  cpuInfo: string;
  /** Whether the model's weights were repacked at load (default true). */
  repack?: boolean;
}

/**
 * Builds the test list llama-bench would: each `-p` value and each `-n` value at each depth
 * of `-d`, then each `--gp depth,n` as a generation test at that depth. Zero-sized tests are
 * dropped (`-p 0` means no prompt test).
 *
 * @param nPrompt Values of `-p`.
 * @param nGen Values of `-n`.
 * @param depths Values of `-d`.
 * @param gp `--gp` pairs.
 * @returns Tests in run order.
 *
 * @example
 * ```ts
 * import { planTests } from "./runner.ts";
 * planTests([512], [64], [0], [{ depth: 16384, nGen: 64 }]);
 * // pp512, tg64, tg64@pp16384
 * ```
 */
export function planTests(
  nPrompt: readonly number[],
  nGen: readonly number[],
  depths: readonly number[],
  gp: readonly { depth: number; nGen: number }[],
): BenchTest[] {
  const tests: BenchTest[] = [];
  for (const depth of depths) {
    for (const n of nPrompt) if (n > 0) tests.push({ nPrompt: n, nGen: 0, depth });
    for (const n of nGen) if (n > 0) tests.push({ nPrompt: 0, nGen: n, depth });
  }
  for (const pair of gp) {
    if (pair.nGen > 0) tests.push({ nPrompt: 0, nGen: pair.nGen, depth: pair.depth });
  }
  return tests;
}

/** Cache capacity a plan needs: the deepest test plus its own tokens, rounded up to 256. */
export function contextLengthFor(tests: readonly BenchTest[]): number {
  const needed = Math.max(1, ...tests.map((t) => t.depth + t.nPrompt + t.nGen + 1));
  return Math.ceil(needed / 256) * 256;
}

/** A small xorshift generator for token ids, so runs are reproducible. */
function tokenSource(vocabSize: number, seed: number): (n: number) => number[] {
  let state = seed >>> 0 || 1;
  return (n) => {
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      ids.push(state % vocabSize);
    }
    return ids;
  };
}

/** The `model_type` column: `deepseek2 16B IQ4_NL`. */
export function modelType(model: ModelLike): string {
  return `deepseek2 ${sizeClass(model.info.paramCount)} ${model.info.weightType}`;
}

/**
 * Runs a plan and returns one row per configuration × test, calling `onRow` as each finishes
 * (so a long run shows progress). Shows a progress bar for depth prefills on a TTY.
 *
 * @param model The model.
 * @param plan What to run.
 * @param env Facts for every row.
 * @param onRow Called with each finished row.
 * @returns All rows.
 *
 * @example
 * ```ts
 * import { planTests, runBench } from "./runner.ts";
 * import type { ModelLike } from "../engine.ts";
 * declare const model: ModelLike;
 * const rows = await runBench(model, {
 *   tests: planTests([512], [64], [0], []), threads: [2], cacheTypes: ["f16"],
 *   attentions: ["auto"], repetitions: 3, fill: "prefill", batchSize: 512, warmup: true,
 * }, { modelFilename: "m.gguf", buildCommit: "abc", cpuInfo: "cpu" });
 * ```
 */
export async function runBench(
  model: ModelLike,
  plan: BenchPlan,
  env: BenchEnvironment,
  onRow: (row: BenchRow) => void = () => {},
): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const tokens = tokenSource(model.info.vocabSize, 1234);
  const ctxLen = contextLengthFor(plan.tests);
  for (const threads of plan.threads) {
    for (const cacheType of plan.cacheTypes) {
      for (const attention of plan.attentions) {
        using ctx = model.createContext({
          ctxLen,
          threads,
          cacheType,
          attention,
          batchSize: plan.batchSize,
        });
        if (plan.warmup) {
          // A batch of 32 random tokens routes through most experts, so their weights are
          // paged in before timing; then one decode step warms the single-token path.
          ctx.reset();
          ctx.evalLogits(tokens(Math.min(32, plan.batchSize)));
          ctx.evalLogits(tokens(1));
        }
        for (const test of plan.tests) {
          const config: BenchConfig = {
            build_commit: env.buildCommit,
            cpu_info: env.cpuInfo,
            backends: "CPU",
            model_filename: env.modelFilename,
            model_type: modelType(model),
            model_size: model.info.fileBytes,
            model_n_params: model.info.paramCount,
            n_batch: plan.batchSize,
            n_threads: threads,
            type_k: cacheType,
            type_v: cacheType,
            flash_attn: true,
            n_prompt: test.nPrompt,
            n_gen: test.nGen,
            n_depth: test.depth,
            test_time: new Date().toISOString(),
            attn: attention,
            fill: test.depth > 0 ? plan.fill : "prefill",
            engine: "flashmla-deno",
            repack: env.repack ?? true,
          };
          const samplesNs: number[] = [];
          for (let rep = 0; rep < plan.repetitions; rep++) {
            ctx.reset();
            if (test.depth > 0) fillDepth(ctx, test.depth, plan.fill, tokens, rep);
            samplesNs.push(timeTest(ctx, test, tokens));
            // Yield so a SIGINT handler or a progress line can run between repetitions.
            await new Promise((resolve) => setTimeout(resolve, 0));
          }
          const row = rowFromSamples(config, samplesNs);
          rows.push(row);
          onRow(row);
        }
      }
    }
  }
  return rows;
}

function fillDepth(
  ctx: ReturnType<ModelLike["createContext"]>,
  depth: number,
  fill: FillMode,
  tokens: (n: number) => number[],
  rep: number,
): void {
  if (fill === "synthetic") {
    ctx.fillSynthetic(depth, 1 + rep);
    return;
  }
  const progress = countProgress(`depth ${depth}`, "tokens");
  try {
    ctx.evalLogits(tokens(depth), { onProgress: progress.onProgress });
  } finally {
    progress.finish();
  }
}

/** Times the test part only and returns nanoseconds. */
function timeTest(
  ctx: ReturnType<ModelLike["createContext"]>,
  test: BenchTest,
  tokens: (n: number) => number[],
): number {
  const prompt = test.nPrompt > 0 ? tokens(test.nPrompt) : [];
  const gen = tokens(test.nGen);
  const started = performance.now();
  if (prompt.length > 0) ctx.evalLogits(prompt);
  for (const id of gen) ctx.evalLogits([id]);
  return (performance.now() - started) * 1e6;
}

/**
 * The short git commit of the checkout `dir` belongs to, or "unknown".
 *
 * @param dir A directory inside the repository.
 * @returns Seven or more hex digits, or "unknown".
 *
 * @example
 * ```ts
 * import { buildCommit } from "./runner.ts";
 * console.log(buildCommit("."));
 * ```
 */
export function buildCommit(dir: string): string {
  try {
    const out = new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: dir,
      stdout: "piped",
      stderr: "null",
    }).outputSync();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && text !== "" ? text : "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * The CPU's model name from /proc/cpuinfo, or "unknown".
 *
 * @returns The name.
 *
 * @example
 * ```ts
 * import { cpuInfo } from "./runner.ts";
 * console.log(cpuInfo());
 * ```
 */
export function cpuInfo(): string {
  try {
    const line = Deno.readTextFileSync("/proc/cpuinfo").split("\n").find((l) =>
      l.startsWith("model name")
    );
    return line?.split(":")[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}
