/**
 * Float64 references for the small-op tests, written from MLA_SPEC §1.4-1.9 without looking at
 * the Zig code, plus a seeded generator and the f32 unit roundoff tolerances are built from.
 * @module
 */

/** Unit roundoff of f32 (half an ulp of 1): every correctly rounded f32 operation errs ≤ u·|x|. */
export const U32 = 2 ** -24;

/** A seeded xorshift32 source of uniform [0, 1) and standard normal values. */
export function seeded(seed: number): { uniform(): number; normal(): number } {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal };
}

/** `n` normal f32 values times `scale`. */
export function normalArray(random: ReturnType<typeof seeded>, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => random.normal() * scale);
}

/** RMSNorm of one row: x / sqrt(mean(x²) + eps) · w. */
export function rmsNormRef(x: ArrayLike<number>, w: ArrayLike<number> | undefined, eps: number) {
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
  const scale = 1 / Math.sqrt(sum / x.length + eps);
  return Float64Array.from({ length: x.length }, (_, i) => x[i] * scale * (w ? w[i] : 1));
}

/** YaRN parameters as in ggml_rope_ext. */
export interface RopeRefParams {
  nDims: number;
  freqBase: number;
  freqScale: number;
  extFactor: number;
  attnFactor: number;
  betaFast: number;
  betaSlow: number;
  nCtxOrig: number;
}

/** The blend range [lo, hi] of YaRN in pair indices (MLA_SPEC §1.6 "Correction dims"). */
export function corrDimsRef(p: RopeRefParams): [number, number] {
  const dim = (rot: number) =>
    (p.nDims * Math.log(p.nCtxOrig / (rot * 2 * Math.PI))) / (2 * Math.log(p.freqBase));
  return [
    Math.max(0, Math.floor(dim(p.betaFast))),
    Math.min(p.nDims - 1, Math.ceil(dim(p.betaSlow))),
  ];
}

/** Per pair i: the angle θ_i and magnitude of a rotation at `pos` (MLA_SPEC §1.6). */
export function ropeAnglesRef(p: RopeRefParams, pos: number): { theta: number[]; mag: number } {
  const [lo, hi] = corrDimsRef(p);
  const theta: number[] = [];
  for (let i = 0; i < p.nDims / 2; i++) {
    const extrap = pos * p.freqBase ** ((-2 * i) / p.nDims);
    const interp = p.freqScale * extrap;
    const y = (i - lo) / Math.max(0.001, hi - lo);
    const mix = (1 - Math.min(1, Math.max(0, y))) * p.extFactor;
    theta.push(p.extFactor !== 0 ? interp * (1 - mix) + extrap * mix : interp);
  }
  const mag = p.attnFactor * (p.extFactor !== 0 ? 1 + 0.1 * Math.log(1 / p.freqScale) : 1);
  return { theta, mag };
}

/** Rotates adjacent pairs of `x` (nDims values) by the angles of `pos`. */
export function ropeRef(x: ArrayLike<number>, p: RopeRefParams, pos: number): Float64Array {
  const { theta, mag } = ropeAnglesRef(p, pos);
  const out = new Float64Array(p.nDims);
  for (let i = 0; i < p.nDims / 2; i++) {
    const c = Math.cos(theta[i]) * mag;
    const s = Math.sin(theta[i]) * mag;
    out[2 * i] = x[2 * i] * c - x[2 * i + 1] * s;
    out[2 * i + 1] = x[2 * i] * s + x[2 * i + 1] * c;
  }
  return out;
}

/** Softmax of one row. */
export function softmaxRef(x: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  const e = Float64Array.from({ length: x.length }, (_, i) => Math.exp(x[i] - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Logistic sigmoid. */
export function sigmoidRef(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Indices of the k largest, descending, lower index first among equals (a stable sort). */
export function topKRef(x: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: x.length }, (_, i) => i);
  order.sort((a, b) => (x[b] - x[a]) || (a - b));
  return order.slice(0, k);
}
