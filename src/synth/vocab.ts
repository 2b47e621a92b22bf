/**
 * Tokenizer metadata for synthetic models: every `tokenizer.*` key copied from a vocabulary
 * GGUF (by default the DeepSeek LLM vocabulary in ../shared/data/vocab/), or, when there is
 * none, a small byte-level BPE vocabulary trained here on a built-in text.
 * @module
 */
import { GgufError } from "../errors.ts";
import { GgufFile } from "../gguf/reader.ts";
import { gguf, type GgufValue } from "../gguf/values.ts";
import { byteToChar } from "../tokenizer/byte_encoder.ts";

/** Default vocabulary file, relative to this module (the shared data directory). */
export const DEFAULT_VOCAB_PATH: string = new URL(
  "../../../shared/data/vocab/ggml-vocab-deepseek-llm.gguf",
  import.meta.url,
).pathname;

/** Tokenizer metadata and the vocabulary size it implies. */
export interface SynthVocab {
  /** `tokenizer.*` key/value pairs in file order. */
  readonly metadata: [string, GgufValue][];
  /** Number of tokens. */
  readonly nVocab: number;
  /** Where it came from: a file path or `"built-in"`. */
  readonly source: string;
}

/**
 * Copies every `tokenizer.*` key of a vocabulary GGUF.
 *
 * @param path The vocabulary file.
 * @returns Its tokenizer metadata.
 * @throws {GgufError} When the file is unreadable or has no `tokenizer.ggml.tokens`.
 *
 * @example
 * ```ts
 * import { DEFAULT_VOCAB_PATH, vocabFromFile } from "./vocab.ts";
 * console.log(vocabFromFile(DEFAULT_VOCAB_PATH).nVocab); // 102400
 * ```
 */
export function vocabFromFile(path: string): SynthVocab {
  using file = GgufFile.open(path);
  const metadata: [string, GgufValue][] = [];
  for (const [key, value] of file.metadata) {
    // Arrays are decoded here, while the mapping is still open.
    if (key.startsWith("tokenizer.")) metadata.push([key, materialize(value)]);
  }
  const nVocab = file.getStringArray("tokenizer.ggml.tokens").length;
  if (nVocab === 0) throw new GgufError(`Vocabulary in "${path}" is empty`);
  return { metadata, nVocab, source: path };
}

function materialize(value: GgufValue): GgufValue {
  if (value.type !== "array") return value;
  if (value.itemType === "array") {
    return { type: "array", itemType: "array", value: value.value.map(materialize) as never };
  }
  return { ...value, value: value.value } as GgufValue;
}

/** Text the built-in vocabulary's merges are learnt from. */
const TRAINING_TEXT = [
  "The quick brown fox jumps over the lazy dog.",
  "Once upon a time there was a little model that wanted to run on every computer.",
  "It read the weights, it rotated the keys, and it attended to the latent cache.",
  "Hello world! How are you today? I am fine, thank you, and the weather is nice.",
  "function main() { return 0; } // numbers 0123456789 and symbols +-*/=<>",
].join("\n");

/**
 * Learns `mergeCount` byte-level BPE merges from `text` (GPT-2 style: words carry their
 * leading space as "Ġ"), most frequent pair first; ties go to the pair seen first.
 */
function trainMerges(text: string, mergeCount: number): string[] {
  const encoder = new TextEncoder();
  const words = (text.match(/ ?[^\s]+|\s+/g) ?? []).map((w) =>
    Array.from(encoder.encode(w), byteToChar)
  );
  const merges: string[] = [];
  for (let m = 0; m < mergeCount; m++) {
    const counts = new Map<string, number>();
    for (const word of words) {
      for (let i = 0; i + 1 < word.length; i++) {
        const pair = `${word[i]} ${word[i + 1]}`;
        counts.set(pair, (counts.get(pair) ?? 0) + 1);
      }
    }
    let best = "";
    let bestCount = 1;
    for (const [pair, count] of counts) {
      if (count > bestCount) [best, bestCount] = [pair, count];
    }
    if (best === "") break;
    merges.push(best);
    const [left, right] = best.split(" ");
    for (const word of words) {
      for (let i = 0; i + 1 < word.length; i++) {
        if (word[i] === left && word[i + 1] === right) word.splice(i, 2, left + right);
      }
    }
  }
  return merges;
}

/**
 * A small byte-level BPE vocabulary: 256 byte tokens, merges learnt from a built-in text,
 * then DeepSeek's begin/end-of-sentence control tokens.
 *
 * @returns Tokenizer metadata (model "gpt2", pre "deepseek-llm").
 *
 * @example
 * ```ts
 * import { builtinVocab } from "./vocab.ts";
 * const vocab = builtinVocab();
 * console.log(vocab.nVocab > 256);
 * ```
 */
export function builtinVocab(): SynthVocab {
  const tokens = Array.from({ length: 256 }, (_, b) => byteToChar(b));
  const merges = trainMerges(TRAINING_TEXT, 120);
  // Two merges can spell the same token ("a bc", "ab c"); each text appears once.
  const seen = new Set(tokens);
  for (const merge of merges) {
    const token = merge.replace(" ", "");
    if (!seen.has(token)) tokens.push(token);
    seen.add(token);
  }
  const bos = tokens.push("<｜begin▁of▁sentence｜>") - 1;
  const eos = tokens.push("<｜end▁of▁sentence｜>") - 1;
  const types = tokens.map((_, id) => (id === bos || id === eos ? 3 : 1));
  const metadata: [string, GgufValue][] = [
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string("deepseek-llm")],
    ["tokenizer.ggml.tokens", gguf.strings(tokens)],
    ["tokenizer.ggml.token_type", gguf.numbers("i32", types)],
    ["tokenizer.ggml.merges", gguf.strings(merges)],
    ["tokenizer.ggml.bos_token_id", gguf.u32(bos)],
    ["tokenizer.ggml.eos_token_id", gguf.u32(eos)],
    ["tokenizer.ggml.padding_token_id", gguf.u32(eos)],
    ["tokenizer.ggml.add_bos_token", gguf.bool(true)],
    ["tokenizer.ggml.add_eos_token", gguf.bool(false)],
  ];
  return { metadata, nVocab: tokens.length, source: "built-in" };
}

/**
 * The vocabulary for `synth`: `path` when given (it must exist; the word `builtin` picks the
 * built-in vocabulary), else the default DeepSeek vocabulary when present, else the built-in one.
 *
 * @param path An explicit vocabulary file, `"builtin"`, or undefined.
 * @returns Tokenizer metadata.
 *
 * @example
 * ```ts
 * import { resolveVocab } from "./vocab.ts";
 * console.log(resolveVocab(undefined).source);
 * ```
 */
export function resolveVocab(path: string | undefined): SynthVocab {
  if (path === "builtin") return builtinVocab();
  if (path !== undefined) return vocabFromFile(path);
  try {
    Deno.statSync(DEFAULT_VOCAB_PATH);
  } catch {
    return builtinVocab();
  }
  return vocabFromFile(DEFAULT_VOCAB_PATH);
}
