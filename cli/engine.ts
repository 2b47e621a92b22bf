/**
 * What the CLI needs from the engine (`src/model.ts`), written as structural interfaces of the
 * public API contract, plus the one place that opens a model file for a command: it checks
 * the path first (naming it when it is missing) and shows a load progress bar. Commands depend
 * on these interfaces, so their logic is testable with a small fake model.
 * @module
 */
import { UsageError } from "./usage.ts";
import { ProgressBar } from "./progress.ts";

/** Attention strategies of FlashMLA. */
export const ATTENTION_STRATEGIES = ["auto", "heads", "kvsplit"] as const;
/** One of {@linkcode ATTENTION_STRATEGIES}. */
export type AttentionStrategy = typeof ATTENTION_STRATEGIES[number];
/** KV cache element types. */
export const CACHE_TYPES = ["f16", "q8_0", "q8_KV"] as const;
/** One of {@linkcode CACHE_TYPES}. */
export type CacheType = typeof CACHE_TYPES[number];

/** The model facts the CLI prints (a subset of the engine's `ModelInfo`). */
export interface ModelInfoLike {
  /** Model name from the file. */
  name: string;
  /** Transformer blocks. */
  nLayer: number;
  /** Vocabulary size. */
  vocabSize: number;
  /** Dominant weight type, e.g. "IQ4_NL". */
  weightType: string;
  /** File size in bytes. */
  fileBytes: number;
  /** Parameter count. */
  paramCount: number;
}

/** Context creation options (the engine's `ContextOptions`). */
export interface ContextOptionsLike {
  /** Cache capacity in tokens. */
  ctxLen?: number;
  /** Threads. */
  threads?: number;
  /** Cache type. */
  cacheType?: CacheType;
  /** Attention strategy. */
  attention?: AttentionStrategy;
  /** Prompt batch size. */
  batchSize?: number;
}

/** Generation options (the engine's `GenerateOptions`). */
export interface GenerateOptionsLike {
  /** Most tokens to generate. */
  maxTokens?: number;
  /** Temperature; 0 is greedy. */
  temperature?: number;
  /** Top-k; 0 disables. */
  topK?: number;
  /** Top-p; 1 disables. */
  topP?: number;
  /** Min-p; 0 disables. */
  minP?: number;
  /** Repetition penalty; 1 disables. */
  repeatPenalty?: number;
  /** RNG seed. */
  seed?: number;
  /** Stop strings. */
  stop?: string[];
  /** Aborts generation. */
  signal?: AbortSignal;
  /** Whether BOS is prepended to a text prompt. */
  addBos?: boolean;
  /** Whether special-token text in the prompt is parsed as special tokens. */
  special?: boolean;
  /** Prefill progress. */
  onPrefillProgress?: (done: number, total: number) => void;
  /** What to do when the context fills up. */
  onContextFull?: "error" | "stop";
}

/** Timings a context keeps (the engine's `ModelContext.stats`). */
export interface ContextStatsLike {
  /** Prompt tokens evaluated. */
  promptTokens: number;
  /** Milliseconds spent on them. */
  promptMs: number;
  /** Tokens generated. */
  generatedTokens: number;
  /** Milliseconds spent generating. */
  generateMs: number;
}

/** The context API the CLI uses (the engine's `ModelContext`). */
export interface ContextLike extends Disposable {
  /** Tokens in the cache. */
  readonly nPast: number;
  /** Clears the cache. */
  reset(): void;
  /** Appends tokens and returns logits. */
  evalLogits(
    tokens: number[],
    opts?: { allLogits?: boolean; onProgress?: (done: number, total: number) => void },
  ): Float32Array;
  /** Streams generated text. */
  generate(prompt: string | number[], opts?: GenerateOptionsLike): AsyncGenerator<string>;
  /** Writes synthetic cache rows (TG-at-depth benches). */
  fillSynthetic(nTokens: number, seed?: number): void;
  /** Timings. */
  readonly stats: ContextStatsLike;
  /** Frees the context. */
  close(): void;
}

/** The model API the CLI uses (the engine's `Model`). */
export interface ModelLike extends Disposable {
  /** Model facts. */
  readonly info: ModelInfoLike;
  /** Text to token ids. */
  tokenize(text: string, opts?: { addBos?: boolean; special?: boolean }): number[];
  /** Token ids to text. */
  detokenize(ids: number[]): string;
  /** A new context. */
  createContext(opts?: ContextOptionsLike): ContextLike;
  /** Frees the model. */
  close(): void;
}

/** A chat message. */
export interface ChatMessage {
  /** Who speaks. */
  role: "system" | "user" | "assistant";
  /** What is said. */
  content: string;
}

/**
 * Fails with a usage error naming `path` when it is not a readable file, before any engine
 * code runs.
 *
 * @param path Model path from `-m`.
 * @throws {UsageError} When the file is missing or is a directory.
 *
 * @example
 * ```ts
 * import { checkModelPath } from "./engine.ts";
 * checkModelPath("/does/not/exist.gguf"); // throws: Model file "/does/not/exist.gguf" does not exist
 * ```
 */
export function checkModelPath(path: string | undefined): asserts path is string {
  if (path === undefined || path === "") throw new UsageError("-m MODEL is required");
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new UsageError(`Model file "${path}" does not exist`);
  }
  if (!info.isFile) throw new UsageError(`Model path "${path}" is not a file`);
}

/**
 * Opens a model with a load progress bar on stderr (TTY only).
 *
 * @param path GGUF file; checked with {@linkcode checkModelPath} first.
 * @returns The model.
 *
 * @example
 * ```ts
 * import { openModel } from "./engine.ts";
 * using model = await openModel("tiny.gguf");
 * console.log(model.info.nLayer);
 * ```
 */
export async function openModel(
  path: string | undefined,
  options: { repack?: boolean } = {},
): Promise<ModelLike> {
  checkModelPath(path);
  const { Model } = await import("../src/model.ts");
  const bar = new ProgressBar("loading");
  try {
    return await Model.load(path, {
      onProgress: (fraction: number) => bar.update(fraction),
      repack: options.repack,
    });
  } finally {
    bar.finish();
  }
}

let warnedTemplate = false;

/**
 * Renders a conversation with the model's chat template, by default ending with the
 * assistant's turn opener.
 *
 * @param model The model (its file may name a template).
 * @param messages The conversation so far.
 * @param addGenerationPrompt Whether to end with the assistant's turn opener.
 * @returns Prompt text (special tokens spelled out; tokenize it with `special: true`).
 *
 * @example
 * ```ts
 * import { chatPrompt, openModel } from "./engine.ts";
 * using model = await openModel("tiny.gguf");
 * const prompt = await chatPrompt(model, [{ role: "user", content: "Hi" }]);
 * ```
 */
export async function chatPrompt(
  model: ModelLike,
  messages: ChatMessage[],
  addGenerationPrompt = true,
): Promise<string> {
  const { applyChatTemplate, detectChatTemplate } = await import(
    "../src/tokenizer/chat_template.ts"
  );
  // The file's own template (tokenizer.chat_template) when it is a DeepSeek format we know;
  // otherwise deepseek2, the format of the models this engine runs.
  let template = (model as { tokenizer?: { chatTemplate?: string } }).tokenizer?.chatTemplate;
  if (template !== undefined && detectChatTemplate(template) === undefined) {
    if (!warnedTemplate) {
      console.error("warning: unknown chat template in the file; using deepseek2");
    }
    warnedTemplate = true;
    template = undefined;
  }
  return applyChatTemplate(messages, { template, addGenerationPrompt });
}
