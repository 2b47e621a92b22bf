/**
 * Float64 reference for FlashMLA tests: cache-row quantizers that reproduce the Zig bytes,
 * absorbed MLA attention in float64, and the error bounds the tests assert (derived below).
 * Shares no code with the kernel: only the format descriptions of MLA_SPEC §3.1 and §3.9.
 * @module
 */

/** Width of a cache/query row and of V. */
export const K_DIM = 576;
export const V_DIM = 512;
/** Unit roundoff of f32. */
export const U32 = 2 ** -24;

/** Seeded uniform generator in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` uniform values in [-scale, scale). */
export function uniform(n: number, scale: number, seed: number): Float32Array {
  const next = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() * 2 - 1) * scale;
  return out;
}

const f32 = Math.fround;

/** round-half-away-from-zero, Zig's @round. */
function roundAway(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x));
}

/**
 * Zig's quantizeInto: d = amax/levels (f32), id = 1/d (f32), q = round(x·id) (f32 product).
 * Cache rows use 127 levels; FlashMLA's q8_KV queries use 63 (7 bits, see flash_mla.zig).
 */
export function quantizeInt8(
  values: ArrayLike<number>,
  levels = 127,
): { d: number; q: Int8Array } {
  let amax = 0;
  for (let i = 0; i < values.length; i++) amax = Math.max(amax, Math.abs(values[i]));
  const d = f32(amax / levels);
  const id = d !== 0 ? f32(1 / d) : 0;
  const q = new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    q[i] = Math.max(-levels, Math.min(levels, roundAway(f32(values[i] * id))));
  }
  return { d, q };
}

/** Levels of a q8_KV query element (flash_mla.zig `query_levels`). */
export const QUERY_LEVELS = 63;

/** f32 → nearest f16 → value, as IEEE round-to-nearest-even (like @floatCast). */
export function toF16Value(x: number): number {
  const view = new DataView(new ArrayBuffer(2));
  // Deno ships Float16 DataView methods; they round to nearest even.
  view.setFloat16(0, x);
  return view.getFloat16(0);
}

/** One quantized cache row as the kernel will see it. */
export interface RefRow {
  /** The 576 values the row dequantizes to (float64, exact). */
  values: Float64Array;
  /** q8_KV only: row scale and int8 values. */
  d?: number;
  q?: Int8Array;
  /** Per element: the bound |x − x̂| on the quantization error of this element. */
  errorBound: Float64Array;
}

/** Quantizes a 576-wide f32 row the way kv_cache_rows.zig does and records the error bounds. */
export function quantizeRowRef(cacheType: "f16" | "q8_0" | "q8_KV", row: Float32Array): RefRow {
  const values = new Float64Array(K_DIM);
  const errorBound = new Float64Array(K_DIM);
  if (cacheType === "f16") {
    const halves = new Float16Array(row); // IEEE round-to-nearest-even, like @floatCast
    for (let i = 0; i < K_DIM; i++) {
      values[i] = halves[i];
      errorBound[i] = Math.abs(row[i]) * 2 ** -11 + 2 ** -25; // half an f16 ulp (+ subnormals)
    }
    return { values, errorBound };
  }
  if (cacheType === "q8_0") {
    for (let b = 0; b < K_DIM / 32; b++) {
      const { d, q } = quantizeInt8(row.subarray(b * 32, b * 32 + 32));
      const d16 = toF16Value(d);
      for (let i = 0; i < 32; i++) {
        values[b * 32 + i] = f32(d16 * q[i]);
        // |x − d·q| ≤ d/2, the f16 scale adds |q|·|d − d16| ≤ 127·|d − d16|, and the f32
        // product one more rounding.
        errorBound[b * 32 + i] = d / 2 + 127 * Math.abs(d - d16) + Math.abs(values[b * 32 + i]) *
            U32;
      }
    }
    return { values, errorBound };
  }
  const { d, q } = quantizeInt8(row);
  for (let i = 0; i < K_DIM; i++) {
    values[i] = d * q[i];
    errorBound[i] = d / 2 * (1 + 4 * U32);
  }
  return { values, d, q, errorBound };
}

/** The causal visible row count of token t. */
export function visibleRows(
  positions: Int32Array | undefined,
  nKv: number,
  nTokens: number,
  t: number,
) {
  return (positions ? positions[t] : nKv - nTokens + t) + 1;
}

/** Attention inputs in float64. */
export interface RefInputs {
  /** nKv × 576 key rows (V = first 512 of each). */
  k: Float64Array;
  nKv: number;
  /** nTokens × nHead × 576 query rows. */
  q: Float64Array;
  nTokens: number;
  nHead: number;
  positions?: Int32Array;
  kqScale: number;
}

/** Per (token, head): output 512, the scores' Σ|q·k| bound term, and the rows attended. */
export interface RefOutput {
  out: Float64Array;
  /** max over attended rows of Σ_i |q_i·k_i| (before kqScale), per (t, h). */
  absDotMax: Float64Array;
  /** max over attended rows of |score|, per (t, h). */
  scoreAbsMax: Float64Array;
  /** rows attended per (t, h). */
  rows: Int32Array;
}

/** softmax(kqScale·K·q over rows 0..pos_t)·V in float64 with the max subtracted. */
export function attentionRef(inp: RefInputs): RefOutput {
  const { k, nKv, q, nTokens, nHead, positions, kqScale } = inp;
  const out = new Float64Array(nTokens * nHead * V_DIM);
  const absDotMax = new Float64Array(nTokens * nHead);
  const scoreAbsMax = new Float64Array(nTokens * nHead);
  const rows = new Int32Array(nTokens * nHead);
  for (let t = 0; t < nTokens; t++) {
    const n = visibleRows(positions, nKv, nTokens, t);
    const scores = new Float64Array(n);
    for (let h = 0; h < nHead; h++) {
      const qo = (t * nHead + h) * K_DIM;
      let max = -Infinity;
      let absMax = 0;
      let sAbsMax = 0;
      for (let r = 0; r < n; r++) {
        const ko = r * K_DIM;
        let dot = 0;
        let abs = 0;
        for (let i = 0; i < K_DIM; i++) {
          const p = q[qo + i] * k[ko + i];
          dot += p;
          abs += Math.abs(p);
        }
        scores[r] = kqScale * dot;
        max = Math.max(max, scores[r]);
        absMax = Math.max(absMax, abs);
        sAbsMax = Math.max(sAbsMax, Math.abs(scores[r]));
      }
      const o = out.subarray((t * nHead + h) * V_DIM, (t * nHead + h + 1) * V_DIM);
      let sum = 0;
      for (let r = 0; r < n; r++) {
        const p = Math.exp(scores[r] - max);
        sum += p;
        const ko = r * K_DIM;
        for (let c = 0; c < V_DIM; c++) o[c] += p * k[ko + c];
      }
      for (let c = 0; c < V_DIM; c++) o[c] /= sum;
      absDotMax[t * nHead + h] = absMax;
      scoreAbsMax[t * nHead + h] = sAbsMax;
      rows[t * nHead + h] = n;
    }
  }
  return { out, absDotMax, scoreAbsMax, rows };
}

/**
 * Bound on |kernel − reference| for one (token, head), relative to max|V| of the rows:
 * - Scores: an f32 dot of 576 products (8 lanes × 72 sequential FMAs, then a 3-level reduce)
 *   errs by ≤ 80u·Σ|q_i k_i|; the int8 path (q8_KV) is exact in integers and only its three f32
 *   scale products round (≤ 4u·|s|). Either way, plus the kqScale product (u·|s|): Δs.
 * - Weights w_r = exp(s_r − M): the argument errs by ≤ 2Δs (s and M), the vector exp by
 *   ≤ 2.5e-7 relative (tested in flash_mla.zig), so each w_r errs by a factor within e^{±η},
 *   η = 2Δs + 2.5e-7.
 * - Output o = Σw_r v_r / Σw_r: relative weight errors ≤ η move o by ≤ (e^{2η} − 1)·max|v|.
 * - Accumulation: acc and S are f32 sums over the rows one thread walks (≤ rows + 64 roundings
 *   counting tile rescales and the merge), each ≤ u relative to Σw|v| ≤ S·max|v|: ≤ 2(rows+64)u.
 */
export function toleranceFor(
  ref: RefOutput,
  index: number,
  kqScale: number,
  int8Scores: boolean,
): number {
  const scoreAbs = ref.scoreAbsMax[index];
  const deltaS = int8Scores
    ? 5 * U32 * scoreAbs
    : kqScale * 80 * U32 * ref.absDotMax[index] + U32 * scoreAbs;
  const eta = 2 * deltaS + 2.5e-7;
  return Math.expm1(2 * eta) + 2 * (ref.rows[index] + 64) * U32;
}

/** Largest |kernel − reference| / tolerance over all (token, head) rows; ≤ 1 passes. */
export function worstRatio(
  got: Float32Array,
  ref: RefOutput,
  vAbsMax: number,
  tolerance: (index: number) => number,
): { ratio: number; index: number; maxAbsError: number } {
  let worst = { ratio: 0, index: -1, maxAbsError: 0 };
  for (let i = 0; i < ref.rows.length; i++) {
    const tol = tolerance(i) * vAbsMax;
    for (let c = 0; c < V_DIM; c++) {
      const err = Math.abs(got[i * V_DIM + c] - ref.out[i * V_DIM + c]);
      if (!(err <= tol) || err / tol > worst.ratio) {
        worst = { ratio: err / tol, index: i, maxAbsError: Math.max(worst.maxAbsError, err) };
      }
      worst.maxAbsError = Math.max(worst.maxAbsError, err);
    }
  }
  return worst;
}
