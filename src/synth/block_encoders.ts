/**
 * Float → ggml block encoders for synthetic weights: F16, BF16, Q8_0, Q4_0, IQ4_NL, Q4_K and
 * Q6_K, with the byte layouts of ../shared/docs/MLA_SPEC.md §3. They favour simplicity over
 * llama.cpp's error-minimising searches: the blocks are valid and close to the input, which is
 * all random weights need. (Dequantizers, the judges of kernels, live in src/quants/.)
 * @module
 */
import { ggmlTypeByName, type GgmlTypeInfo } from "../ggml_types.ts";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * IEEE binary16 bits of `x`, rounded to nearest even (overflow → ±Inf, NaN kept NaN).
 *
 * @param x A number.
 * @returns The 16-bit pattern.
 *
 * @example
 * ```ts
 * import { f32ToF16Bits } from "./block_encoders.ts";
 * console.log(f32ToF16Bits(1).toString(16)); // "3c00"
 * ```
 */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-one mantissa into place and round.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let h = mantissa >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // Rounding may carry into the exponent, which is the correct result (up to Inf).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

/**
 * The value of IEEE binary16 bits.
 *
 * @param h A 16-bit pattern.
 * @returns Its value.
 *
 * @example
 * ```ts
 * import { f16BitsToF32 } from "./block_encoders.ts";
 * console.log(f16BitsToF32(0x3c00)); // 1
 * ```
 */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * bfloat16 bits of `x` (round to nearest even; NaN forced quiet), as ggml converts.
 *
 * @param x A number.
 * @returns The 16-bit pattern.
 *
 * @example
 * ```ts
 * import { f32ToBf16Bits } from "./block_encoders.ts";
 * console.log(f32ToBf16Bits(1).toString(16)); // "3f80"
 * ```
 */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** IQ4_NL's non-linear 4-bit levels (MLA_SPEC §3.4). */
export const IQ4_NL_LEVELS: readonly number[] = [
  -127,
  -104,
  -83,
  -65,
  -49,
  -35,
  -22,
  -10,
  1,
  13,
  25,
  38,
  53,
  69,
  89,
  113,
];

/** Encodes one block of `type` from `x[at..]` into `out[o..]`. */
type BlockEncoder = (x: Float32Array, at: number, out: Uint8Array, o: number) => void;

function setF16(out: Uint8Array, o: number, value: number): number {
  const h = f32ToF16Bits(value);
  out[o] = h & 0xff;
  out[o + 1] = h >>> 8;
  return f16BitsToF32(h);
}

/** Signed value of the element with the largest magnitude in `x[at..at+n)`. */
function signedMax(x: Float32Array, at: number, n: number): number {
  let max = 0;
  for (let i = at; i < at + n; i++) if (Math.abs(x[i]) > Math.abs(max)) max = x[i];
  return max;
}

const encodeQ8_0: BlockEncoder = (x, at, out, o) => {
  let amax = 0;
  for (let i = at; i < at + 32; i++) amax = Math.max(amax, Math.abs(x[i]));
  const d = amax / 127;
  setF16(out, o, d);
  const id = d === 0 ? 0 : 1 / d;
  for (let i = 0; i < 32; i++) out[o + 2 + i] = Math.round(x[at + i] * id) & 0xff;
};

const encodeQ4_0: BlockEncoder = (x, at, out, o) => {
  const d = signedMax(x, at, 32) / -8;
  setF16(out, o, d);
  const id = d === 0 ? 0 : 1 / d;
  const q = (v: number) => Math.max(0, Math.min(15, Math.trunc(v * id + 8.5)));
  for (let j = 0; j < 16; j++) out[o + 2 + j] = q(x[at + j]) | (q(x[at + 16 + j]) << 4);
};

const encodeQ5_0: BlockEncoder = (x, at, out, o) => {
  const d = signedMax(x, at, 32) / -16;
  setF16(out, o, d);
  const id = d === 0 ? 0 : 1 / d;
  const q = (v: number) => Math.max(0, Math.min(31, Math.trunc(v * id + 16.5)));
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const lo = q(x[at + j]);
    const hi = q(x[at + 16 + j]);
    out[o + 6 + j] = (lo & 15) | ((hi & 15) << 4);
    qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
  }
  new DataView(out.buffer, out.byteOffset).setUint32(o + 2, qh >>> 0, true);
};

/** Q4_1 / Q5_1 (ggml's reference): d = (max − min)/levels, m = min, q = trunc((x−min)/d + ½). */
function encodeWithMin(bits: 4 | 5): BlockEncoder {
  const levels = (1 << bits) - 1;
  const qs = bits === 4 ? 4 : 8;
  return (x, at, out, o) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = at; i < at + 32; i++) {
      lo = Math.min(lo, x[i]);
      hi = Math.max(hi, x[i]);
    }
    const d = (hi - lo) / levels;
    setF16(out, o, d);
    setF16(out, o + 2, lo);
    const id = d === 0 ? 0 : 1 / d;
    const q = (v: number) => Math.min(levels, Math.trunc((v - lo) * id + 0.5));
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const a = q(x[at + j]);
      const b = q(x[at + 16 + j]);
      out[o + qs + j] = (a & 15) | ((b & 15) << 4);
      qh |= ((a >> 4) << j) | ((b >> 4) << (j + 16));
    }
    if (bits === 5) new DataView(out.buffer, out.byteOffset).setUint32(o + 4, qh >>> 0, true);
  };
}

/**
 * Nearest IQ4_NL level index for each scaled value rounded to an integer in −128..128 (the
 * encoder scales a block so its largest magnitude is 127). Rounding first moves a value by at
 * most 0.5 while the levels are ≥ 10 apart, so this differs from the exact nearest level only
 * within 0.5 of a midpoint.
 */
const IQ4_NEAREST: Uint8Array = (() => {
  const lut = new Uint8Array(257);
  for (let v = -128; v <= 128; v++) {
    let best = 0;
    for (let k = 1; k < 16; k++) {
      if (Math.abs(IQ4_NL_LEVELS[k] - v) < Math.abs(IQ4_NL_LEVELS[best] - v)) best = k;
    }
    lut[v + 128] = best;
  }
  return lut;
})();

function nearestIq4(v: number): number {
  return IQ4_NEAREST[Math.max(-128, Math.min(128, Math.round(v))) + 128];
}

const encodeIq4Nl: BlockEncoder = (x, at, out, o) => {
  const d = signedMax(x, at, 32) / -127;
  setF16(out, o, d);
  const id = d === 0 ? 0 : 1 / d;
  for (let j = 0; j < 16; j++) {
    out[o + 2 + j] = nearestIq4(x[at + j] * id) | (nearestIq4(x[at + 16 + j] * id) << 4);
  }
};

const encodeIq4Xs: BlockEncoder = (x, at, out, o) => {
  // Each sub-block's ideal scale maps its signed extreme to the codebook's −127 end; d makes
  // the largest ±32 (6-bit sub-scales −32..31); codes are nearest under the stored scales.
  const ideal = new Float64Array(8);
  for (let j = 0; j < 8; j++) ideal[j] = signedMax(x, at + 32 * j, 32) / -127;
  let extreme = 0;
  for (const s of ideal) if (Math.abs(s) > Math.abs(extreme)) extreme = s;
  const d = setF16(out, o, extreme / -32);
  let scalesH = 0;
  out.fill(0, o + 4, o + 136);
  for (let j = 0; j < 8; j++) {
    const s = d === 0 ? 0 : Math.max(-32, Math.min(31, Math.round(ideal[j] / d)));
    const ls = s + 32;
    out[o + 4 + (j >> 1)] |= (ls & 15) << (4 * (j & 1));
    scalesH |= (ls >> 4) << (2 * j);
    const id = s === 0 ? 0 : 1 / (d * s);
    for (let i = 0; i < 16; i++) {
      out[o + 8 + 16 * j + i] = nearestIq4(x[at + 32 * j + i] * id) |
        (nearestIq4(x[at + 32 * j + 16 + i] * id) << 4);
    }
  }
  out[o + 2] = scalesH & 0xff;
  out[o + 3] = scalesH >>> 8;
};

/** Packs 8 six-bit scales and 8 six-bit mins into Q4_K's 12 bytes (inverse of §3.5). */
function packScalesMins(sc: Uint8Array, m: Uint8Array, out: Uint8Array, o: number): void {
  for (let j = 0; j < 4; j++) {
    out[o + j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
    out[o + j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
    out[o + j + 8] = (sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4);
  }
}

const encodeQ4_K: BlockEncoder = (x, at, out, o) => {
  // Per 32-element sub-block: x ≈ scale·q − min with q in 0..15.
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  for (let s = 0; s < 8; s++) {
    let lo = 0;
    let hi = -Infinity;
    for (let i = at + 32 * s; i < at + 32 * s + 32; i++) {
      lo = Math.min(lo, x[i]);
      hi = Math.max(hi, x[i]);
    }
    scales[s] = (hi - lo) / 15;
    mins[s] = -lo;
  }
  const d = setF16(out, o, Math.max(...scales) / 63);
  const dmin = setF16(out, o + 2, Math.max(...mins) / 63);
  const sc = new Uint8Array(8);
  const m = new Uint8Array(8);
  for (let s = 0; s < 8; s++) {
    sc[s] = d === 0 ? 0 : Math.min(63, Math.round(scales[s] / d));
    m[s] = dmin === 0 ? 0 : Math.min(63, Math.round(mins[s] / dmin));
  }
  packScalesMins(sc, m, out, o + 4);
  for (let c = 0; c < 4; c++) {
    for (let half = 0; half < 2; half++) {
      const s = 2 * c + half;
      const step = d * sc[s];
      const offset = dmin * m[s];
      for (let l = 0; l < 32; l++) {
        const v = x[at + 64 * c + 32 * half + l];
        const q = step === 0 ? 0 : Math.max(0, Math.min(15, Math.round((v + offset) / step)));
        out[o + 16 + 32 * c + l] |= half === 0 ? q : q << 4;
      }
    }
  }
};

const encodeQ6_K: BlockEncoder = (x, at, out, o) => {
  // 16 sub-blocks of 16 elements, each x ≈ d·scale·q with q in −32..31.
  const scales = new Float32Array(16);
  for (let s = 0; s < 16; s++) scales[s] = signedMax(x, at + 16 * s, 16) / -32;
  const maxScale = signedMax(scales, 0, 16);
  const d = setF16(out, o + 208, maxScale / -128);
  const sc = new Int8Array(16);
  for (let s = 0; s < 16; s++) {
    sc[s] = d === 0 ? 0 : Math.max(-128, Math.min(127, Math.round(scales[s] / d)));
    out[o + 192 + s] = sc[s] & 0xff;
  }
  for (let e = 0; e < 256; e++) {
    const step = d * sc[e >> 4];
    const q = step === 0 ? 0 : Math.max(-32, Math.min(31, Math.round(x[at + e] / step)));
    const u = q + 32;
    // Element e = 128n + 32k + l: low 4 bits in ql, high 2 bits in qh (MLA_SPEC §3.7).
    const n = e >> 7;
    const k = (e >> 5) & 3;
    const l = e & 31;
    const qlIndex = o + 64 * n + l + (k & 1) * 32;
    out[qlIndex] |= k < 2 ? u & 0x0f : (u & 0x0f) << 4;
    out[o + 128 + 32 * n + l] |= (u >> 4) << (2 * k);
  }
};

const encodeF16: BlockEncoder = (x, at, out, o) => {
  setF16(out, o, x[at]);
};

const encodeBf16: BlockEncoder = (x, at, out, o) => {
  const h = f32ToBf16Bits(x[at]);
  out[o] = h & 0xff;
  out[o + 1] = h >>> 8;
};

const encodeF32: BlockEncoder = (x, at, out, o) => {
  new DataView(out.buffer, out.byteOffset).setFloat32(o, x[at], true);
};

const ENCODERS: Readonly<Record<string, BlockEncoder>> = {
  F32: encodeF32,
  F16: encodeF16,
  BF16: encodeBf16,
  Q8_0: encodeQ8_0,
  Q4_0: encodeQ4_0,
  Q5_0: encodeQ5_0,
  Q4_1: encodeWithMin(4),
  Q5_1: encodeWithMin(5),
  IQ4_NL: encodeIq4Nl,
  IQ4_XS: encodeIq4Xs,
  Q4_K: encodeQ4_K,
  Q6_K: encodeQ6_K,
};

/** Type names `encodeBlocks` can write. */
export const ENCODABLE_TYPES: readonly string[] = Object.keys(ENCODERS);

/**
 * Encodes `x` (a whole number of blocks) as `type` blocks.
 *
 * @param type Target type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS, Q4_K, Q6_K).
 * @param x Values; `x.length` must be a multiple of the type's block.
 * @returns The encoded bytes.
 * @throws {RangeError} For a type without an encoder or a partial block.
 *
 * @example
 * ```ts
 * import { encodeBlocks } from "./block_encoders.ts";
 * const bytes = encodeBlocks("Q8_0", new Float32Array(32).fill(0.5));
 * console.log(bytes.length); // 34
 * ```
 */
export function encodeBlocks(type: GgmlTypeInfo | string, x: Float32Array): Uint8Array {
  const info = typeof type === "string" ? ggmlTypeByName(type) : type;
  const encoder = info === undefined ? undefined : ENCODERS[info.name];
  if (info === undefined || encoder === undefined) {
    throw new RangeError(
      `No block encoder for type ${typeof type === "string" ? type : type.name}`,
    );
  }
  if (x.length % info.blockElements !== 0) {
    throw new RangeError(
      `${x.length} values are not a whole number of ${info.name} blocks of ${info.blockElements}`,
    );
  }
  const blocks = x.length / info.blockElements;
  const out = new Uint8Array(blocks * info.blockBytes);
  for (let b = 0; b < blocks; b++) encoder(x, b * info.blockElements, out, b * info.blockBytes);
  return out;
}
