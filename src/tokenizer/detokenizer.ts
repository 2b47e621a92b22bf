/**
 * Token ids back to bytes and text. Normal tokens are byte-level strings mapped back to their
 * bytes; user-defined tokens are their text as UTF-8; control tokens are their text only when
 * special rendering is asked for, else nothing; other types render as nothing
 * (llama.cpp `token_to_piece` for BPE vocabularies).
 * @module
 */
import { charCodeToByte } from "./byte_encoder.ts";
import { TokenType } from "./vocab.ts";

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * Per-token byte pieces, computed on first use.
 *
 * @example
 * ```ts
 * import { PieceTable } from "./detokenizer.ts";
 * const pieces = new PieceTable(["Ġhi", "<s>"], new Uint8Array([1, 3]));
 * console.log(pieces.bytes(0, false)); // Uint8Array [32, 104, 105]
 * console.log(pieces.bytes(1, false).length, pieces.bytes(1, true).length); // 0 3
 * ```
 */
export class PieceTable {
  readonly #tokens: readonly string[];
  readonly #types: Uint8Array;
  readonly #cache: (Uint8Array | undefined)[];
  /** Decoded text of pieces that end on a character boundary; null when they do not. */
  readonly #texts: (string | null | undefined)[];

  /**
   * @param tokens Token texts by id.
   * @param types Token types by id.
   */
  constructor(tokens: readonly string[], types: Uint8Array) {
    this.#tokens = tokens;
    this.#types = types;
    this.#cache = new Array(tokens.length);
    this.#texts = new Array(tokens.length);
  }

  /**
   * The text of token `id` when its bytes end on a character boundary (decoded alone they
   * give exactly what a clean streaming decoder would emit), else undefined.
   *
   * @param id A valid token id.
   * @param special Whether control tokens render as their text.
   * @returns The text, or undefined.
   */
  text(id: number, special: boolean): string | undefined {
    if (this.#types[id] === TokenType.control) {
      return special ? this.#tokens[id] : "";
    }
    let text = this.#texts[id];
    if (text === undefined) {
      const bytes = this.bytes(id, special);
      text = endsComplete(bytes) ? textDecoder.decode(bytes) : null;
      this.#texts[id] = text;
    }
    return text ?? undefined;
  }

  /**
   * The bytes token `id` stands for.
   *
   * @param id A valid token id (checked by the caller).
   * @param special Whether control tokens render as their text.
   * @returns The bytes (shared; do not modify).
   */
  bytes(id: number, special: boolean): Uint8Array {
    const type = this.#types[id];
    if (type === TokenType.control) return special ? this.#textBytes(id) : EMPTY;
    if (type === TokenType.userDefined) return this.#textBytes(id);
    if (type !== TokenType.normal) return EMPTY;
    let piece = this.#cache[id];
    if (piece === undefined) {
      piece = decodeByteLevel(this.#tokens[id]);
      this.#cache[id] = piece;
    }
    return piece;
  }

  #textBytes(id: number): Uint8Array {
    let piece = this.#cache[id];
    if (piece === undefined) {
      piece = encoder.encode(this.#tokens[id]);
      this.#cache[id] = piece;
    }
    return piece;
  }
}

/**
 * Maps a byte-level string back to bytes. A character outside the byte map (none occur in
 * real vocabularies) is kept as its own UTF-8, where llama.cpp would print a `[UNK_BYTE…]`
 * marker.
 */
function decodeByteLevel(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 3);
  let n = 0;
  for (const ch of text) {
    const b = ch.length === 1 ? charCodeToByte(ch.charCodeAt(0)) : -1;
    if (b >= 0) {
      out[n++] = b;
    } else {
      const utf8 = encoder.encode(ch);
      out.set(utf8, n);
      n += utf8.length;
    }
  }
  return out.slice(0, n);
}

/**
 * Turns a stream of token ids into text, holding back bytes of a character that is not yet
 * complete, so every chunk is valid text and all chunks joined equal the one-shot decode.
 *
 * @example
 * ```ts
 * import { createStreamDecoder } from "./detokenizer.ts";
 * // Two "tokens" holding the two UTF-8 bytes of "é".
 * const decoder = createStreamDecoder((id) => new Uint8Array([id === 0 ? 0xc3 : 0xa9]));
 * console.log(JSON.stringify(decoder.push(0)), decoder.push(1), JSON.stringify(decoder.flush())); // "" é ""
 * ```
 */
export interface StreamDecoder {
  /**
   * Adds one token.
   *
   * @param id The next token id.
   * @returns The text completed by this token (may be empty).
   */
  push(id: number): string;
  /**
   * Ends the stream.
   *
   * @returns Held-back bytes of an unfinished character, as U+FFFD replacement text.
   */
  flush(): string;
}

/**
 * Follows the WHATWG UTF-8 decoder's state over a byte stream, to know when a streaming
 * `TextDecoder` holds no pending bytes (spec "UTF-8 decoder": bytes needed/seen and the
 * allowed range of the next continuation byte).
 */
class Utf8State {
  #needed = 0;
  #seen = 0;
  #lower = 0x80;
  #upper = 0xbf;

  /** Whether no character is in progress. */
  get clean(): boolean {
    return this.#needed === 0;
  }

  /** Forgets any character in progress, as `TextDecoder.decode()` without `stream` does. */
  reset(): void {
    this.#needed = this.#seen = 0;
    this.#lower = 0x80;
    this.#upper = 0xbf;
  }

  /** Advances over `bytes`. */
  feed(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (this.#needed === 0) {
        if (b >= 0xc2 && b <= 0xdf) {
          this.#needed = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) this.#lower = 0xa0;
          if (b === 0xed) this.#upper = 0x9f;
          this.#needed = 2;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) this.#lower = 0x90;
          if (b === 0xf4) this.#upper = 0x8f;
          this.#needed = 3;
        } // else ASCII, or an invalid byte replaced on the spot: still clean
        continue;
      }
      if (b < this.#lower || b > this.#upper) {
        // The sequence so far is replaced and this byte starts over from a clean state.
        this.reset();
        i--;
        continue;
      }
      this.#lower = 0x80;
      this.#upper = 0xbf;
      if (++this.#seen === this.#needed) this.#needed = this.#seen = 0;
    }
  }
}

/**
 * Whether `bytes`, decoded from a clean state, leave no character in progress, i.e. whether a
 * streaming decoder fed only them would have emitted everything.
 *
 * @example
 * ```ts
 * import { endsComplete } from "./detokenizer.ts";
 * console.log(endsComplete(new Uint8Array([0x41, 0xc3, 0xa9])), endsComplete(new Uint8Array([0xf0, 0x9f]))); // true false
 * ```
 *
 * @param bytes A byte sequence.
 * @returns True when it ends on a character boundary (invalid bytes count as complete).
 */
export function endsComplete(bytes: Uint8Array): boolean {
  const state = new Utf8State();
  state.feed(bytes);
  return state.clean;
}

/**
 * A {@link StreamDecoder} over a byte source. `TextDecoder` in streaming mode holds back an
 * incomplete trailing sequence and applies the same replacement rules as a one-shot decode.
 * When nothing is pending and `textOf` knows the token's text (its piece ends on a character
 * boundary), that text is returned without touching the decoder.
 *
 * @example
 * ```ts
 * import { createStreamDecoder } from "./detokenizer.ts";
 * const decoder = createStreamDecoder((id) => new TextEncoder().encode(String(id)));
 * console.log(decoder.push(4) + decoder.push(2)); // "42"
 * ```
 *
 * @param pieceOf Bytes of one token id (validates the id).
 * @param textOf Optional: the text of a token whose piece ends complete, else undefined.
 * @returns The decoder.
 */
export function createStreamDecoder(
  pieceOf: (id: number) => Uint8Array,
  textOf?: (id: number) => string | undefined,
): StreamDecoder {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  const state = new Utf8State();
  return {
    push(id: number): string {
      const piece = pieceOf(id);
      if (state.clean && textOf !== undefined) {
        const text = textOf(id);
        if (text !== undefined) return text;
      }
      state.feed(piece);
      return decoder.decode(piece, { stream: true });
    },
    flush(): string {
      state.reset();
      return decoder.decode();
    },
  };
}
