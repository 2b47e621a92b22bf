/**
 * Splitting special tokens out of raw text before pre-tokenization, as llama.cpp's
 * `tokenizer_st_partition` does: special tokens (control, user-defined, unknown) are tried
 * longest first, each cutting every remaining raw fragment at all its occurrences. Control and
 * unknown tokens are only recognised when the caller asks for special parsing; user-defined
 * tokens (DeepSeek's "ø", "[PAD100015]"…) always are.
 * @module
 */
import { TokenType } from "./vocab.ts";

/** A raw text fragment (string) or a recognised special token id (number). */
export type Fragment = string | number;

interface FirstCharGroup {
  /** Distinct texts lengths (UTF-16 units) starting with this character, longest first. */
  lengths: number[];
  /** Text → token id (the first token in priority order). */
  ids: Map<string, number>;
}

/**
 * Finds and cuts out special tokens.
 *
 * @example
 * ```ts
 * import { SpecialTokenSplitter } from "./special_tokens.ts";
 * const splitter = new SpecialTokenSplitter(["a", "<s>"], new Uint8Array([1, 3]));
 * console.log(splitter.split("x<s>y", true)); // ["x", 1, "y"]
 * console.log(splitter.split("x<s>y", false)); // ["x<s>y"]
 * ```
 */
export class SpecialTokenSplitter {
  /** Special token ids in llama.cpp's priority order: longer UTF-8 text first. */
  readonly #ordered: number[];
  readonly #texts: readonly string[];
  readonly #alwaysParsed: Set<number>;
  readonly #groups = new Map<number, FirstCharGroup>();
  readonly #firstChars: RegExp | undefined;

  /**
   * Collects the special tokens of a vocabulary.
   *
   * @param tokens Token texts by id.
   * @param types Token types by id (after llama.cpp's fix-ups).
   */
  constructor(tokens: readonly string[], types: Uint8Array) {
    this.#texts = tokens;
    const special: { id: number; bytes: number }[] = [];
    this.#alwaysParsed = new Set();
    for (let id = 0; id < tokens.length; id++) {
      const type = types[id];
      const isSpecial = type === TokenType.control || type === TokenType.userDefined ||
        type === TokenType.unknown;
      if (!isSpecial || tokens[id].length === 0) continue;
      special.push({ id, bytes: utf8Length(tokens[id]) });
      if (type === TokenType.userDefined) this.#alwaysParsed.add(id);
    }
    special.sort((a, b) => b.bytes - a.bytes || a.id - b.id);
    this.#ordered = special.map((s) => s.id);
    for (const id of this.#ordered) {
      const text = tokens[id];
      const first = text.charCodeAt(0);
      let group = this.#groups.get(first);
      if (group === undefined) {
        group = { lengths: [], ids: new Map() };
        this.#groups.set(first, group);
      }
      if (!group.ids.has(text)) group.ids.set(text, id);
      if (!group.lengths.includes(text.length)) group.lengths.push(text.length);
    }
    const escaped = [...this.#groups.keys()].map((c) => `\\u${c.toString(16).padStart(4, "0")}`);
    this.#firstChars = escaped.length > 0 ? new RegExp(`[${escaped.join("")}]`, "g") : undefined;
  }

  /** Number of special tokens (control, user-defined, unknown). */
  get count(): number {
    return this.#ordered.length;
  }

  /**
   * Cuts `text` into raw fragments and special token ids.
   *
   * @param text The input text.
   * @param parseSpecial Whether control and unknown tokens are recognised too.
   * @returns Fragments in order; raw fragments are never empty.
   */
  split(text: string, parseSpecial: boolean): Fragment[] {
    if (text.length === 0) return [];
    const present = this.#present(text, parseSpecial);
    if (present.size === 0) return [text];
    let fragments: Fragment[] = [text];
    for (const id of this.#ordered) {
      if (!present.has(id)) continue;
      const special = this.#texts[id];
      const next: Fragment[] = [];
      for (const fragment of fragments) {
        if (typeof fragment === "number") {
          next.push(fragment);
          continue;
        }
        let start = 0;
        for (let at = fragment.indexOf(special); at >= 0; at = fragment.indexOf(special, start)) {
          if (at > start) next.push(fragment.slice(start, at));
          next.push(id);
          start = at + special.length;
        }
        if (start < fragment.length) next.push(start === 0 ? fragment : fragment.slice(start));
      }
      fragments = next;
    }
    return fragments;
  }

  /**
   * The eligible special tokens occurring anywhere in `text` (overlaps included), found in one
   * pass over the positions holding a possible first character; the exact llama.cpp cutting
   * then runs over these few tokens only instead of every special token in the vocabulary.
   */
  #present(text: string, parseSpecial: boolean): Set<number> {
    const present = new Set<number>();
    const regex = this.#firstChars;
    if (regex === undefined) return present;
    regex.lastIndex = 0;
    for (let m = regex.exec(text); m !== null; m = regex.exec(text)) {
      const at = m.index;
      const group = this.#groups.get(text.charCodeAt(at))!;
      for (const length of group.lengths) {
        if (at + length > text.length) continue;
        const id = group.ids.get(text.slice(at, at + length));
        if (id !== undefined && (parseSpecial || this.#alwaysParsed.has(id))) present.add(id);
      }
    }
    return present;
  }
}

/** UTF-8 byte length of a well-formed string (llama.cpp orders special tokens by it). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4; // a surrogate pair: one 4-byte character
      i++;
    } else bytes += 3;
  }
  return bytes;
}
