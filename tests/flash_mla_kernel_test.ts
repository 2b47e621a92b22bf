import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import {
  type AttentionStrategy,
  flashMla,
  kvCacheRowBytes,
  type KvCacheType,
  writeKvRows,
} from "../src/kernels/flash_mla.ts";
import { native } from "../ffi/library.ts";
import {
  attentionRef,
  K_DIM,
  quantizeInt8,
  quantizeRowRef,
  QUERY_LEVELS,
  type RefOutput,
  toleranceFor,
  uniform,
  V_DIM,
  worstRatio,
} from "./helpers/flash_mla_reference.ts";

const KQ_SCALE = 0.1147214;
const TYPES: KvCacheType[] = ["f16", "q8_0", "q8_KV"];
const STRATEGIES: AttentionStrategy[] = ["heads", "kvsplit", "auto"];
const pools = [1, 2, 3, 4].map((n) => new ThreadPool(n));
// Close the pools when the test module's last test finished.
globalThis.addEventListener("unload", () => pools.forEach((p) => p.close()));

/** q8_KV cache rows per tile (flash_mla.zig `tileRows(.q8_KV)`): the span of one probability step. */
const TILE_ROWS = 128;
/** Largest i16 probability level (flash_mla.zig `p_levels`). */
const P_LEVELS = 32767;

/**
 * q8_KV runs P·V as exact integer products of int8 V with probabilities rounded to i16, in units
 * of `|o − ô|/max|V|` (added to toleranceFor, whose terms stay valid for the rest). Per tile t
 * the kernel rounds P'_i = p_i·d_i (d_i the row scale, p_i ≤ 1 relative to the running max) to
 * multiples of step_t = max_{i∈t} P'_i / 32767: |δ_i| ≤ step_t/2 plus the f32 product
 * P'·(1/step), ≤ 32767u < 0.01 step, so ≤ 0.51 step_t. With |q_i[c]| ≤ 127 the tile moves
 * acc[c] by ≤ n_t·0.51·step_t·127 ≤ 128·0.51/32767 · max_{i∈t} p_i · A, A = max_i 127·d_i
 * (the largest row amax). Rescaled to the final max, Σ_t max_{i∈t} p_i ≤ S (each tile's largest
 * weight is one of S's terms), so after dividing by S: |Δo[c]| ≤ 128·0.51/32767 · A ≈ 2e-3·A.
 * The i32 sums are exact (≤ 128·127·32767 < 2^31); their conversion and the step product add
 * f32 roundings once per tile, fewer than the per-row roundings toleranceFor already counts.
 * With 7-bit probabilities this test fails (ratio 8 at n_kv = 31).
 */
function pvRoundingBound(cacheType: KvCacheType, rowAmaxMax: number, vAbsMax: number): number {
  if (cacheType !== "q8_KV") return 0;
  return (TILE_ROWS * 0.51 / P_LEVELS) * rowAmaxMax / vAbsMax;
}

/** A cache filled from f32 rows, plus float64 views of exactly what the kernel computes with. */
function makeCache(cacheType: KvCacheType, rowsF32: Float32Array, nKv: number) {
  const cache = new Uint8Array(nKv * kvCacheRowBytes(cacheType));
  writeKvRows(cacheType, cache, 0, rowsF32);
  const k = new Float64Array(nKv * K_DIM);
  let vAbsMax = 0;
  let rowAmaxMax = 0;
  for (let r = 0; r < nKv; r++) {
    const row = quantizeRowRef(cacheType, rowsF32.subarray(r * K_DIM, (r + 1) * K_DIM));
    k.set(row.values, r * K_DIM);
    for (let c = 0; c < V_DIM; c++) vAbsMax = Math.max(vAbsMax, Math.abs(row.values[c]));
    rowAmaxMax = Math.max(rowAmaxMax, 127 * (row.d ?? 0));
  }
  return { cache, k, vAbsMax, pvBound: pvRoundingBound(cacheType, rowAmaxMax, vAbsMax) };
}

/** The query the kernel actually multiplies: f32 as is, or 7-bit q·d per row for q8_KV. */
function effectiveQuery(cacheType: KvCacheType, q: Float32Array): Float64Array {
  const out = new Float64Array(q);
  if (cacheType !== "q8_KV") return out;
  for (let row = 0; row < q.length / K_DIM; row++) {
    const { d, q: qi } = quantizeInt8(q.subarray(row * K_DIM, (row + 1) * K_DIM), QUERY_LEVELS);
    for (let i = 0; i < K_DIM; i++) out[row * K_DIM + i] = d * qi[i];
  }
  return out;
}

function check(
  what: string,
  cacheType: KvCacheType,
  got: Float32Array,
  ref: RefOutput,
  vAbsMax: number,
  pvBound: number,
) {
  const worst = worstRatio(
    got,
    ref,
    vAbsMax,
    (i) => toleranceFor(ref, i, KQ_SCALE, cacheType === "q8_KV") + pvBound,
  );
  assert.ok(
    worst.ratio <= 1,
    `${what}: error ${worst.maxAbsError} exceeds its bound (ratio ${worst.ratio}) at row ${worst.index}`,
  );
}

/** Runs every strategy × 1..4 threads against one reference. */
function runMatrix(
  cacheType: KvCacheType,
  nKv: number,
  nHead: number,
  nTokens: number,
  qScale: number,
  seed: number,
  positions?: Int32Array,
) {
  const rows = uniform(nKv * K_DIM, 1, seed);
  const { cache, k, vAbsMax, pvBound } = makeCache(cacheType, rows, nKv);
  const q = uniform(nTokens * nHead * K_DIM, qScale, seed + 1);
  const ref = attentionRef({
    k,
    nKv,
    q: effectiveQuery(cacheType, q),
    nTokens,
    nHead,
    positions,
    kqScale: KQ_SCALE,
  });
  for (const pool of pools) {
    for (const strategy of STRATEGIES) {
      const result = flashMla(pool, {
        cacheType,
        cache,
        nKv,
        q,
        nHead,
        nTokens,
        positions,
        kqScale: KQ_SCALE,
        strategy,
      });
      if (strategy !== "auto") assert.equal(result.strategy, strategy);
      check(
        `${cacheType} ${strategy}→${result.strategy} threads=${pool.threads} n_kv=${nKv}`,
        cacheType,
        result.out,
        ref,
        vAbsMax,
        pvBound,
      );
    }
  }
}

for (const cacheType of TYPES) {
  Deno.test(`flashMla ${cacheType} single token matches float64 reference at n_kv 1, 31, 33, 257`, () => {
    for (const nKv of [1, 31, 33, 257]) runMatrix(cacheType, nKv, 16, 1, 3, 100 + nKv);
  });

  Deno.test(`flashMla ${cacheType} single token matches float64 reference at n_kv=4097`, () => {
    runMatrix(cacheType, 4097, 16, 1, 6, 7);
  });

  Deno.test(`flashMla ${cacheType} single token matches float64 reference at n_kv=16385 and 20000`, () => {
    runMatrix(cacheType, 16385, 16, 1, 8, 8);
    runMatrix(cacheType, 20000, 16, 1, 8, 9);
  });

  Deno.test(`flashMla ${cacheType} odd head counts (1, 3, 5) use the remainder blocks correctly`, () => {
    for (const nHead of [1, 3, 5]) runMatrix(cacheType, 97, nHead, 1, 3, 40 + nHead);
  });

  Deno.test(`flashMla ${cacheType} multi-token causal mask: few tokens, explicit positions`, () => {
    // Unordered positions, repeated positions, position 0 (one visible row) and the last row.
    runMatrix(cacheType, 300, 16, 5, 3, 21, new Int32Array([5, 0, 299, 17, 17]));
    // 9 tokens: token blocks of 4 with mixed causal limits inside a block, and a ragged last block.
    runMatrix(cacheType, 200, 4, 9, 3, 23, new Int32Array([199, 3, 64, 31, 32, 0, 150, 151, 7]));
  });

  Deno.test(`flashMla ${cacheType} multi-token causal prefill: 40 tokens on top of a 600-row cache`, () => {
    runMatrix(cacheType, 640, 8, 40, 4, 22);
  });
}

/**
 * Cache rows whose values are exact in every cache type (integers with a ±127 in every 32-block,
 * so q8 scales are exactly 1) and queries with a single non-zero element at 512, so every score
 * is kqScale times an exact integer: a = row[512] ∈ [-126, 126], except two rows (one early, one
 * late, so in different kvsplit chunks) at +127 that share the maximum. Scores reach ±0.11·1600·127
 * ≈ ±23,000: exp() of them overflows or underflows f32 unless the running max is subtracted
 * before every exp and in the merge.
 */
function extremeCase(nKv: number, nHead: number, sign: 1 | -1, seed: number) {
  const next = uniform(nKv * K_DIM, 1, seed);
  const rows = new Float32Array(nKv * K_DIM);
  for (let r = 0; r < nKv; r++) {
    for (let b = 0; b < K_DIM / 32; b++) {
      for (let i = 0; i < 32; i++) {
        rows[r * K_DIM + b * 32 + i] = Math.round(next[r * K_DIM + b * 32 + i] * 126);
      }
      rows[r * K_DIM + b * 32 + 31] = 127; // fixes amax = 127 → d = 1 in every block and row
    }
    rows[r * K_DIM + 512] = Math.round(next[r * K_DIM + 512] * 126);
  }
  const winners = [3, nKv - 5];
  for (const r of winners) rows[r * K_DIM + 512] = 127 * sign;
  const q = new Float32Array(nHead * K_DIM);
  for (let h = 0; h < nHead; h++) q[h * K_DIM + 512] = sign * 100 * (h + 1);
  return { rows, q, winners };
}

for (const cacheType of TYPES) {
  Deno.test(`flashMla ${cacheType} stays exact with scores of ±23,000 split across threads`, () => {
    const nKv = 2000;
    const nHead = 16;
    for (const sign of [1, -1] as const) {
      const { rows, q, winners } = extremeCase(nKv, nHead, sign, 55);
      const { cache, k, vAbsMax, pvBound } = makeCache(cacheType, rows, nKv);
      const ref = attentionRef({
        k,
        nKv,
        q: effectiveQuery(cacheType, q),
        nTokens: 1,
        nHead,
        kqScale: KQ_SCALE,
      });
      // The two tied rows hold ≥ 1 − 2000·e^{-11} of the weight: the output is their average.
      for (let c = 0; c < V_DIM; c++) {
        const mean = (k[winners[0] * K_DIM + c] + k[winners[1] * K_DIM + c]) / 2;
        assert.ok(Math.abs(ref.out[c] - mean) < 0.05 * vAbsMax);
      }
      for (const pool of pools) {
        for (const strategy of STRATEGIES) {
          const { out } = flashMla(pool, {
            cacheType,
            cache,
            nKv,
            q,
            nHead,
            kqScale: KQ_SCALE,
            strategy,
          });
          assert.ok(
            out.every(Number.isFinite),
            `${strategy} threads=${pool.threads} gave non-finite output`,
          );
          // Scores are exact integers times kqScale: only the kqScale product (and for q8_KV the
          // query scale d_q = 100(h+1)/63) rounds, ≤ 5u·|s| — toleranceFor's int8 branch; q8_KV
          // adds its i16 probability rounding (pvRoundingBound).
          const worst = worstRatio(
            out,
            ref,
            vAbsMax,
            (i) => toleranceFor(ref, i, KQ_SCALE, true) + pvBound,
          );
          assert.ok(
            worst.ratio <= 1,
            `${cacheType} sign=${sign} ${strategy} threads=${pool.threads}: error ${worst.maxAbsError}`,
          );
        }
      }
    }
  });
}

Deno.test("flashMla scalar twins match the float64 reference like the SIMD paths", () => {
  const symbols = native();
  symbols.fm_set_simd(0);
  try {
    for (const cacheType of TYPES) {
      runMatrix(cacheType, 161, 5, 1, 3, 77);
      runMatrix(cacheType, 130, 4, 3, 3, 78, new Int32Array([0, 64, 129]));
    }
  } finally {
    symbols.fm_set_simd(1);
  }
});

Deno.test("flashMla heads and kvsplit agree to rounding on the same inputs", () => {
  const nKv = 1000;
  const { cache } = makeCache("f16", uniform(nKv * K_DIM, 1, 5), nKv);
  const q = uniform(16 * K_DIM, 4, 6);
  const pool = pools[1];
  const a = flashMla(pool, {
    cacheType: "f16",
    cache,
    nKv,
    q,
    nHead: 16,
    kqScale: KQ_SCALE,
    strategy: "heads",
  });
  const b = flashMla(pool, {
    cacheType: "f16",
    cache,
    nKv,
    q,
    nHead: 16,
    kqScale: KQ_SCALE,
    strategy: "kvsplit",
  });
  let maxDiff = 0;
  for (let i = 0; i < a.out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.out[i] - b.out[i]));
  assert.ok(maxDiff < 1e-5, `heads and kvsplit differ by ${maxDiff}`);
  assert.ok(maxDiff > 0 || a.out.some((x) => x !== 0));
});
