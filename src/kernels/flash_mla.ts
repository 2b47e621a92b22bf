/**
 * FlashMLA from TypeScript: write (quantize) rows into an MLA latent KV cache and run absorbed
 * MLA attention of one layer over it (`zig-kernels/src/flash_mla.zig`). Every argument is
 * checked here before a pointer crosses into Zig.
 *
 * Shapes: a cache row and a query row are 576 wide in mainline order [512 latent ‖ 64 rope];
 * V is the first 512 values of a cache row; the output is [nTokens][nHead][512].
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";
import type { ThreadPool } from "../thread_pool.ts";

/** Width of a cache row and of a query row (512 latent + 64 rope). */
export const MLA_K_DIM = 576;
/** Width of V and of one head's output (the latent part). */
export const MLA_V_DIM = 512;
/** Most heads per call. */
export const MLA_HEADS_MAX = 128;
/** Most query tokens per call. */
export const MLA_TOKENS_MAX = 8192;

/** Storage type of the latent KV cache. */
export type KvCacheType = "f16" | "q8_0" | "q8_KV";
/** Thread strategy: `heads` (GEMV per head), `kvsplit` (all heads per cache chunk), `auto`. */
export type AttentionStrategy = "auto" | "heads" | "kvsplit";

/** ggml type id of each cache type (what the native side takes). */
export const KV_CACHE_TYPE_IDS: Readonly<Record<KvCacheType, number>> = {
  f16: 1,
  q8_0: 8,
  q8_KV: 151,
};

const STRATEGY_IDS: Readonly<Record<AttentionStrategy, number>> = {
  auto: 0,
  heads: 1,
  kvsplit: 2,
};

/**
 * Bytes of one stored cache row: f16 1152, q8_0 612 (18 blocks of f16 scale + 32 int8),
 * q8_KV 584 (f32 scale, i32 sum of quants, 576 int8).
 *
 * @param cacheType The cache storage type.
 * @returns Bytes per row.
 * @example
 * ```ts
 * import { kvCacheRowBytes } from "./flash_mla.ts";
 * console.log(kvCacheRowBytes("q8_KV")); // 584
 * ```
 */
export function kvCacheRowBytes(cacheType: KvCacheType): number {
  checkCacheType(cacheType);
  switch (cacheType) {
    case "f16":
      return MLA_K_DIM * 2;
    case "q8_0":
      return (MLA_K_DIM / 32) * 34;
    case "q8_KV":
      return 8 + MLA_K_DIM;
  }
}

function checkCacheType(cacheType: string): asserts cacheType is KvCacheType {
  if (!Object.hasOwn(KV_CACHE_TYPE_IDS, cacheType)) {
    throw new OptionError(
      `Cache type must be one of f16, q8_0, q8_KV, got ${JSON.stringify(cacheType)}`,
    );
  }
}

function checkCount(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OptionError(`${name} must be an integer between ${min} and ${max}, got ${value}`);
  }
}

function checkRows(cacheType: KvCacheType, cache: Uint8Array, firstRow: number, nRows: number) {
  checkCount("firstRow", firstRow, 0);
  checkCount("Row count", nRows, 0);
  const rowBytes = kvCacheRowBytes(cacheType);
  const capacity = Math.floor(cache.byteLength / rowBytes);
  if (firstRow + nRows > capacity) {
    throw new OptionError(
      `Rows ${firstRow}..${firstRow + nRows} do not fit a ${cacheType} cache of ${capacity} rows ` +
        `(${cache.byteLength} bytes)`,
    );
  }
  return capacity;
}

/**
 * Quantizes f32 rows (each 576 wide, [latent ‖ rope]) into the cache at `firstRow`.
 *
 * @param cacheType The cache storage type.
 * @param cache The cache memory (a whole number of rows is used).
 * @param firstRow Row index the first source row goes to.
 * @param rows Source rows, `n × 576` f32.
 * @example
 * ```ts
 * import { kvCacheRowBytes, writeKvRows } from "./flash_mla.ts";
 * const cache = new Uint8Array(4 * kvCacheRowBytes("f16"));
 * writeKvRows("f16", cache, 1, new Float32Array(2 * 576).fill(0.5));
 * ```
 */
export function writeKvRows(
  cacheType: KvCacheType,
  cache: Uint8Array,
  firstRow: number,
  rows: Float32Array,
): void {
  checkCacheType(cacheType);
  if (rows.length % MLA_K_DIM !== 0) {
    throw new OptionError(`Source rows must be a multiple of 576 floats, got ${rows.length}`);
  }
  const nRows = rows.length / MLA_K_DIM;
  const capacity = checkRows(cacheType, cache, firstRow, nRows);
  if (nRows === 0) return;
  unwrap(
    native().fm_kv_write_rows(
      KV_CACHE_TYPE_IDS[cacheType],
      cache,
      BigInt(capacity),
      BigInt(firstRow),
      rows,
      BigInt(nRows),
    ),
    `writing ${nRows} ${cacheType} cache rows at row ${firstRow}`,
  );
}

/**
 * Dequantizes cache rows back to f32 (tests, inspection).
 *
 * @param cacheType The cache storage type.
 * @param cache The cache memory.
 * @param firstRow First row to read.
 * @param nRows Rows to read.
 * @returns `nRows × 576` f32.
 * @example
 * ```ts
 * import { kvCacheRowBytes, readKvRows, writeKvRows } from "./flash_mla.ts";
 * const cache = new Uint8Array(kvCacheRowBytes("q8_KV"));
 * writeKvRows("q8_KV", cache, 0, new Float32Array(576).fill(1));
 * console.log(readKvRows("q8_KV", cache, 0, 1)[0]); // 1
 * ```
 */
export function readKvRows(
  cacheType: KvCacheType,
  cache: Uint8Array,
  firstRow: number,
  nRows: number,
): Float32Array {
  checkCacheType(cacheType);
  const capacity = checkRows(cacheType, cache, firstRow, nRows);
  const out = new Float32Array(nRows * MLA_K_DIM);
  if (nRows === 0) return out;
  unwrap(
    native().fm_kv_read_rows(
      KV_CACHE_TYPE_IDS[cacheType],
      cache,
      BigInt(capacity),
      BigInt(firstRow),
      out,
      BigInt(nRows),
    ),
    `reading ${nRows} ${cacheType} cache rows at row ${firstRow}`,
  );
  return out;
}

/** Sizes that decide a call's scratch. */
export interface FlashMlaShape {
  /** Cache storage type. */
  cacheType: KvCacheType;
  /** Query tokens per call (1 for token generation). */
  nTokens: number;
  /** Attention heads. */
  nHead: number;
  /** Threads of the pool the call runs on. */
  threads: number;
}

/**
 * Scratch bytes `flashMla` needs for a shape (per-thread tiles and partials, plus the int8
 * query rows for q8_KV).
 *
 * @param shape Cache type, tokens, heads and threads.
 * @returns Bytes.
 * @example
 * ```ts
 * import { flashMlaScratchBytes } from "./flash_mla.ts";
 * const bytes = flashMlaScratchBytes({ cacheType: "f16", nTokens: 1, nHead: 16, threads: 2 });
 * console.log(bytes > 0);
 * ```
 */
export function flashMlaScratchBytes(shape: FlashMlaShape): number {
  checkCacheType(shape.cacheType);
  checkCount("nTokens", shape.nTokens, 1, MLA_TOKENS_MAX);
  checkCount("nHead", shape.nHead, 1, MLA_HEADS_MAX);
  checkCount("threads", shape.threads, 1, 64);
  const out = new BigUint64Array(1);
  unwrap(
    native().fm_flash_mla_scratch_bytes(
      KV_CACHE_TYPE_IDS[shape.cacheType],
      BigInt(shape.nTokens),
      BigInt(shape.nHead),
      BigInt(shape.threads),
      out,
    ),
    "sizing flash MLA scratch",
  );
  return Number(out[0]);
}

/** Inputs of one attention call. */
export interface FlashMlaOptions {
  /** Cache storage type. */
  cacheType: KvCacheType;
  /** The cache; rows 0..nKv-1 are attended. */
  cache: Uint8Array;
  /** Rows present in the cache. */
  nKv: number;
  /** Query rows `[nTokens][nHead][576]` f32 in cache order. */
  q: Float32Array;
  /** Attention heads. */
  nHead: number;
  /** Query tokens; default `q.length / (nHead·576)`. */
  nTokens?: number;
  /**
   * Position of each query token, in 0..nKv-1; token t attends rows 0..positions[t].
   * Default: the last nTokens positions (nKv − nTokens + t).
   */
  positions?: Int32Array;
  /** Softmax scale (V2-Lite: 0.1147214, see MLA_SPEC §1.5). */
  kqScale: number;
  /** Thread strategy; default `auto`. */
  strategy?: AttentionStrategy;
  /** Output `[nTokens][nHead][512]` f32; allocated when absent. */
  out?: Float32Array;
  /** Scratch of at least `flashMlaScratchBytes` bytes; allocated when absent. */
  scratch?: Uint8Array;
}

/** Result of one attention call. */
export interface FlashMlaResult {
  /** `[nTokens][nHead][512]` f32 (the `out` passed in, if any). */
  out: Float32Array;
  /** The strategy that ran (what `auto` resolved to). */
  strategy: "heads" | "kvsplit";
}

/**
 * Absorbed MLA attention of one layer: softmax(kqScale·K·q + causal mask)·V per head.
 *
 * @param pool Threads to run on.
 * @param options Cache, queries, scale and strategy.
 * @returns The output and the strategy used.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * import { flashMla, kvCacheRowBytes, writeKvRows } from "./flash_mla.ts";
 * using pool = new ThreadPool(2);
 * const cache = new Uint8Array(64 * kvCacheRowBytes("f16"));
 * writeKvRows("f16", cache, 0, new Float32Array(64 * 576).map(() => Math.random() - 0.5));
 * const q = new Float32Array(16 * 576).map(() => Math.random() - 0.5);
 * const { out, strategy } = flashMla(pool, {
 *   cacheType: "f16", cache, nKv: 64, q, nHead: 16, kqScale: 0.1147214,
 * });
 * console.log(out.length, strategy); // 8192 "kvsplit"
 * ```
 */
export function flashMla(pool: ThreadPool, options: FlashMlaOptions): FlashMlaResult {
  const { cacheType, cache, nKv, q, nHead, kqScale } = options;
  checkCacheType(cacheType);
  checkCount("nHead", nHead, 1, MLA_HEADS_MAX);
  const nTokens = options.nTokens ?? q.length / (nHead * MLA_K_DIM);
  checkCount("nTokens", nTokens, 1, MLA_TOKENS_MAX);
  if (q.length !== nTokens * nHead * MLA_K_DIM) {
    throw new OptionError(
      `Query must hold nTokens·nHead·576 = ${nTokens * nHead * MLA_K_DIM} floats, got ${q.length}`,
    );
  }
  checkCount("nKv", nKv, 1);
  const capacity = Math.floor(cache.byteLength / kvCacheRowBytes(cacheType));
  if (nKv > capacity) {
    throw new OptionError(`nKv ${nKv} exceeds the cache's ${capacity} rows of ${cacheType}`);
  }
  if (!Number.isFinite(kqScale)) throw new OptionError(`kqScale must be finite, got ${kqScale}`);
  const strategy = options.strategy ?? "auto";
  if (!Object.hasOwn(STRATEGY_IDS, strategy)) {
    throw new OptionError(
      `Strategy must be one of auto, heads, kvsplit, got ${JSON.stringify(strategy)}`,
    );
  }
  const positions = options.positions;
  if (positions !== undefined) {
    if (positions.length !== nTokens) {
      throw new OptionError(`positions must hold ${nTokens} entries, got ${positions.length}`);
    }
    for (let t = 0; t < nTokens; t++) {
      if (positions[t] < 0 || positions[t] >= nKv) {
        throw new OptionError(
          `positions[${t}] = ${positions[t]} is outside the cache's rows 0..${nKv - 1}`,
        );
      }
    }
  } else if (nTokens > nKv) {
    throw new OptionError(`${nTokens} query tokens need positions: the cache holds only ${nKv}`);
  }
  const outLength = nTokens * nHead * MLA_V_DIM;
  const out = options.out ?? new Float32Array(outLength);
  if (out.length !== outLength) {
    throw new OptionError(`out must hold ${outLength} floats, got ${out.length}`);
  }
  const scratchBytes = flashMlaScratchBytes({ cacheType, nTokens, nHead, threads: pool.threads });
  const scratch = options.scratch ?? new Uint8Array(scratchBytes);
  if (scratch.byteLength < scratchBytes) {
    throw new OptionError(`scratch must hold ${scratchBytes} bytes, got ${scratch.byteLength}`);
  }
  const used = new Uint32Array(1);
  unwrap(
    native().fm_flash_mla(
      pool.handle,
      KV_CACHE_TYPE_IDS[cacheType],
      cache,
      BigInt(nKv),
      q,
      BigInt(nTokens),
      BigInt(nHead),
      positions ?? null,
      kqScale,
      STRATEGY_IDS[strategy],
      out,
      scratch,
      BigInt(scratch.byteLength),
      used,
    ),
    `running flash MLA over ${nKv} ${cacheType} rows`,
  );
  return { out, strategy: used[0] === STRATEGY_IDS.heads ? "heads" : "kvsplit" };
}
