/**
 * The DeepSeek2 graph's small ops (RMSNorm, YaRN RoPE, softmax/sigmoid, top-k, MoE routing,
 * SiLU·mul, add/scale/copy, embedding lookup) run standalone on a thread pool through the Zig
 * kernels in `zig-kernels/src/ops/`. The graph executor calls the same kernels from inside one
 * pool task; these wrappers are for tests, benches and one-off use. Every shape, stride and
 * buffer length is checked here, before a pointer reaches Zig.
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";
import { type GgmlTypeId, ggmlTypeInfo, rowBytes } from "../ggml_types.ts";
import type { ThreadPool } from "../thread_pool.ts";
import { KERNEL_TYPES } from "./quants.ts";

/** Most rotated dims per head (mirrors `rope.n_dims_max`). */
export const ROPE_DIMS_MAX = 256;
/** Largest k for top-k and MoE routing (mirrors `top_k.k_max`). */
export const TOP_K_MAX = 32;
/** Most experts a router row may have (mirrors `moe_route.n_expert_max`). */
export const MOE_EXPERTS_MAX = 512;

function checkCount(name: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new OptionError(`Option "${name}" must be an integer ≥ ${min}, got ${value}`);
  }
  return value;
}

/** Throws unless `array` holds `rows` rows of `width` values at `offset`, `stride` apart. */
function checkRows(
  name: string,
  array: ArrayLike<number>,
  rows: number,
  width: number,
  stride: number,
  offset = 0,
): void {
  checkCount(`${name} row stride`, stride, 0);
  checkCount(`${name} offset`, offset, 0);
  const needed = (rows - 1) * stride + offset + width;
  if (array.length < needed) {
    throw new OptionError(
      `Buffer "${name}" holds ${array.length} values, ${rows} rows of ${width} at offset ${offset} ` +
        `and stride ${stride} need ${needed}`,
    );
  }
}

function checkFloat(name: string, value: number): number {
  if (!Number.isFinite(value)) {
    throw new OptionError(`Option "${name}" must be finite, got ${value}`);
  }
  return value;
}

/** Options of {@linkcode rmsNorm}. */
export interface RmsNormOptions {
  /** Input rows. */
  src: Float32Array;
  /** Output rows (same layout rules); default: `src`, normalized in place. */
  dst?: Float32Array;
  /** Rows to normalize. */
  rows: number;
  /** Values normalized per row. */
  width: number;
  /** First normalized value of each row; default 0. */
  offset?: number;
  /** Values from one row to the next in `src`; default `offset + width`. */
  rowStride?: number;
  /** Values from one row to the next in `dst`; default `rowStride`. */
  dstRowStride?: number;
  /** `width` per-value weights; default none. */
  weight?: Float32Array;
  /** Added to the mean square (`attention.layer_norm_rms_epsilon`, 1e-6 for V2-Lite). */
  eps: number;
}

/**
 * RMSNorm: y = x / sqrt(mean(x²) + eps) · w over values [offset, offset + width) of each row;
 * values outside that range are left as they are.
 *
 * @param pool Threads to run on.
 * @param options Buffers and layout.
 * @returns The output buffer (`dst`, or `src` when normalized in place).
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(2);
 * const kv = new Float32Array(576).fill(2);
 * rmsNorm(pool, { src: kv, rows: 1, width: 512, rowStride: 576, eps: 1e-6 }); // kv[0] ≈ 1
 * ```
 */
export function rmsNorm(pool: ThreadPool, options: RmsNormOptions): Float32Array {
  const { src, rows, width, eps } = options;
  const offset = options.offset ?? 0;
  const dst = options.dst ?? src;
  const rowStride = options.rowStride ?? offset + width;
  const dstRowStride = options.dstRowStride ?? rowStride;
  checkCount("rows", rows);
  checkCount("width", width);
  checkRows("src", src, rows, width, rowStride, offset);
  checkRows("dst", dst, rows, width, dstRowStride, offset);
  if (options.weight && options.weight.length < width) {
    throw new OptionError(`Buffer "weight" holds ${options.weight.length} values, need ${width}`);
  }
  if (!(eps >= 0) || !Number.isFinite(eps)) {
    throw new OptionError(`Option "eps" must be a finite number ≥ 0, got ${eps}`);
  }
  unwrap(
    native().fm_rms_norm(
      pool.handle,
      src,
      dst,
      BigInt(rows),
      BigInt(rowStride),
      BigInt(dstRowStride),
      BigInt(offset),
      BigInt(width),
      options.weight ?? null,
      eps,
    ),
    `normalizing ${rows} rows of ${width}`,
  );
  return dst;
}

/** YaRN RoPE parameters, named as in ggml_rope_ext (see `deepseek2Rope` for DeepSeek2's). */
export interface RopeParams {
  /** Rotated dims per head, even, ≤ 256 (`rope.dimension_count`, 64). */
  nDims: number;
  /** `rope.freq_base` (10000). */
  freqBase: number;
  /** 1 / `rope.scaling.factor` (1/40 for V2-Lite); 1 for no scaling. */
  freqScale: number;
  /** 1 with YaRN, 0 without. */
  extFactor: number;
  /** cos/sin multiplier; with extFactor ≠ 0 the kernel also multiplies by 1 + 0.1·ln(1/freqScale). */
  attnFactor: number;
  /** YaRN β_fast (32). */
  betaFast: number;
  /** YaRN β_slow (1). */
  betaSlow: number;
  /** `rope.scaling.original_context_length` (4096). */
  nCtxOrig: number;
}

/** Options of {@linkcode rope}. */
export interface RopeOptions {
  /** Input: `nTokens` tokens of `nHeads` head rows. */
  src: Float32Array;
  /** Output with the same layout; default `src` (in place). */
  dst?: Float32Array;
  /** Position of each token; its length is the token count. */
  positions: Int32Array;
  /** Head rows per token; default 1. */
  nHeads?: number;
  /** Values from one token to the next. */
  tokenStride: number;
  /** Values from one head row to the next; default 0 (required when nHeads > 1). */
  headStride?: number;
  /** First rotated value within a head row; default 0. */
  offset?: number;
  /** The rotation. */
  params: RopeParams;
}

/**
 * YaRN RoPE in normal (GPT-J, adjacent-pair) mode on `nDims` values at `offset` of every head
 * row, e.g. the 64 rope dims at offset 128 of each 192-wide query head, or at offset 512 of the
 * 576-wide kv_a row.
 *
 * @param pool Threads to run on.
 * @param options Buffers, layout and parameters.
 * @returns The output buffer.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * import { deepseek2Rope } from "./rope_params.ts";
 * using pool = new ThreadPool(2);
 * const q = new Float32Array(16 * 192).fill(1);
 * const { params } = deepseek2Rope({ nRot: 64, keyLength: 192 });
 * rope(pool, { src: q, positions: Int32Array.of(5), nHeads: 16, tokenStride: 3072, headStride: 192, offset: 128, params });
 * ```
 */
export function rope(pool: ThreadPool, options: RopeOptions): Float32Array {
  const { src, positions, tokenStride, params } = options;
  const dst = options.dst ?? src;
  const nTokens = checkCount("positions length", positions.length);
  const nHeads = checkCount("nHeads", options.nHeads ?? 1);
  const headStride = options.headStride ?? 0;
  const offset = options.offset ?? 0;
  checkCount("headStride", headStride, nHeads > 1 ? 1 : 0);
  const nDims = checkCount("nDims", params.nDims);
  if (nDims % 2 !== 0 || nDims > ROPE_DIMS_MAX) {
    throw new OptionError(`Option "nDims" must be even and ≤ ${ROPE_DIMS_MAX}, got ${nDims}`);
  }
  if (!(params.freqBase > 0) || !(params.freqScale > 0)) {
    throw new OptionError(
      `Options "freqBase" and "freqScale" must be > 0, got ${params.freqBase} and ${params.freqScale}`,
    );
  }
  for (const name of ["extFactor", "attnFactor", "betaFast", "betaSlow"] as const) {
    checkFloat(name, params[name]);
  }
  checkCount("nCtxOrig", params.nCtxOrig);
  // The last rotated value: token nTokens−1, head nHeads−1, value offset + nDims − 1.
  const span = (nHeads - 1) * headStride + offset + nDims;
  checkRows("src", src, nTokens, span, tokenStride);
  checkRows("dst", dst, nTokens, span, tokenStride);
  unwrap(
    native().fm_rope(
      pool.handle,
      src,
      dst,
      positions,
      BigInt(nTokens),
      BigInt(nHeads),
      BigInt(tokenStride),
      BigInt(headStride),
      BigInt(offset),
      BigInt(nDims),
      params.freqBase,
      params.freqScale,
      params.extFactor,
      params.attnFactor,
      params.betaFast,
      params.betaSlow,
      params.nCtxOrig,
    ),
    `applying RoPE to ${nTokens} tokens × ${nHeads} heads`,
  );
  return dst;
}

/** Options of row-wise ops over `rows × width` values ({@linkcode softmax}, {@linkcode sigmoid}). */
export interface RowsOptions {
  /** Input rows. */
  src: Float32Array;
  /** Output rows; default a new array of `rows × width`. May be `src` (in place). */
  dst?: Float32Array;
  /** Values per row. */
  width: number;
  /** Rows; default `floor(src.length / rowStride)`. */
  rows?: number;
  /** Values from one input row to the next; default `width`. */
  rowStride?: number;
  /** Values from one output row to the next; default `width` (or `rowStride` in place). */
  dstRowStride?: number;
}

function rowFunction(pool: ThreadPool, func: 0 | 1, options: RowsOptions): Float32Array {
  const { src, width } = options;
  checkCount("width", width);
  const rowStride = options.rowStride ?? width;
  const rows = checkCount("rows", options.rows ?? Math.floor(src.length / Math.max(1, rowStride)));
  const dst = options.dst ?? new Float32Array(rows * width);
  const dstRowStride = options.dstRowStride ?? (dst === src ? rowStride : width);
  checkRows("src", src, rows, width, rowStride);
  checkRows("dst", dst, rows, width, dstRowStride);
  unwrap(
    native().fm_softmax(
      pool.handle,
      func,
      src,
      dst,
      BigInt(rows),
      BigInt(width),
      BigInt(rowStride),
      BigInt(dstRowStride),
    ),
    `computing ${func === 0 ? "softmax" : "sigmoid"} of ${rows} rows of ${width}`,
  );
  return dst;
}

/**
 * Softmax of each row (after subtracting the row maximum, so any finite values are safe).
 *
 * @param pool Threads to run on.
 * @param options Rows and layout.
 * @returns The output rows.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(1);
 * softmax(pool, { src: Float32Array.of(0, Math.log(3)), width: 2 }); // [0.25, 0.75]
 * ```
 */
export function softmax(pool: ThreadPool, options: RowsOptions): Float32Array {
  return rowFunction(pool, 0, options);
}

/**
 * Logistic sigmoid 1 / (1 + e^−x) of every value.
 *
 * @param pool Threads to run on.
 * @param options Rows and layout.
 * @returns The output rows.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(1);
 * sigmoid(pool, { src: Float32Array.of(0), width: 1 }); // [0.5]
 * ```
 */
export function sigmoid(pool: ThreadPool, options: RowsOptions): Float32Array {
  return rowFunction(pool, 1, options);
}

/** Options of {@linkcode topK}. */
export interface TopKOptions {
  /** Input rows. */
  src: Float32Array;
  /** Values per row. */
  width: number;
  /** How many to keep per row, 1..32 and ≤ width. */
  k: number;
  /** Rows; default `floor(src.length / rowStride)`. */
  rows?: number;
  /** Values from one row to the next; default `width`. */
  rowStride?: number;
}

/** Row-major `rows × k` ids and values, best first. */
export interface TopKResult {
  /** Indices into each row. */
  ids: Int32Array;
  /** The values at those indices. */
  values: Float32Array;
}

function checkK(k: number, width: number): void {
  checkCount("k", k);
  if (k > TOP_K_MAX || k > width) {
    throw new OptionError(`Option "k" must be ≤ ${Math.min(TOP_K_MAX, width)}, got ${k}`);
  }
}

/**
 * The k largest values of each row, descending; among equal values the lower index comes
 * first (what a stable descending sort gives). NaN ranks below every number.
 *
 * @param pool Threads to run on.
 * @param options Rows, layout and k.
 * @returns Ids and values, `rows × k`.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(1);
 * topK(pool, { src: Float32Array.of(1, 9, 3, 9), width: 4, k: 2 }).ids; // [1, 3]
 * ```
 */
export function topK(pool: ThreadPool, options: TopKOptions): TopKResult {
  const { src, width, k } = options;
  checkCount("width", width);
  checkK(k, width);
  const rowStride = options.rowStride ?? width;
  const rows = checkCount("rows", options.rows ?? Math.floor(src.length / Math.max(1, rowStride)));
  checkRows("src", src, rows, width, rowStride);
  const ids = new Int32Array(rows * k);
  const values = new Float32Array(rows * k);
  unwrap(
    native().fm_top_k(
      pool.handle,
      src,
      BigInt(rows),
      BigInt(width),
      BigInt(rowStride),
      BigInt(k),
      ids,
      values,
    ),
    `selecting the top ${k} of ${rows} rows of ${width}`,
  );
  return { ids, values };
}

/** How router logits become expert probabilities (`deepseek2.expert_gating_func`). */
export type MoeGating = "softmax" | "sigmoid" | "softmaxWeight" | "sqrtSoftplus";

const GATING_IDS: Readonly<Record<MoeGating, number>> = {
  softmax: 1,
  sigmoid: 2,
  softmaxWeight: 3,
  sqrtSoftplus: 4,
};

/**
 * The gating of a `deepseek2.expert_gating_func` value: 1 softmax, 2 sigmoid, 3 softmax over
 * the selected logits, 4 sqrt(softplus); absent means softmax (DeepSeek V2 / V2-Lite).
 *
 * @param value The metadata value, or undefined when the key is absent.
 * @returns The gating name.
 * @example
 * ```ts
 * moeGatingFromGguf(2); // "sigmoid"
 * ```
 */
export function moeGatingFromGguf(value: number | undefined): MoeGating {
  if (value === undefined) return "softmax";
  const found = (Object.keys(GATING_IDS) as MoeGating[]).find((g) => GATING_IDS[g] === value);
  if (!found) throw new OptionError(`Expert gating function ${value} is not one of 1, 2, 3, 4`);
  return found;
}

/** Options of {@linkcode moeRoute}. */
export interface MoeRouteOptions {
  /** Router logits, one row of `nExpert` per token. */
  logits: Float32Array;
  /** Experts per router row (64 for V2-Lite). */
  nExpert: number;
  /** Experts used per token (`expert_used_count`, 6). */
  k: number;
  /** Gate function; default softmax. */
  gating?: MoeGating;
  /** `nExpert` selection biases (`exp_probs_b`); they change which experts win, not weights. */
  bias?: Float32Array;
  /** Divide the k weights by their sum (`expert_weights_norm`); default false. */
  normalize?: boolean;
  /** Multiply the weights by this (`expert_weights_scale`); default 1. */
  scale?: number;
  /** Tokens; default `floor(logits.length / rowStride)`. */
  nTokens?: number;
  /** Values from one token's logits to the next; default `nExpert`. */
  rowStride?: number;
  /**
   * Expert groups (`expert_group_count`); default 1, no group limit. With more, a group scores
   * the sum of its two best selection scores and only the `nGroupUsed` best groups stay eligible
   * (mainline llama.cpp; ik_llama.cpp ignores these keys for deepseek2).
   */
  nGroup?: number;
  /** Groups kept per token (`expert_group_used_count`); default 1. */
  nGroupUsed?: number;
}

/** Row-major `nTokens × k` expert choices, best first. */
export interface MoeRouteResult {
  /** Expert ids. */
  ids: Int32Array;
  /** Their weights in the MoE sum. */
  weights: Float32Array;
}

/**
 * MoE routing (MLA_SPEC §1.9): gate probabilities, optional group limit, top-k on probabilities +
 * bias, weights = unbiased probabilities of the chosen experts, optionally renormalized (sum
 * clamped to ≥ 6.1035e-5 as in mainline llama.cpp) and scaled.
 *
 * @param pool Threads to run on.
 * @param options Logits and routing rule.
 * @returns Chosen expert ids and weights.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(1);
 * const logits = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
 * const { ids, weights } = moeRoute(pool, { logits, nExpert: 64, k: 6 });
 * ```
 */
export function moeRoute(pool: ThreadPool, options: MoeRouteOptions): MoeRouteResult {
  const { logits, nExpert, k } = options;
  checkCount("nExpert", nExpert);
  if (nExpert > MOE_EXPERTS_MAX) {
    throw new OptionError(`Option "nExpert" must be ≤ ${MOE_EXPERTS_MAX}, got ${nExpert}`);
  }
  checkK(k, nExpert);
  const rowStride = options.rowStride ?? nExpert;
  const nTokens = checkCount(
    "nTokens",
    options.nTokens ?? Math.floor(logits.length / Math.max(1, rowStride)),
  );
  checkRows("logits", logits, nTokens, nExpert, rowStride);
  const gating = options.gating ?? "softmax";
  if (!(gating in GATING_IDS)) throw new OptionError(`Option "gating" is unknown: ${gating}`);
  if (options.bias && options.bias.length < nExpert) {
    throw new OptionError(`Buffer "bias" holds ${options.bias.length} values, need ${nExpert}`);
  }
  const scale = checkFloat("scale", options.scale ?? 1);
  const nGroup = checkCount("nGroup", options.nGroup ?? 1);
  const nGroupUsed = checkCount("nGroupUsed", options.nGroupUsed ?? 1);
  if (nGroup > 1) {
    const groupSize = nExpert / nGroup;
    if (
      nGroup > TOP_K_MAX || !Number.isInteger(groupSize) || groupSize < 2 ||
      nGroupUsed > nGroup || k > nGroupUsed * groupSize
    ) {
      throw new OptionError(
        `Options "nGroup" ${nGroup} and "nGroupUsed" ${nGroupUsed} must split ${nExpert} experts ` +
          `into ≤ ${TOP_K_MAX} groups of ≥ 2 and keep at least k = ${k} of them eligible`,
      );
    }
  }
  const ids = new Int32Array(nTokens * k);
  const weights = new Float32Array(nTokens * k);
  unwrap(
    native().fm_moe_route(
      pool.handle,
      logits,
      BigInt(nTokens),
      BigInt(nExpert),
      BigInt(rowStride),
      BigInt(k),
      GATING_IDS[gating],
      options.bias ?? null,
      options.normalize ? 1 : 0,
      scale,
      ids,
      weights,
      BigInt(nGroup),
      BigInt(nGroupUsed),
    ),
    `routing ${nTokens} tokens to ${k} of ${nExpert} experts`,
  );
  return { ids, weights };
}

/** Options of {@linkcode siluMul}. */
export interface SiluMulOptions {
  /** Gate rows (the `ffn_gate` output). */
  gate: Float32Array;
  /** Up rows (the `ffn_up` output). */
  up: Float32Array;
  /** Output rows; default a new `rows × width` array. May be `gate` or `up`. */
  dst?: Float32Array;
  /** Values per row. */
  width: number;
  /** Rows; default `floor(gate.length / gateRowStride)`. */
  rows?: number;
  /** Values from one gate row to the next; default `width`. */
  gateRowStride?: number;
  /** Values from one up row to the next; default `width`. */
  upRowStride?: number;
  /** Values from one output row to the next; default `width`. */
  dstRowStride?: number;
}

/**
 * SwiGLU's element-wise half: dst = silu(gate) ⊙ up, silu(x) = x / (1 + e^−x).
 *
 * @param pool Threads to run on.
 * @param options Buffers and layout.
 * @returns The output rows.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(2);
 * siluMul(pool, { gate: Float32Array.of(0, 1), up: Float32Array.of(5, 2), width: 2 }); // [0, 1.4621]
 * ```
 */
export function siluMul(pool: ThreadPool, options: SiluMulOptions): Float32Array {
  const { gate, up, width } = options;
  checkCount("width", width);
  const gateRowStride = options.gateRowStride ?? width;
  const upRowStride = options.upRowStride ?? width;
  const rows = checkCount(
    "rows",
    options.rows ?? Math.floor(gate.length / Math.max(1, gateRowStride)),
  );
  const dst = options.dst ?? new Float32Array(rows * width);
  const dstRowStride = options.dstRowStride ?? width;
  checkRows("gate", gate, rows, width, gateRowStride);
  checkRows("up", up, rows, width, upRowStride);
  checkRows("dst", dst, rows, width, dstRowStride);
  unwrap(
    native().fm_silu_mul(
      pool.handle,
      gate,
      up,
      dst,
      BigInt(rows),
      BigInt(width),
      BigInt(gateRowStride),
      BigInt(upRowStride),
      BigInt(dstRowStride),
    ),
    `computing silu(gate)·up over ${rows} rows of ${width}`,
  );
  return dst;
}

/** Element-wise operation of {@linkcode elementwise}. */
export type ElementwiseOp = "add" | "scale" | "addScaled" | "copy";

const ELEMENTWISE_IDS: Readonly<Record<ElementwiseOp, number>> = {
  add: 0,
  scale: 1,
  addScaled: 2,
  copy: 3,
};

/** Options of {@linkcode elementwise}. */
export interface ElementwiseOptions {
  /** add: a + b; scale: s·a; addScaled: a + s·b; copy: a. */
  op: ElementwiseOp;
  /** First operand rows. */
  a: Float32Array;
  /** Second operand rows (add, addScaled). */
  b?: Float32Array;
  /** The scalar s (scale, addScaled). */
  s?: number;
  /**
   * Output rows; default a new `rows × width` array. May be `a` or `b` themselves (same offset and
   * strides), but must not otherwise overlap them: rows are processed in parallel.
   */
  dst?: Float32Array;
  /** Values per row; default `a.length` (one row). */
  width?: number;
  /** Rows; default `floor(a.length / aRowStride)`. */
  rows?: number;
  /** Values from one row of `a` to the next; default `width`. */
  aRowStride?: number;
  /** Values from one row of `b` to the next; default `width`. */
  bRowStride?: number;
  /** Values from one output row to the next; default `width`. */
  dstRowStride?: number;
}

/**
 * Element-wise add, scale, a + s·b and strided copy (a concat is two copies into sub-ranges:
 * pass `dst.subarray(offset)` with the full row stride).
 *
 * @param pool Threads to run on.
 * @param options Operation, buffers and layout.
 * @returns The output rows.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(2);
 * elementwise(pool, { op: "addScaled", a: Float32Array.of(1, 1), b: Float32Array.of(2, 4), s: 0.5 }); // [2, 3]
 * ```
 */
export function elementwise(pool: ThreadPool, options: ElementwiseOptions): Float32Array {
  const { op, a } = options;
  if (!(op in ELEMENTWISE_IDS)) throw new OptionError(`Option "op" is unknown: ${op}`);
  const width = checkCount("width", options.width ?? a.length);
  const aRowStride = options.aRowStride ?? width;
  const rows = checkCount("rows", options.rows ?? Math.floor(a.length / Math.max(1, aRowStride)));
  const dst = options.dst ?? new Float32Array(rows * width);
  const dstRowStride = options.dstRowStride ?? width;
  const bRowStride = options.bRowStride ?? width;
  const needsB = op === "add" || op === "addScaled";
  if (needsB && !options.b) throw new OptionError(`Operation "${op}" needs buffer "b"`);
  if ((op === "scale" || op === "addScaled") && options.s === undefined) {
    throw new OptionError(`Operation "${op}" needs option "s"`);
  }
  const s = checkFloat("s", options.s ?? 1);
  checkRows("a", a, rows, width, aRowStride);
  if (needsB) checkRows("b", options.b!, rows, width, bRowStride);
  checkRows("dst", dst, rows, width, dstRowStride);
  unwrap(
    native().fm_add_scale(
      pool.handle,
      ELEMENTWISE_IDS[op],
      a,
      needsB ? options.b! : null,
      dst,
      BigInt(rows),
      BigInt(width),
      BigInt(aRowStride),
      BigInt(bRowStride),
      BigInt(dstRowStride),
      s,
    ),
    `running element-wise ${op} over ${rows} rows of ${width}`,
  );
  return dst;
}

/** Options of {@linkcode getRows}. */
export interface GetRowsOptions {
  /** The weight matrix bytes (e.g. `token_embd.weight`), rows of `width` values of `type`. */
  weight: Uint8Array;
  /** ggml type of the weight (F32, F16, BF16, Q8_0, Q4_0, IQ4_NL, Q4_K, Q5_K, Q6_K). */
  type: GgmlTypeId;
  /** Values per row (n_embd); a multiple of the type's block size. */
  width: number;
  /** Rows to look up. */
  ids: Int32Array;
  /** Output rows; default a new `ids.length × width` array. */
  dst?: Float32Array;
  /** Values from one output row to the next; default `width`. */
  dstRowStride?: number;
}

/**
 * Embedding lookup: output row i = weight row ids[i], dequantized to f32 by the quants module.
 *
 * @param pool Threads to run on.
 * @param options Weight, type, ids and output.
 * @returns The output rows.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * import { GgmlType } from "../ggml_types.ts";
 * using pool = new ThreadPool(1);
 * const table = new Float32Array([0, 1, 10, 11]);
 * getRows(pool, { weight: new Uint8Array(table.buffer), type: GgmlType.F32, width: 2, ids: Int32Array.of(1) }); // [10, 11]
 * ```
 */
export function getRows(pool: ThreadPool, options: GetRowsOptions): Float32Array {
  const { weight, type, width, ids } = options;
  const info = ggmlTypeInfo(type);
  if (!info || !KERNEL_TYPES.includes(info.id)) {
    throw new OptionError(`Type ${info?.name ?? type} has no dequantization kernel`);
  }
  checkCount("width", width);
  if (width % info.blockElements !== 0) {
    throw new OptionError(
      `Option "width" must be a multiple of ${info.blockElements} for ${info.name}, got ${width}`,
    );
  }
  const nIds = checkCount("ids length", ids.length);
  const bytesPerRow = rowBytes(info, width);
  const nWeightRows = Math.floor(weight.length / bytesPerRow);
  if (nWeightRows < 1) {
    throw new OptionError(
      `Buffer "weight" of ${weight.length} bytes holds no ${bytesPerRow}-byte row`,
    );
  }
  for (let i = 0; i < nIds; i++) {
    if (ids[i] < 0 || ids[i] >= nWeightRows) {
      throw new OptionError(`Row id ${ids[i]} at index ${i} is outside 0..${nWeightRows - 1}`);
    }
  }
  const dst = options.dst ?? new Float32Array(nIds * width);
  const dstRowStride = options.dstRowStride ?? width;
  checkRows("dst", dst, nIds, width, dstRowStride);
  unwrap(
    native().fm_get_rows(
      pool.handle,
      info.id,
      weight,
      BigInt(nWeightRows),
      BigInt(width),
      ids,
      BigInt(nIds),
      dst,
      BigInt(dstRowStride),
    ),
    `looking up ${nIds} rows of ${info.name}`,
  );
  return dst;
}
