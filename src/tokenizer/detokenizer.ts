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

  /**
   * @param tokens Token texts by id.
   * @param types Token types by id.
   */
  constructor(tokens: readonly string[], types: Uint8Array) {
    this.#tokens = tokens;
    this.#types = types;
    this.#cache = new Array(tokens.length);
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
 * A {@link StreamDecoder} over a byte source. `TextDecoder` in streaming mode holds back an
 * incomplete trailing sequence and applies the same replacement rules as a one-shot decode.
 *
 * @example
 * ```ts
 * import { createStreamDecoder } from "./detokenizer.ts";
 * const decoder = createStreamDecoder((id) => new TextEncoder().encode(String(id)));
 * console.log(decoder.push(4) + decoder.push(2)); // "42"
 * ```
 *
 * @param pieceOf Bytes of one token id (validates the id).
 * @returns The decoder.
 */
export function createStreamDecoder(pieceOf: (id: number) => Uint8Array): StreamDecoder {
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  return {
    push: (id) => decoder.decode(pieceOf(id), { stream: true }),
    flush: () => decoder.decode(),
  };
}
