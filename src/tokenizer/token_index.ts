/**
 * Token text → id, as an open-addressing table over a JavaScript string hash. Building a
 * `Map<string, number>` of 100,000 freshly decoded strings costs ~3x more, nearly all in V8
 * hashing each new string the first time; this table hashes in JavaScript and can look up the
 * concatenation of two pieces without building it.
 * @module
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function hashInto(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
  return h;
}

/**
 * Token texts indexed for lookup.
 *
 * @example
 * ```ts
 * import { TokenIndex } from "./token_index.ts";
 * const index = new TokenIndex(["a", "b", "ab"]);
 * console.log(index.find("ab"), index.findConcat("a", "b"), index.find("ba")); // 2 2 -1
 * ```
 */
export class TokenIndex {
  /** Whether some texts occur more than once (the last id wins, as llama.cpp's map does). */
  readonly hasDuplicates: boolean;
  readonly #tokens: readonly string[];
  readonly #mask: number;
  readonly #slots: Int32Array;

  /**
   * Indexes `tokens`.
   *
   * @param tokens Token texts by id.
   */
  constructor(tokens: readonly string[]) {
    this.#tokens = tokens;
    let capacity = 16;
    while (capacity < tokens.length * 2) capacity *= 2;
    this.#mask = capacity - 1;
    const slots = new Int32Array(capacity).fill(-1);
    let duplicates = false;
    for (let id = 0; id < tokens.length; id++) {
      const text = tokens[id];
      let slot = hashInto(FNV_OFFSET, text) & this.#mask;
      while (slots[slot] !== -1) {
        if (tokens[slots[slot]] === text) {
          duplicates = true;
          break;
        }
        slot = (slot + 1) & this.#mask;
      }
      slots[slot] = id;
    }
    this.#slots = slots;
    this.hasDuplicates = duplicates;
  }

  /**
   * The id of the token with text `text`, or -1.
   *
   * @param text Token text.
   * @returns Id or -1.
   */
  find(text: string): number {
    return this.findConcat(text, "");
  }

  /**
   * The id of the token with text `left + right`, or -1, without concatenating.
   *
   * @param left First part.
   * @param right Second part.
   * @returns Id or -1.
   */
  findConcat(left: string, right: string): number {
    const slots = this.#slots, tokens = this.#tokens, mask = this.#mask;
    const length = left.length + right.length;
    let slot = hashInto(hashInto(FNV_OFFSET, left), right) & mask;
    while (true) {
      const id = slots[slot];
      if (id === -1) return -1;
      const token = tokens[id];
      if (token.length === length && token.startsWith(left) && token.endsWith(right)) return id;
      slot = (slot + 1) & mask;
    }
  }
}
