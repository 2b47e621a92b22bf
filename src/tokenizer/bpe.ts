/**
 * Byte-level BPE as llama.cpp runs it (`llm_tokenizer_bpe_session::tokenize`): a word's UTF-8
 * bytes start as one symbol each; the adjacent pair with the lowest merge rank (leftmost on
 * ties) is merged until no pair has a rank. Pieces are handled as ids (token ids, or synthetic
 * ids past the vocabulary for merge results that are not tokens). A pair's rank is resolved
 * from the merge list on first use and kept in an integer-keyed table: building a fully
 * resolved table up front costs far more at load time than the few thousand distinct pairs a
 * typical text ever asks about.
 * @module
 */
import { GgufError } from "../errors.ts";
import { byteToChar } from "./byte_encoder.ts";
import { MergeTable } from "./merge_table.ts";
import { TokenIndex } from "./token_index.ts";

/** Resolved id pairs kept before the pair table is emptied (bounds memory on odd input). */
const PAIR_CACHE_ENTRIES_MAX = 1 << 18;
/** Initial pair table size; it doubles as pairs are resolved. */
const PAIR_CACHE_ENTRIES_INITIAL = 1 << 12;

/** Words up to this many bytes are merged by rescanning all pairs; longer ones use a heap. */
const SCAN_BYTES_MAX = 48;

/**
 * The merge half of a byte-level BPE vocabulary.
 *
 * @example
 * ```ts
 * import { BpeModel } from "./bpe.ts";
 * const model = new BpeModel(["h", "i", "hi"], ["h i"]);
 * const out: number[] = [];
 * model.encodeWord("hi", out);
 * console.log(out); // [2]
 * ```
 */
export class BpeModel {
  /** Number of real tokens; piece ids at or past it are synthetic. */
  readonly vocabSize: number;
  readonly #tokens: readonly string[];
  readonly #merges: readonly string[];
  readonly #tokenIds: TokenIndex;
  /** Set when merge results are laid out as token `rank + offset` (see `#findResultOffset`). */
  readonly #resultOffset: number | undefined;
  /** `"left right"` → rank, only for vocabularies without that layout. */
  readonly #mergeRanks: Map<string, number> | undefined;
  readonly #syntheticIds = new Map<string, number>();
  readonly #synthetic: string[] = [];
  readonly #byteIds = new Int32Array(256);
  /** Resolved pairs, including "no merge" (rank -1); emptied when it fills up. */
  #pairs = new MergeTable(PAIR_CACHE_ENTRIES_INITIAL);
  // Scratch for one word, grown on demand: piece ids and the doubly linked symbol list.
  #ids = new Int32Array(256);
  #prev = new Int32Array(256);
  #next = new Int32Array(256);
  // At most n - 1 initial pairs plus two per merge: 3n heap entries.
  #heap = new Float64Array(256 * 3);

  /**
   * Builds the model.
   *
   * @param tokens Token texts by id (byte-level encoded).
   * @param merges Merges as `"left right"`, rank = index.
   * @throws {GgufError} When a merge has no space separating its two sides.
   */
  constructor(tokens: readonly string[], merges: readonly string[]) {
    this.vocabSize = tokens.length;
    this.#tokens = tokens;
    this.#merges = merges;
    // Later duplicates win, as in llama.cpp's `token_to_id[text] = id`.
    this.#tokenIds = new TokenIndex(tokens);
    this.#resultOffset = this.#findResultOffset();
    if (this.#resultOffset === undefined) {
      // Walking backwards makes the first of duplicate merges win, as `bpe_ranks.emplace` does.
      this.#mergeRanks = new Map();
      for (let rank = merges.length - 1; rank >= 0; rank--) {
        this.#mergeRanks.set(merges[rank], rank);
      }
    }
    for (let b = 0; b < 256; b++) this.#byteIds[b] = this.#pieceId(byteToChar(b));
  }

  /**
   * Vocabularies trained by HF tokenizers list the result of merge `rank` as token
   * `rank + offset` (DeepSeek: offset 243). When that holds for every merge, with no duplicate
   * texts, a pair's rank is `id(left + right) - offset` once `merges[rank]` is confirmed to be
   * exactly "left right", and no second 100,000-entry map of merge strings is needed.
   *
   * @returns The offset, or undefined when the vocabulary is not laid out that way.
   * @throws {GgufError} When a merge has no space separating its two sides.
   */
  #findResultOffset(): number | undefined {
    const tokens = this.#tokens, merges = this.#merges;
    let offset: number | undefined;
    // Duplicate token texts would make `id(text)` ambiguous: use the general path then.
    if (merges.length > 0 && !this.#tokenIds.hasDuplicates) {
      const first = merges[0], firstSpace = first.indexOf(" ", 1);
      if (firstSpace > 0) {
        const id = this.#tokenIds.findConcat(
          first.slice(0, firstSpace),
          first.slice(firstSpace + 1),
        );
        if (id >= 0) offset = id;
      }
    }
    for (let rank = 0; rank < merges.length; rank++) {
      const merge = merges[rank];
      const space = merge.indexOf(" ", 1);
      if (space < 0) {
        throw new GgufError(`Merge ${rank} "${merge}" has no space between its two pieces`, {
          field: "tokenizer.ggml.merges",
        });
      }
      if (offset === undefined) continue;
      const result = tokens[rank + offset];
      let same = result !== undefined && result.length === merge.length - 1;
      for (let i = 0; same && i < result.length; i++) {
        same = result.charCodeAt(i) === merge.charCodeAt(i < space ? i : i + 1);
      }
      if (!same) offset = undefined;
    }
    return offset;
  }

  #pieceText(id: number): string {
    return id < this.vocabSize ? this.#tokens[id] : this.#synthetic[id - this.vocabSize];
  }

  /** The rank of merging `left` and `right` (texts), or -1 when they do not merge. */
  #rankOf(left: string, right: string): number {
    if (this.#mergeRanks !== undefined) return this.#mergeRanks.get(left + " " + right) ?? -1;
    const id = this.#tokenIds.findConcat(left, right);
    if (id < 0) return -1;
    const rank = id - this.#resultOffset!;
    if (rank < 0 || rank >= this.#merges.length) return -1;
    const merge = this.#merges[rank];
    // The merge must split exactly here (llama.cpp splits at the first space from index 1).
    const exact = merge.indexOf(" ", 1) === left.length && merge.startsWith(left) &&
      merge.endsWith(right);
    return exact ? rank : -1;
  }

  /** The pair-table slot for (left, right), resolving the pair from the merge list if new. */
  #pair(left: number, right: number): number {
    const slot = this.#pairs.find(left, right);
    if (slot >= 0) return slot;
    if (this.#pairs.size >= PAIR_CACHE_ENTRIES_MAX) {
      this.#pairs = new MergeTable(PAIR_CACHE_ENTRIES_INITIAL);
    }
    const leftText = this.#pieceText(left), rightText = this.#pieceText(right);
    const rank = this.#rankOf(leftText, rightText);
    let result = -1;
    if (rank >= 0) {
      const id = this.#tokenIds.findConcat(leftText, rightText);
      result = id >= 0 ? id : this.#pieceId(leftText + rightText);
    }
    this.#pairs.add(left, right, rank, result);
    return this.#pairs.find(left, right);
  }

  /** The piece id of `text`, creating a synthetic one when it is not a token. */
  #pieceId(text: string): number {
    const token = this.#tokenIds.find(text);
    if (token >= 0) return token;
    const id = this.#syntheticIds.get(text);
    if (id !== undefined) return id;
    const synthetic = this.vocabSize + this.#synthetic.length;
    this.#synthetic.push(text);
    this.#syntheticIds.set(text, synthetic);
    return synthetic;
  }

  /**
   * The token id of a byte-level encoded text, or -1.
   *
   * @param text Token text.
   * @returns The id, or -1 when no token has this text.
   */
  tokenId(text: string): number {
    return this.#tokenIds.find(text);
  }

  #grow(bytes: number): void {
    let capacity = this.#ids.length;
    while (capacity < bytes) capacity *= 2;
    this.#ids = new Int32Array(capacity);
    this.#prev = new Int32Array(capacity);
    this.#next = new Int32Array(capacity);
    this.#heap = new Float64Array(capacity * 3);
  }

  /** Writes the byte pieces of `text[start, end)` into the scratch; returns the byte count. */
  #loadBytes(text: string, start: number, end: number): number {
    if ((end - start) * 3 > this.#ids.length) this.#grow((end - start) * 3);
    const ids = this.#ids;
    const byteIds = this.#byteIds;
    let n = 0;
    for (let i = start; i < end; i++) {
      let cp = text.charCodeAt(i);
      if (cp < 0x80) {
        ids[n++] = byteIds[cp];
        continue;
      }
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < end) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          i++;
        }
      }
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate, as TextEncoder does
      if (cp < 0x800) {
        ids[n++] = byteIds[0xc0 | (cp >> 6)];
      } else if (cp < 0x10000) {
        ids[n++] = byteIds[0xe0 | (cp >> 12)];
        ids[n++] = byteIds[0x80 | ((cp >> 6) & 0x3f)];
      } else {
        ids[n++] = byteIds[0xf0 | (cp >> 18)];
        ids[n++] = byteIds[0x80 | ((cp >> 12) & 0x3f)];
        ids[n++] = byteIds[0x80 | ((cp >> 6) & 0x3f)];
      }
      ids[n++] = byteIds[0x80 | (cp & 0x3f)];
    }
    return n;
  }

  /**
   * Encodes one pre-tokenized word, appending its token ids to `out`.
   *
   * @param word A word from the pre-tokenizer (plain text, not byte-encoded).
   * @param out Receives the token ids.
   */
  encodeWord(word: string, out: number[]): void {
    this.encodeRange(word, 0, word.length, out);
  }

  /**
   * Encodes the word `text[start, end)` without cutting it out of `text`.
   *
   * @param text The text holding the word.
   * @param start Word start (UTF-16 index).
   * @param end Word end (exclusive).
   * @param out Receives the token ids.
   */
  encodeRange(text: string, start: number, end: number, out: number[]): void {
    const n = this.#loadBytes(text, start, end);
    for (let i = 0; i < n; i++) {
      this.#prev[i] = i - 1;
      this.#next[i] = i + 1 < n ? i + 1 : -1;
    }
    if (n <= SCAN_BYTES_MAX) this.#mergeByScan();
    else this.#mergeByHeap(n);
    for (let i = 0; i !== -1 && n > 0; i = this.#next[i]) this.#emit(this.#ids[i], out);
  }

  /** Appends piece `id`, or for a synthetic piece the tokens of its single ASCII bytes. */
  #emit(id: number, out: number[]): void {
    if (id < this.vocabSize) {
      out.push(id);
      return;
    }
    // llama.cpp looks each byte of an unknown piece up as a one-byte token; only ASCII
    // characters can be one-byte tokens, the rest are dropped.
    const text = this.#synthetic[id - this.vocabSize];
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) >= 0x80) continue;
      const byteToken = this.tokenId(text[i]);
      if (byteToken >= 0) out.push(byteToken);
    }
  }

  /** Merges by repeatedly scanning all live pairs: O(n²) but allocation-free for short words. */
  #mergeByScan(): void {
    const ids = this.#ids, next = this.#next, prev = this.#prev;
    while (true) {
      let bestLeft = -1, bestRank = Infinity, bestResult = -1;
      for (let i = 0; next[i] !== -1; i = next[i]) {
        const slot = this.#pair(ids[i], ids[next[i]]);
        const rank = this.#pairs.rank(slot);
        if (rank >= 0 && rank < bestRank) {
          bestRank = rank;
          bestLeft = i;
          bestResult = this.#pairs.result(slot);
        }
      }
      if (bestLeft < 0) return;
      const right = next[bestLeft];
      ids[bestLeft] = bestResult;
      next[bestLeft] = next[right];
      if (next[right] !== -1) prev[next[right]] = bestLeft;
    }
  }

  /**
   * Merges with a min-heap of candidate pairs keyed `rank * n + left`, so the lowest rank pops
   * first and ties go to the leftmost pair. Entries made stale by an earlier merge are
   * recognised because the pair now at `left` no longer has that rank.
   */
  #mergeByHeap(n: number): void {
    const ids = this.#ids, next = this.#next, prev = this.#prev;
    const heap = this.#heap;
    let size = 0;
    const push = (left: number) => {
      const right = next[left];
      if (left < 0 || right < 0) return;
      const rank = this.#pairs.rank(this.#pair(ids[left], ids[right]));
      if (rank < 0) return;
      const key = rank * n + left;
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (heap[parent] <= key) break;
        heap[i] = heap[parent];
        i = parent;
      }
      heap[i] = key;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap[--size];
      let i = 0;
      while (true) {
        let child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && heap[child + 1] < heap[child]) child++;
        if (heap[child] >= last) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
      return top;
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (size > 0) {
      const key = pop();
      const left = key % n;
      const rank = (key - left) / n;
      if (ids[left] === -1) continue;
      const right = next[left];
      if (right < 0) continue;
      const slot = this.#pair(ids[left], ids[right]);
      if (this.#pairs.rank(slot) !== rank) continue;
      ids[left] = this.#pairs.result(slot);
      ids[right] = -1;
      next[left] = next[right];
      if (next[right] !== -1) prev[next[right]] = left;
      push(prev[left]);
      push(left);
    }
  }
}
