/**
 * The vocabulary as plain data (`TokenizerSpec`), read from a GGUF's `tokenizer.*` metadata,
 * plus llama.cpp's per-token attribute fix-ups that decide which tokens count as control
 * tokens and which end generation.
 * @module
 */
import { GgufError } from "../errors.ts";
import type { GgufFile } from "../gguf/reader.ts";

/**
 * `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
 *
 * @example
 * ```ts
 * import { TokenType } from "./vocab.ts";
 * console.log(TokenType.control); // 3
 * ```
 */
export const TokenType = {
  undefined: 0,
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

/**
 * Everything a byte-level BPE tokenizer needs, independent of where it came from.
 * Optional ids are absent when the vocabulary has no such token.
 *
 * @example
 * ```ts
 * import type { TokenizerSpec } from "./vocab.ts";
 * const spec: TokenizerSpec = {
 *   tokens: ["h", "i", "hi"], merges: ["h i"], pre: "deepseek-llm", bos: 0, eos: 1, addBos: false,
 * };
 * ```
 */
export interface TokenizerSpec {
  /** Token texts by id, byte-level encoded for normal tokens. */
  tokens: readonly string[];
  /** Merges as `"left right"`, rank = index. */
  merges: readonly string[];
  /** {@link TokenType} per token (all normal when omitted). */
  tokenTypes?: readonly number[];
  /** Pre-tokenizer name (`tokenizer.ggml.pre`). */
  pre: string;
  /** Beginning-of-sequence id. */
  bos: number;
  /** End-of-sequence id. */
  eos: number;
  /** Whether `encode` prepends BOS by default. */
  addBos: boolean;
  /** Whether `encode` appends EOS by default. */
  addEos?: boolean;
  /** End-of-turn id, when given explicitly. */
  eot?: number;
  /** End-of-message id, when given explicitly. */
  eom?: number;
  /** Padding id. */
  pad?: number;
  /** The Jinja chat template the model ships (`tokenizer.chat_template`). */
  chatTemplate?: string;
}

/**
 * Reads the tokenizer metadata of a GGUF file (model or vocabulary-only).
 *
 * @example
 * ```ts
 * import { GgufFile } from "../gguf/reader.ts";
 * import { tokenizerSpecFromGguf } from "./vocab.ts";
 * using file = GgufFile.open("../shared/data/vocab/ggml-vocab-deepseek-llm.gguf");
 * console.log(tokenizerSpecFromGguf(file).pre); // "deepseek-llm"
 * ```
 *
 * @param file An open GGUF file.
 * @returns The spec.
 * @throws {GgufError} When the tokenizer is not byte-level BPE or metadata is missing or bad.
 */
export function tokenizerSpecFromGguf(file: GgufFile): TokenizerSpec {
  const model = file.getString("tokenizer.ggml.model");
  if (model !== "gpt2") {
    throw new GgufError(
      `Tokenizer model "${model}" is not supported; only byte-level BPE ("gpt2") is`,
      { field: "tokenizer.ggml.model" },
    );
  }
  const optionalId = (key: string) => file.has(key) ? file.getU32(key) : undefined;
  const spec: TokenizerSpec = {
    tokens: file.getStringArray("tokenizer.ggml.tokens"),
    merges: file.getStringArray("tokenizer.ggml.merges"),
    tokenTypes: file.has("tokenizer.ggml.token_type")
      ? file.getNumberArray("tokenizer.ggml.token_type")
      : undefined,
    pre: file.getString("tokenizer.ggml.pre"),
    bos: file.getU32("tokenizer.ggml.bos_token_id"),
    eos: file.getU32("tokenizer.ggml.eos_token_id"),
    addBos: file.getBoolOr("tokenizer.ggml.add_bos_token", true),
    addEos: file.getBoolOr("tokenizer.ggml.add_eos_token", false),
    eot: optionalId("tokenizer.ggml.eot_token_id"),
    eom: optionalId("tokenizer.ggml.eom_token_id"),
    pad: optionalId("tokenizer.ggml.padding_token_id"),
    chatTemplate: file.has("tokenizer.chat_template")
      ? file.getString("tokenizer.chat_template")
      : undefined,
  };
  validateSpec(spec);
  return spec;
}

/**
 * Checks a spec's ids and arrays for consistency.
 *
 * @param spec The spec.
 * @throws {GgufError} Naming the first inconsistent field.
 */
export function validateSpec(spec: TokenizerSpec): void {
  const n = spec.tokens.length;
  if (n === 0) throw new GgufError("Vocabulary has no tokens", { field: "tokenizer.ggml.tokens" });
  if (spec.tokenTypes !== undefined && spec.tokenTypes.length !== n) {
    throw new GgufError(
      `Vocabulary has ${n} tokens but ${spec.tokenTypes.length} token types`,
      { field: "tokenizer.ggml.token_type" },
    );
  }
  const ids: [string, number | undefined][] = [
    ["bos_token_id", spec.bos],
    ["eos_token_id", spec.eos],
    ["eot_token_id", spec.eot],
    ["eom_token_id", spec.eom],
    ["padding_token_id", spec.pad],
  ];
  for (const [name, id] of ids) {
    if (id !== undefined && !(Number.isInteger(id) && id >= 0 && id < n)) {
      throw new GgufError(`Token id ${id} is outside the vocabulary of ${n} tokens`, {
        field: `tokenizer.ggml.${name}`,
      });
    }
  }
}

/** Texts llama.cpp promotes to control tokens (EOT, EOM and fill-in-the-middle markers). */
const CONTROL_LOOKING_TEXTS: readonly (readonly string[])[] = [
  // EOT
  [
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
  ],
  ["<|eom_id|>"],
  // FIM prefix, suffix, middle, pad, repo, file separator
  [
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
  ],
  [
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
  ],
  ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>"],
  ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"],
  ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
  ["<|file_sep|>"],
];

/** Texts that end generation wherever they occur (llama.cpp's EOG text list). */
const EOG_TEXTS = new Set([
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<|return|>",
  "<|call|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "<|eom_id|>",
  "<EOT>",
  "_<EOT>",
  "<|end_of_text|>",
  "<end_of_utterance>",
]);

/**
 * Token types after llama.cpp's fix-ups, and the end-of-generation ids.
 *
 * @example
 * ```ts
 * import { resolveTokenTypes, type ResolvedTypes } from "./vocab.ts";
 * const r: ResolvedTypes = resolveTokenTypes({ tokens: ["a"], merges: [], pre: "deepseek-llm", bos: 0, eos: 0, addBos: false });
 * console.log(r.types[0]); // 1
 * ```
 */
export interface ResolvedTypes {
  /** {@link TokenType} per token. */
  types: Uint8Array;
  /** Ids that end generation. */
  eog: Set<number>;
}

/**
 * Applies llama.cpp's load-time rules (`llama_vocab::impl::load`): for each role (EOT, EOM,
 * FIM…) without an explicit id, the first token whose text is on the role's list becomes a
 * control token; EOG = the FIM pad/repo/separator tokens, tokens on the EOG text list, EOS,
 * EOT and EOM. Where upstream picks "the first" from a hash map we pick the lowest id.
 *
 * @example
 * ```ts
 * import { resolveTokenTypes } from "./vocab.ts";
 * const { eog } = resolveTokenTypes({ tokens: ["a", "<|im_end|>"], merges: [], pre: "deepseek-llm", bos: 0, eos: 0, addBos: false });
 * console.log([...eog]); // [1, 0]
 * ```
 *
 * @param spec The vocabulary.
 * @returns Types and EOG ids.
 */
export function resolveTokenTypes(spec: TokenizerSpec): ResolvedTypes {
  const n = spec.tokens.length;
  // Typed-array construction copies natively; values outside 0..255 cannot be valid types.
  const types = spec.tokenTypes !== undefined
    ? Uint8Array.from(spec.tokenTypes)
    : new Uint8Array(n).fill(TokenType.normal);
  // One pass: the lowest id per role, and every id on the EOG list.
  const roleOfText = new Map<string, number>();
  CONTROL_LOOKING_TEXTS.forEach((texts, role) => texts.forEach((t) => roleOfText.set(t, role)));
  const firstOfRole = new Array<number>(CONTROL_LOOKING_TEXTS.length).fill(-1);
  const eog = new Set<number>();
  for (let id = 0; id < n; id++) {
    const text = spec.tokens[id];
    // Special-token texts start with "<", "_" or "▁"; skip the rest cheaply.
    const c = text.charCodeAt(0);
    if (c !== 0x3c && c !== 0x5f && c !== 0x2581) continue;
    const role = roleOfText.get(text);
    if (role !== undefined && firstOfRole[role] < 0) firstOfRole[role] = id;
    if (EOG_TEXTS.has(text)) {
      eog.add(id);
      types[id] = TokenType.control;
    }
  }
  const explicit = [spec.eot, spec.eom];
  firstOfRole.forEach((id, role) => {
    if (id < 0 || (role < 2 && explicit[role] !== undefined)) return;
    types[id] = TokenType.control;
    // Detected EOT and EOM end generation, and so do FIM pad, repo and file separator.
    if (role <= 1 || role >= 5) eog.add(id);
  });
  eog.add(spec.eos);
  if (spec.eot !== undefined) eog.add(spec.eot);
  if (spec.eom !== undefined) eog.add(spec.eom);
  return { types, eog };
}
