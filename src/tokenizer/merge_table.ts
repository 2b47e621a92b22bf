/**
 * An open-addressing hash table from a pair of piece ids to the merge's rank and result id.
 * BPE looks up every adjacent pair of every word, so the table lives in typed arrays: no
 * string keys and no garbage per lookup.
 * @module
 */

/**
 * BPE merge ranks keyed by (left piece id, right piece id); rank -1 can record "no merge".
 *
 * @example
 * ```ts
 * import { MergeTable } from "./merge_table.ts";
 * const table = new MergeTable(2);
 * table.add(5, 7, 0, 42);
 * const slot = table.find(5, 7);
 * console.log(table.rank(slot), table.result(slot)); // 0 42
 * ```
 */
export class MergeTable {
  #mask = 0;
  #left = new Int32Array(0);
  #right = new Int32Array(0);
  #rank = new Int32Array(0);
  #result = new Int32Array(0);
  #size = 0;

  /**
   * Creates an empty table sized for `count` entries at a load factor of at most one half;
   * it grows (doubling) when more are added.
   *
   * @param count Expected number of entries.
   */
  constructor(count: number) {
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    this.#allocate(capacity);
  }

  #allocate(capacity: number): void {
    this.#mask = capacity - 1;
    this.#left = new Int32Array(capacity).fill(-1);
    this.#right = new Int32Array(capacity);
    this.#rank = new Int32Array(capacity);
    this.#result = new Int32Array(capacity);
  }

  #growTo(capacity: number): void {
    const [left, right, rank, result] = [this.#left, this.#right, this.#rank, this.#result];
    this.#allocate(capacity);
    for (let i = 0; i < left.length; i++) {
      if (left[i] === -1) continue;
      const slot = this.#slot(left[i], right[i]);
      this.#left[slot] = left[i];
      this.#right[slot] = right[i];
      this.#rank[slot] = rank[i];
      this.#result[slot] = result[i];
    }
  }

  /** Number of merges held. */
  get size(): number {
    return this.#size;
  }

  #slot(left: number, right: number): number {
    let slot = (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x7f4a7c15, 0x85ebca77)) &
      this.#mask;
    while (true) {
      const l = this.#left[slot];
      if (l === -1 || (l === left && this.#right[slot] === right)) return slot;
      slot = (slot + 1) & this.#mask;
    }
  }

  /**
   * Adds a merge unless the pair is already present (the first, lowest rank wins, as in
   * llama.cpp's `bpe_ranks.emplace`).
   *
   * @param left Left piece id (>= 0).
   * @param right Right piece id (>= 0).
   * @param rank The merge's rank (its index in the merge list).
   * @param result Piece id of the merged string.
   * @returns Whether the merge was added.
   */
  add(left: number, right: number, rank: number, result: number): boolean {
    if (left < 0 || right < 0) throw new RangeError(`Merge pair (${left}, ${right}) is negative`);
    if ((this.#size + 1) * 2 > this.#left.length) this.#growTo(this.#left.length * 2);
    const slot = this.#slot(left, right);
    if (this.#left[slot] !== -1) return false;
    this.#left[slot] = left;
    this.#right[slot] = right;
    this.#rank[slot] = rank;
    this.#result[slot] = result;
    this.#size++;
    return true;
  }

  /**
   * The slot holding the merge of `left` and `right`, or -1 when they do not merge.
   *
   * @param left Left piece id.
   * @param right Right piece id.
   * @returns A slot for `rank`/`result`, or -1.
   */
  find(left: number, right: number): number {
    const slot = this.#slot(left, right);
    return this.#left[slot] === -1 ? -1 : slot;
  }

  /** The rank stored in `slot` (from `find`). */
  rank(slot: number): number {
    return this.#rank[slot];
  }

  /** The merged piece id stored in `slot` (from `find`). */
  result(slot: number): number {
    return this.#result[slot];
  }
}
