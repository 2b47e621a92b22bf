/**
 * Flags shared by `run` and `chat`: context (threads, size, cache type, attention) and
 * sampling, with llama-cli's names and defaults, validated into engine options.
 * @module
 */
import {
  ATTENTION_STRATEGIES,
  CACHE_TYPES,
  type ContextOptionsLike,
  type GenerateOptionsLike,
} from "./engine.ts";
import { choiceFlag, intFlag, numberFlag } from "./usage.ts";
import { physicalCoreCount, THREADS_MAX } from "../src/thread_pool.ts";

/** parseArgs declarations of the shared flags. */
export const GENERATION_OPTIONS = {
  model: { type: "string", short: "m" },
  "n-predict": { type: "string", short: "n" },
  temp: { type: "string" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  "min-p": { type: "string" },
  "repeat-penalty": { type: "string" },
  "repeat-last-n": { type: "string" },
  seed: { type: "string", short: "s" },
  threads: { type: "string", short: "t" },
  "ctx-size": { type: "string", short: "c" },
  "batch-size": { type: "string", short: "b" },
  "cache-type-k": { type: "string" },
  ctk: { type: "string" },
  attn: { type: "string" },
} as const;

/**
 * Help lines of the shared flags.
 *
 * @param maxTokensDefault Default of `-n` in this command.
 * @returns Help text lines.
 *
 * @example
 * ```ts
 * import { generationUsage } from "./generation_flags.ts";
 * console.log(generationUsage(128));
 * ```
 */
export function generationUsage(maxTokensDefault: number): string {
  return `  -m, --model FILE         GGUF model (required)
  -n, --n-predict N        most tokens to generate                 (default ${maxTokensDefault})
  --temp T                 temperature, 0 = greedy                 (default 0.8)
  --top-k K                keep the K most likely tokens, 0 = all  (default 40)
  --top-p P                nucleus sampling, 1 = off               (default 0.95)
  --min-p P                drop tokens below P × the best, 0 = off (default 0.05)
  --repeat-penalty R       penalise recent tokens, 1 = off         (default 1.0)
  --repeat-last-n N        how many recent tokens count            (default 64)
  -s, --seed S             RNG seed, -1 = random                   (default -1)
  -t, --threads N          threads                                 (default: physical cores)
  -c, --ctx-size N         context length in tokens                (default 4096)
  -b, --batch-size N       prompt batch size                       (default 512)
  -ctk, --cache-type-k T   KV cache type: f16, q8_0, q8_KV         (default f16)
  --attn S                 attention: auto, heads, kvsplit         (default auto)`;
}

/** Values parseArgs returns for {@linkcode GENERATION_OPTIONS}. */
export type GenerationValues = { [K in keyof typeof GENERATION_OPTIONS]?: string };

/**
 * Turns the shared flags into context and generation options, naming the flag of any bad
 * value.
 *
 * @param values Parsed flag values.
 * @param maxTokensDefault Default of `-n`.
 * @returns Context options and generation options.
 * @throws {UsageError} For out-of-range values.
 *
 * @example
 * ```ts
 * import { generationOptions } from "./generation_flags.ts";
 * const { context, generate } = generationOptions({ temp: "0", threads: "2" }, 128);
 * ```
 */
export function generationOptions(
  values: GenerationValues,
  maxTokensDefault: number,
): { context: ContextOptionsLike; generate: GenerateOptionsLike } {
  const seed = intFlag("--seed", values.seed, -1, -1, 2 ** 32 - 1);
  const cacheType = values["cache-type-k"] ?? values.ctk;
  return {
    context: {
      ctxLen: intFlag("-c", values["ctx-size"], 4096, 16, 1 << 20),
      threads: intFlag("-t", values.threads, physicalCoreCount(), 1, THREADS_MAX),
      cacheType: choiceFlag("-ctk", cacheType, CACHE_TYPES, "f16"),
      attention: choiceFlag("--attn", values.attn, ATTENTION_STRATEGIES, "auto"),
      batchSize: intFlag("-b", values["batch-size"], 512, 1, 1 << 16),
    },
    generate: {
      maxTokens: intFlag("-n", values["n-predict"], maxTokensDefault, 1, 1 << 20),
      temperature: numberFlag("--temp", values.temp, 0.8, 0, 100),
      topK: intFlag("--top-k", values["top-k"], 40, 0, 1 << 30),
      topP: numberFlag("--top-p", values["top-p"], 0.95, 0, 1),
      minP: numberFlag("--min-p", values["min-p"], 0.05, 0, 1),
      repeatPenalty: numberFlag("--repeat-penalty", values["repeat-penalty"], 1, 0.01, 100),
      ...(values["repeat-last-n"] !== undefined
        ? { penaltyLastN: intFlag("--repeat-last-n", values["repeat-last-n"], 64, 0, 1 << 20) }
        : {}),
      seed: seed === -1 ? Math.floor(Math.random() * 2 ** 31) : seed,
    },
  };
}

/**
 * One line of timings like llama.cpp's perf print:
 * `prompt 12 tokens 0.10 s (120.00 t/s) | generation 64 tokens 3.20 s (20.00 t/s)`.
 *
 * @param stats A context's `stats`.
 * @returns The line.
 *
 * @example
 * ```ts
 * import { timingLine } from "./generation_flags.ts";
 * timingLine({ promptTokens: 10, promptMs: 100, generatedTokens: 20, generateMs: 1000 });
 * ```
 */
export function timingLine(
  stats: { promptTokens: number; promptMs: number; generatedTokens: number; generateMs: number },
): string {
  const rate = (n: number, ms: number) => (ms > 0 ? (n * 1000 / ms).toFixed(2) : "-");
  return `prompt ${stats.promptTokens} tokens ${(stats.promptMs / 1000).toFixed(2)} s ` +
    `(${rate(stats.promptTokens, stats.promptMs)} t/s) | generation ${stats.generatedTokens} ` +
    `tokens ${(stats.generateMs / 1000).toFixed(2)} s ` +
    `(${rate(stats.generatedTokens, stats.generateMs)} t/s)`;
}
