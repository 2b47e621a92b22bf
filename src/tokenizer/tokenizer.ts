/**
 * `Tokenizer`: DeepSeek byte-level BPE encode/decode matching llama.cpp token for token.
 * encode = special-token split → regex pre-tokenizer → per-word BPE (cached);
 * decode = per-token bytes → UTF-8.
 * @module
 */
import { OptionError } from "../errors.ts";
import type { GgufFile } from "../gguf/reader.ts";
import { BpeModel } from "./bpe.ts";
import { createStreamDecoder, PieceTable, type StreamDecoder } from "./detokenizer.ts";
import { PreTokenizer } from "./pre_tokenizer.ts";
import { SpecialTokenSplitter } from "./special_tokens.ts";
import {
  resolveTokenTypes,
  type TokenizerSpec,
  tokenizerSpecFromGguf,
  TokenType,
  validateSpec,
} from "./vocab.ts";

/**
 * Options of {@link Tokenizer.encode}.
 *
 * @example
 * ```ts
 * import type { EncodeOptions } from "./tokenizer.ts";
 * const opts: EncodeOptions = { addBos: false, special: true };
 * ```
 */
export interface EncodeOptions {
  /** Prepend BOS. Default: the vocabulary's `add_bos_token`. */
  addBos?: boolean;
  /** Recognise control tokens such as `<｜end▁of▁sentence｜>` in the text. Default false. */
  special?: boolean;
}

/**
 * Options of {@link Tokenizer.decode} and {@link Tokenizer.tokenPiece}.
 *
 * @example
 * ```ts
 * import type { DecodeOptions } from "./tokenizer.ts";
 * const opts: DecodeOptions = { special: true }; // show <｜end▁of▁sentence｜> etc.
 * ```
 */
export interface DecodeOptions {
  /** Render control tokens (BOS, EOS…) as their text instead of nothing. Default false. */
  special?: boolean;
}

/** Words cached before the word cache is emptied; bounds memory on endless input. */
const WORD_CACHE_ENTRIES_MAX = 1 << 16;
/** Shorter words are merged directly (see `#encodeWord`). */
const WORD_CACHE_CHARS_MIN = 4;
/** Longer words are not cached: they rarely repeat. */
const WORD_CACHE_CHARS_MAX = 64;

/**
 * A byte-level BPE tokenizer for DeepSeek vocabularies.
 *
 * @example
 * ```ts
 * import { GgufFile } from "../gguf/reader.ts";
 * import { Tokenizer } from "./tokenizer.ts";
 * using file = GgufFile.open("../shared/data/vocab/ggml-vocab-deepseek-llm.gguf");
 * const tokenizer = Tokenizer.fromGguf(file);
 * const ids = tokenizer.encode("Hello world"); // [100000, 17464, 1843]
 * console.log(tokenizer.decode(ids)); // "Hello world"
 * ```
 */
export class Tokenizer {
  /** Beginning-of-sequence token id. */
  readonly bos: number;
  /** End-of-sequence token id. */
  readonly eos: number;
  /** Number of tokens. */
  readonly vocabSize: number;
  /** Whether `encode` prepends BOS by default (`add_bos_token`). */
  readonly addBos: boolean;
  /** Whether `encode` appends EOS (`add_eos_token`). */
  readonly addEos: boolean;
  /** The pre-tokenizer name (`tokenizer.ggml.pre`). */
  readonly pre: string;
  /** The model's Jinja chat template, if it ships one: pass to `applyChatTemplate`. */
  readonly chatTemplate: string | undefined;
  readonly #tokens: readonly string[];
  readonly #types: Uint8Array;
  readonly #eog: ReadonlySet<number>;
  readonly #preTokenizer: PreTokenizer;
  readonly #specials: SpecialTokenSplitter;
  readonly #pieces: PieceTable;
  readonly #bpe: BpeModel;
  readonly #wordCache = new Map<string, number[]>();

  /**
   * Builds a tokenizer from plain vocabulary data.
   *
   * @param spec Tokens, merges, types, special ids and the pre-tokenizer name.
   * @throws {GgufError} When the spec is inconsistent or its pre-tokenizer is unknown.
   */
  constructor(spec: TokenizerSpec) {
    validateSpec(spec);
    this.#preTokenizer = PreTokenizer.create(spec.pre);
    this.#tokens = spec.tokens;
    this.vocabSize = spec.tokens.length;
    this.bos = spec.bos;
    this.eos = spec.eos;
    this.addBos = spec.addBos;
    this.addEos = spec.addEos ?? false;
    this.pre = spec.pre;
    this.chatTemplate = spec.chatTemplate;
    const { types, eog } = resolveTokenTypes(spec);
    this.#types = types;
    this.#eog = eog;
    this.#specials = new SpecialTokenSplitter(spec.tokens, types);
    this.#pieces = new PieceTable(spec.tokens, types);
    this.#bpe = new BpeModel(spec.tokens, spec.merges);
  }

  /**
   * Builds the tokenizer of a GGUF model or vocabulary-only file.
   *
   * @param file An open GGUF file (may be closed afterwards).
   * @returns The tokenizer.
   * @throws {GgufError} When the tokenizer metadata is missing, malformed or unsupported.
   */
  static fromGguf(file: GgufFile): Tokenizer {
    return new Tokenizer(tokenizerSpecFromGguf(file));
  }

  /**
   * Tokenizes text as llama.cpp's `llama_tokenize` does.
   *
   * @param text The text.
   * @param opts BOS and special-token parsing.
   * @returns Token ids.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== "string") throw new OptionError("Text to encode must be a string");
    const out: number[] = [];
    if (opts.addBos ?? this.addBos) out.push(this.bos);
    const model = this.#bpe;
    for (const fragment of this.#specials.split(text, opts.special ?? false)) {
      if (typeof fragment === "number") {
        out.push(fragment);
        continue;
      }
      let start = 0;
      for (const end of this.#preTokenizer.splitEnds(fragment)) {
        this.#encodeWord(model, fragment, start, end, out);
        start = end;
      }
    }
    if (this.addEos && (opts.addBos ?? this.addBos)) out.push(this.eos);
    return out;
  }

  /**
   * Encodes `text[start, end)`. Mid-length words go through the word cache; short ones are
   * cheaper to merge again than to cut out and hash, and long ones rarely repeat.
   */
  #encodeWord(model: BpeModel, text: string, start: number, end: number, out: number[]): void {
    const length = end - start;
    if (length < WORD_CACHE_CHARS_MIN || length > WORD_CACHE_CHARS_MAX) {
      model.encodeRange(text, start, end, out);
      return;
    }
    const word = text.slice(start, end);
    let ids = this.#wordCache.get(word);
    if (ids === undefined) {
      ids = [];
      model.encodeWord(word, ids);
      if (this.#wordCache.size >= WORD_CACHE_ENTRIES_MAX) this.#wordCache.clear();
      this.#wordCache.set(word, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  #checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new OptionError(`Token id ${id} is outside the vocabulary of ${this.vocabSize} tokens`);
    }
  }

  /**
   * The bytes of one token (a piece may be part of a UTF-8 character).
   *
   * @param id Token id.
   * @param opts Whether control tokens render as their text.
   * @returns The bytes (a shared view: copy before modifying).
   * @throws {OptionError} When `id` is not a token id.
   */
  tokenPiece(id: number, opts: DecodeOptions = {}): Uint8Array {
    this.#checkId(id);
    return this.#pieces.bytes(id, opts.special ?? false);
  }

  /**
   * The vocabulary text of a token (byte-level encoded for normal tokens).
   *
   * @param id Token id.
   * @returns The stored text.
   */
  tokenText(id: number): string {
    this.#checkId(id);
    return this.#tokens[id];
  }

  /**
   * The token type of `id` after llama.cpp's fix-ups (see `TokenType`).
   *
   * @param id Token id.
   * @returns The type number.
   */
  tokenType(id: number): number {
    this.#checkId(id);
    return this.#types[id];
  }

  /**
   * Turns ids back into text; invalid UTF-8 (a cut character) becomes U+FFFD.
   *
   * @param ids Token ids.
   * @param opts Whether control tokens render as their text.
   * @returns The text.
   * @throws {OptionError} When an id is not a token id.
   */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const special = opts.special ?? false;
    const pieces: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      this.#checkId(id);
      const piece = this.#pieces.bytes(id, special);
      pieces.push(piece);
      total += piece.length;
    }
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const piece of pieces) {
      bytes.set(piece, at);
      at += piece.length;
    }
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  }

  /**
   * A decoder for streamed generation: text comes out as soon as characters are complete.
   *
   * @param opts Whether control tokens render as their text.
   * @returns `{ push(id), flush() }`.
   */
  createStreamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    const special = opts.special ?? false;
    return createStreamDecoder(
      (id) => this.tokenPiece(id, { special }),
      (id) => this.#pieces.text(id, special),
    );
  }

  /**
   * Whether `id` ends generation (EOS, EOT and llama.cpp's end-of-generation tokens).
   *
   * @param id Token id.
   * @returns True for end-of-generation tokens.
   */
  isEog(id: number): boolean {
    return this.#eog.has(id);
  }

  /** The end-of-generation ids, ascending. */
  get eogIds(): number[] {
    return [...this.#eog].sort((a, b) => a - b);
  }
}

export { TokenType };
