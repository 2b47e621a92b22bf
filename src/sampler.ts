/**
 * Token sampling: repetition/frequency/presence penalties, then top-k, top-p, min-p,
 * temperature and a draw from a seeded RNG — the order llama.cpp's default sampler chain uses,
 * so the same settings mean the same thing here. Temperature 0 is greedy (argmax after the
 * penalties).
 * @module
 */
import { OptionError } from "./errors.ts";

/** Sampling settings; every field is optional. */
export interface SamplerOptions {
  /** 0 (default) = greedy; otherwise logits are divided by it before the draw. */
  temperature?: number;
  /** Keep only the K most likely tokens (0 = off, the default). */
  topK?: number;
  /** Keep the smallest set whose probability reaches P (1 = off, the default). */
  topP?: number;
  /** Drop tokens with probability below minP × the best token's (0 = off, the default). */
  minP?: number;
  /** Divides positive logits / multiplies negative ones of recent tokens (1 = off). */
  repeatPenalty?: number;
  /** Subtracts count × this from recent tokens' logits (0 = off). */
  frequencyPenalty?: number;
  /** Subtracts this from every recent token's logit once (0 = off). */
  presencePenalty?: number;
  /** How many recent tokens the penalties look at (default 64; 0 = none). */
  penaltyLastN?: number;
  /** RNG seed (default 0xC0FFEE), so runs are reproducible. */
  seed?: number;
}

/**
 * xoshiro128** seeded through splitmix32: small, fast and reproducible across platforms.
 *
 * @example
 * ```ts
 * import { Rng } from "./sampler.ts";
 * const rng = new Rng(42);
 * console.log(rng.nextFloat());
 * ```
 */
export class Rng {
  #s = new Uint32Array(4);

  /** Seeds the generator; equal seeds give equal streams. */
  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32 spreads a small seed over all 128 state bits.
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** The next 32 random bits. */
  nextU32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new OptionError(`Option "${name}" must be a number from ${min} to ${max}, got ${value}`);
  }
}

/** Options with defaults filled in and ranges checked. */
export type ResolvedSamplerOptions = Required<SamplerOptions>;

/**
 * Fills defaults and checks every sampler option's range.
 *
 * @param opts The caller's options.
 * @returns Complete options.
 * @example
 * ```ts
 * import { resolveSamplerOptions } from "./sampler.ts";
 * console.log(resolveSamplerOptions({ temperature: 0.7 }).topP); // 1
 * ```
 */
export function resolveSamplerOptions(opts: SamplerOptions = {}): ResolvedSamplerOptions {
  const o: ResolvedSamplerOptions = {
    temperature: opts.temperature ?? 0,
    topK: opts.topK ?? 0,
    topP: opts.topP ?? 1,
    minP: opts.minP ?? 0,
    repeatPenalty: opts.repeatPenalty ?? 1,
    frequencyPenalty: opts.frequencyPenalty ?? 0,
    presencePenalty: opts.presencePenalty ?? 0,
    penaltyLastN: opts.penaltyLastN ?? 64,
    seed: opts.seed ?? 0xC0FFEE,
  };
  checkRange("temperature", o.temperature, 0, 100);
  checkRange("topK", o.topK, 0, 1 << 30);
  if (!Number.isInteger(o.topK)) throw new OptionError(`Option "topK" must be an integer`);
  checkRange("topP", o.topP, 0, 1);
  checkRange("minP", o.minP, 0, 1);
  checkRange("repeatPenalty", o.repeatPenalty, 0.01, 100);
  checkRange("frequencyPenalty", o.frequencyPenalty, -100, 100);
  checkRange("presencePenalty", o.presencePenalty, -100, 100);
  checkRange("penaltyLastN", o.penaltyLastN, 0, 1 << 30);
  if (!Number.isInteger(o.seed)) throw new OptionError(`Option "seed" must be an integer`);
  return o;
}

/**
 * Picks the next token from a logit row, remembering accepted tokens for the penalties.
 *
 * @example
 * ```ts
 * import { Sampler } from "./sampler.ts";
 * const sampler = new Sampler({ temperature: 0 });
 * const id = sampler.sample(new Float32Array([0.1, 3, -1]));
 * sampler.accept(id);
 * console.log(id); // 1
 * ```
 */
export class Sampler {
  /** The options in force, defaults filled in. */
  readonly options: ResolvedSamplerOptions;
  #rng: Rng;
  #recent: number[] = [];
  // Scratch reused across calls so sampling allocates only when the vocabulary grows.
  #work = new Float32Array(0);

  /** Creates a sampler; throws `OptionError` on an out-of-range option. */
  constructor(opts: SamplerOptions = {}) {
    this.options = resolveSamplerOptions(opts);
    this.#rng = new Rng(this.options.seed);
  }

  /** Records a token that became part of the text (prompt or generated), for the penalties. */
  accept(token: number): void {
    this.#recent.push(token);
    const keep = Math.max(this.options.penaltyLastN, 1);
    if (this.#recent.length > 4 * keep) this.#recent.splice(0, this.#recent.length - keep);
  }

  /** Forgets recent tokens and restarts the RNG stream. */
  reset(): void {
    this.#recent = [];
    this.#rng = new Rng(this.options.seed);
  }

  /**
   * Samples one token id from `logits` (not modified).
   *
   * @param logits One row of vocabulary logits.
   * @returns The chosen token id.
   */
  sample(logits: Float32Array): number {
    if (logits.length === 0) throw new OptionError("Cannot sample from an empty logit row");
    if (this.#work.length !== logits.length) this.#work = new Float32Array(logits.length);
    const work = this.#work;
    work.set(logits);
    this.#applyPenalties(work);
    const o = this.options;
    if (o.temperature <= 0) return argmax(work);
    let ids = candidates(work, o.topK, o.temperature);
    ids = applyTopP(work, ids, o.topP);
    ids = applyMinP(work, ids, o.minP);
    return drawTempered(work, ids, o.temperature, this.#rng.nextFloat());
  }

  #applyPenalties(work: Float32Array): void {
    const o = this.options;
    if (o.penaltyLastN === 0) return;
    if (o.repeatPenalty === 1 && o.frequencyPenalty === 0 && o.presencePenalty === 0) return;
    const counts = new Map<number, number>();
    const start = Math.max(0, this.#recent.length - o.penaltyLastN);
    for (let i = start; i < this.#recent.length; i++) {
      const id = this.#recent[i];
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const [id, count] of counts) {
      if (id < 0 || id >= work.length) continue;
      let v = work[id];
      // llama.cpp's rule: shrink toward zero from either side, so a penalty never helps a token.
      v = v > 0 ? v / o.repeatPenalty : v * o.repeatPenalty;
      work[id] = v - count * o.frequencyPenalty - o.presencePenalty;
    }
  }
}

/**
 * Index of the largest value; the lowest index wins a tie.
 *
 * @param values A logit row.
 * @returns The index of its maximum.
 * @example
 * ```ts
 * import { argmax } from "./sampler.ts";
 * console.log(argmax(new Float32Array([1, 3, 3]))); // 1
 * ```
 */
export function argmax(values: Float32Array): number {
  let best = 0;
  let bestValue = values[0];
  for (let i = 1; i < values.length; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}

/**
 * The `k` highest-logit ids, best first (all ids when k is 0 or ≥ the vocabulary), ties by
 * lower id. A selection pass over the full row keeps this O(V) for small k.
 */
function candidates(logits: Float32Array, k: number, temperature: number): Int32Array {
  const n = logits.length;
  if (k <= 0 || k >= n) {
    // Without top-k, tokens more than 30·max(1, T) below the best carry < e^-30 of its
    // probability each (< 1e-8 in all for a 10^5 vocabulary) at every later stage, so they are
    // dropped before the sort instead of sorting the whole vocabulary per token.
    const cutoff = logits[argmax(logits)] - 30 * Math.max(1, temperature);
    const kept: number[] = [];
    for (let i = 0; i < n; i++) if (logits[i] >= cutoff) kept.push(i);
    return sortedIds(logits, Int32Array.from(kept));
  }
  // Threshold = k-th largest value via a bounded min-heap of size k.
  const heap = new Float32Array(k).fill(-Infinity);
  for (let i = 0; i < n; i++) {
    const v = logits[i];
    if (v > heap[0]) {
      heap[0] = v;
      siftDown(heap);
    }
  }
  const threshold = heap[0];
  const chosen: number[] = [];
  for (let i = 0; i < n && chosen.length < k; i++) if (logits[i] > threshold) chosen.push(i);
  for (let i = 0; i < n && chosen.length < k; i++) if (logits[i] === threshold) chosen.push(i);
  return sortedIds(logits, Int32Array.from(chosen));
}

function siftDown(heap: Float32Array): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < heap.length && heap[l] < heap[m]) m = l;
    if (r < heap.length && heap[r] < heap[m]) m = r;
    if (m === i) return;
    const t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    i = m;
  }
}

function sortedIds(logits: Float32Array, ids: Int32Array): Int32Array {
  return ids.sort((a, b) => (logits[b] - logits[a]) || (a - b));
}

/** Softmax probabilities (at temperature 1, as llama.cpp's top-p/min-p see them) of `ids`. */
function probabilities(logits: Float32Array, ids: Int32Array, temperature = 1): Float64Array {
  const max = logits[ids[0]];
  const p = new Float64Array(ids.length);
  let sum = 0;
  for (let i = 0; i < ids.length; i++) {
    p[i] = Math.exp((logits[ids[i]] - max) / temperature);
    sum += p[i];
  }
  for (let i = 0; i < ids.length; i++) p[i] /= sum;
  return p;
}

function applyTopP(logits: Float32Array, ids: Int32Array, topP: number): Int32Array {
  if (topP >= 1 || ids.length <= 1) return ids;
  const p = probabilities(logits, ids);
  let cumulative = 0;
  for (let i = 0; i < ids.length; i++) {
    cumulative += p[i];
    if (cumulative >= topP) return ids.subarray(0, i + 1);
  }
  return ids;
}

function applyMinP(logits: Float32Array, ids: Int32Array, minP: number): Int32Array {
  if (minP <= 0 || ids.length <= 1) return ids;
  // p_i ≥ minP·p_max  ⇔  logit_i ≥ logit_max + ln(minP); ids are sorted best first.
  const cutoff = logits[ids[0]] + Math.log(minP);
  let keep = 1;
  while (keep < ids.length && logits[ids[keep]] >= cutoff) keep++;
  return ids.subarray(0, keep);
}

function drawTempered(
  logits: Float32Array,
  ids: Int32Array,
  temperature: number,
  u: number,
): number {
  const p = probabilities(logits, ids, temperature);
  let cumulative = 0;
  for (let i = 0; i < ids.length; i++) {
    cumulative += p[i];
    if (u < cumulative) return ids[i];
  }
  return ids[ids.length - 1];
}
