/**
 * Float64 reference (de)quantization of every weight type the kernels support, written from the
 * block layouts in MLA_SPEC §3 and independent of the Zig code, so tests can use it as the judge.
 * Also the reference quantizers of the activation formats the int8 dot products consume:
 * Q8A (32 elements: f32 d, f32 s = d·Σq, 32 × i8; 40 bytes, grouped by 4), Q8P (Q8A's bytes,
 * pair-bounded scale) and Q8_K (256 elements: f32 d, 256 × i8, 16 × i16 sums of 16 quants;
 * 292 bytes).
 * @module
 */
import { GgmlType, type GgmlTypeId, ggmlTypeInfo } from "../ggml_types.ts";

/**
 * Decodes IEEE binary16 bits to a number.
 *
 * @param bits The 16-bit pattern.
 * @returns The value it encodes.
 * @example
 * ```ts
 * f16ToNumber(0x3c00); // 1
 * ```
 */
export function f16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * Encodes a number as IEEE binary16 bits, rounding to nearest-even (overflow → ±Infinity).
 *
 * @param value The value.
 * @returns The 16-bit pattern.
 * @example
 * ```ts
 * numberToF16(1); // 0x3c00
 * ```
 */
export function numberToF16(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) {
    // Subnormal: units of 2^-24, round half to even.
    return sign | roundHalfEven(a / 2 ** -24);
  }
  let exponent = Math.floor(Math.log2(a));
  if (2 ** exponent > a) exponent -= 1;
  if (2 ** (exponent + 1) <= a) exponent += 1;
  let mantissa = roundHalfEven((a / 2 ** exponent - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    exponent += 1;
  }
  if (exponent > 15) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | mantissa;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Decodes bf16 bits (the upper half of an f32) to a number.
 *
 * @param bits The 16-bit pattern.
 * @returns The value it encodes.
 * @example
 * ```ts
 * bf16ToNumber(0x3f80); // 1
 * ```
 */
export function bf16ToNumber(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (bits & 0xffff) << 16 >>> 0, true);
  return view.getFloat32(0, true);
}

const IQ4_NL_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/** Q4_K/Q5_K packed 6-bit scale and min of sub-block j (MLA_SPEC §3.5). */
function scaleMinK4(s: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [s[o + j] & 63, s[o + j + 4] & 63];
  return [
    (s[o + j + 4] & 0x0f) | ((s[o + j - 4] >> 6) << 4),
    (s[o + j + 4] >> 4) | ((s[o + j] >> 6) << 4),
  ];
}

/**
 * Dequantizes one row of `k` elements of a weight type to float64, straight from MLA_SPEC §3.
 *
 * @param type The ggml type id (F32, F16, BF16, Q8_0, Q4_0, IQ4_NL, Q4_K, Q5_K, Q6_K).
 * @param bytes The row's bytes (at least the row size).
 * @param k Elements in the row (a whole number of blocks).
 * @returns The k values.
 * @example
 * ```ts
 * const q8 = new Uint8Array(34); q8[0] = 0x00; q8[1] = 0x3c; q8[2] = 5; // d = 1, q[0] = 5
 * dequantizeReference(GgmlType.Q8_0, q8, 32)[0]; // 5
 * ```
 */
export function dequantizeReference(type: GgmlTypeId, bytes: Uint8Array, k: number): Float64Array {
  const info = ggmlTypeInfo(type);
  if (!info || type === GgmlType.Q8_K) {
    throw new RangeError(`No reference dequantizer for type ${type}`);
  }
  if (k % info.blockElements !== 0) {
    throw new RangeError(`A ${info.name} row of ${k} elements is not a whole number of blocks`);
  }
  const out = new Float64Array(k);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const f16 = (o: number) => f16ToNumber(view.getUint16(o, true));
  const i8 = (o: number) => view.getInt8(o);
  for (let b = 0; b < k / info.blockElements; b++) {
    const o = b * info.blockBytes;
    const e = b * info.blockElements;
    switch (type) {
      case GgmlType.F32:
        out[e] = view.getFloat32(o, true);
        break;
      case GgmlType.F16:
        out[e] = f16(o);
        break;
      case GgmlType.BF16:
        out[e] = bf16ToNumber(view.getUint16(o, true));
        break;
      case GgmlType.Q8_0:
        for (let i = 0; i < 32; i++) out[e + i] = f16(o) * i8(o + 2 + i);
        break;
      case GgmlType.Q4_0:
        for (let j = 0; j < 16; j++) {
          out[e + j] = f16(o) * ((bytes[o + 2 + j] & 15) - 8);
          out[e + j + 16] = f16(o) * ((bytes[o + 2 + j] >> 4) - 8);
        }
        break;
      case GgmlType.Q4_1: // d, m, then Q4_0's nibbles: x = d·q + m
        for (let j = 0; j < 16; j++) {
          out[e + j] = f16(o) * (bytes[o + 4 + j] & 15) + f16(o + 2);
          out[e + j + 16] = f16(o) * (bytes[o + 4 + j] >> 4) + f16(o + 2);
        }
        break;
      case GgmlType.Q5_0: // d, qh (bit j = 5th bit of element j), nibbles: x = d·(q − 16)
      case GgmlType.Q5_1: { // d, m, qh, nibbles: x = d·q + m
        const minBytes = type === GgmlType.Q5_1 ? 2 : 0;
        const qh = view.getUint32(o + 2 + minBytes, true);
        const qs = o + 6 + minBytes;
        const min = type === GgmlType.Q5_1 ? f16(o + 2) : -16 * f16(o);
        for (let j = 0; j < 16; j++) {
          const lo = (bytes[qs + j] & 15) | (((qh >>> j) & 1) << 4);
          const hi = (bytes[qs + j] >> 4) | (((qh >>> (j + 16)) & 1) << 4);
          out[e + j] = f16(o) * lo + min;
          out[e + j + 16] = f16(o) * hi + min;
        }
        break;
      }
      case GgmlType.IQ4_NL:
        for (let j = 0; j < 16; j++) {
          out[e + j] = f16(o) * IQ4_NL_VALUES[bytes[o + 2 + j] & 15];
          out[e + j + 16] = f16(o) * IQ4_NL_VALUES[bytes[o + 2 + j] >> 4];
        }
        break;
      case GgmlType.IQ4_XS: { // d, scales_h, scales_l[4], 8 × 16 bytes of IQ4_NL codes
        const scalesH = view.getUint16(o + 2, true);
        for (let j = 0; j < 8; j++) {
          const ls = ((bytes[o + 4 + (j >> 1)] >> (4 * (j & 1))) & 15) |
            (((scalesH >> (2 * j)) & 3) << 4);
          const dl = f16(o) * (ls - 32);
          for (let i = 0; i < 16; i++) {
            const byte = bytes[o + 8 + 16 * j + i];
            out[e + 32 * j + i] = dl * IQ4_NL_VALUES[byte & 15];
            out[e + 32 * j + i + 16] = dl * IQ4_NL_VALUES[byte >> 4];
          }
        }
        break;
      }
      case GgmlType.Q4_K:
      case GgmlType.Q5_K: {
        const d = f16(o);
        const dmin = f16(o + 2);
        const qs = o + (type === GgmlType.Q4_K ? 16 : 48);
        for (let c = 0; c < 4; c++) {
          for (let half = 0; half < 2; half++) {
            const j = 2 * c + half;
            const [sc, m] = scaleMinK4(bytes, o + 4, j);
            for (let l = 0; l < 32; l++) {
              const byte = bytes[qs + 32 * c + l];
              let q = half === 0 ? byte & 15 : byte >> 4;
              if (type === GgmlType.Q5_K) q += 16 * ((bytes[o + 16 + l] >> j) & 1);
              out[e + 64 * c + 32 * half + l] = d * sc * q - dmin * m;
            }
          }
        }
        break;
      }
      case GgmlType.Q6_K: {
        const d = f16(o + 208);
        for (let n = 0; n < 2; n++) {
          const ql = o + 64 * n;
          const qh = o + 128 + 32 * n;
          const sc = o + 192 + 8 * n;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const q1 = ((bytes[ql + l] & 15) | (((bytes[qh + l] >> 0) & 3) << 4)) - 32;
            const q2 = ((bytes[ql + l + 32] & 15) | (((bytes[qh + l] >> 2) & 3) << 4)) - 32;
            const q3 = ((bytes[ql + l] >> 4) | (((bytes[qh + l] >> 4) & 3) << 4)) - 32;
            const q4 = ((bytes[ql + l + 32] >> 4) | (((bytes[qh + l] >> 6) & 3) << 4)) - 32;
            const base = e + 128 * n + l;
            out[base] = d * i8(sc + is) * q1;
            out[base + 32] = d * i8(sc + is + 2) * q2;
            out[base + 64] = d * i8(sc + is + 4) * q3;
            out[base + 96] = d * i8(sc + is + 6) * q4;
          }
        }
        break;
      }
      default:
        throw new RangeError(`No reference dequantizer for type ${type}`);
    }
  }
  return out;
}

/** One quantized activation block: scale d and its integer quants. */
export interface ActivationBlock {
  /** Scale: element i ≈ d·q[i]. */
  readonly d: number;
  /** The quants in [−127, 127]. */
  readonly q: Int8Array;
}

/**
 * Reference Q8_0-style quantization of 32-element blocks (the Q8A activation format and, with d
 * rounded to fp16 afterwards, ggml's quantize_row_q8_0_ref): d = amax/127, q = round(x/d).
 *
 * @param x The row (a multiple of 32 long).
 * @returns One block per 32 elements; |x − d·q| ≤ d/2.
 * @example
 * ```ts
 * quantizeQ8AReference(new Float64Array(32).fill(2))[0].q[0]; // 127
 * ```
 */
export function quantizeQ8AReference(x: ArrayLike<number>): ActivationBlock[] {
  return quantizeBlocks(x, 32, (block) => {
    const amax = Math.max(...block.map(Math.abs));
    return amax / 127;
  });
}

/** The pair bound of Q8P blocks: |q₂ⱼ| + |q₂ⱼ₊₁| ≤ 136 for every j. */
export const Q8P_PAIR_MAX = 136;

/**
 * Reference Q8P quantization (IQ4_NL's activations): Q8A with the scale raised, where needed, so
 * that every even-aligned pair of quants satisfies |q₂ⱼ| + |q₂ⱼ₊₁| ≤ 136. d = max(amax/127,
 * pmax/135), pmax the largest |x₂ⱼ| + |x₂ⱼ₊₁|: rounding adds at most 1 to a pair.
 *
 * @param x The row (a multiple of 32 long).
 * @returns One block per 32 elements; |x − d·q| ≤ d/2.
 * @example
 * ```ts
 * quantizeQ8PReference(new Float64Array(32).fill(2))[0].q[0]; // 68
 * ```
 */
export function quantizeQ8PReference(x: ArrayLike<number>): ActivationBlock[] {
  return quantizeBlocks(x, 32, q8pScale);
}

/**
 * The scale a reference activation quantizer gives one block: its elements then lie within d/2
 * of d·q. The matmul tests bound the activation rounding error with it.
 *
 * @param format The activation format (not f32).
 * @param block One block's elements (32, or 256 for Q8_K).
 * @returns |d|.
 * @example
 * ```ts
 * activationBlockScale("q8a", new Array(32).fill(1)); // 1/127
 * ```
 */
export function activationBlockScale(format: "q8a" | "q8p" | "q8k", block: number[]): number {
  return format === "q8p" ? q8pScale(block) : Math.max(...block.map(Math.abs)) / 127;
}

function q8pScale(block: number[]): number {
  let amax = 0;
  let pmax = 0;
  for (let j = 0; j < block.length; j += 2) {
    const a = Math.abs(block[j]);
    const b = Math.abs(block[j + 1]);
    amax = Math.max(amax, a, b);
    pmax = Math.max(pmax, a + b);
  }
  return Math.max(amax / 127, pmax / (Q8P_PAIR_MAX - 1));
}

/**
 * Reference Q8_K quantization of 256-element blocks (ggml quantize_row_q8_K_ref): the signed
 * element of largest magnitude maps to −127, d = −max/127 (may be negative), q = round(x/d).
 *
 * @param x The row (a multiple of 256 long).
 * @returns One block per 256 elements; |x − d·q| ≤ |d|/2.
 * @example
 * ```ts
 * quantizeQ8KReference(new Float64Array(256).fill(1))[0].q[0]; // -127
 * ```
 */
export function quantizeQ8KReference(x: ArrayLike<number>): ActivationBlock[] {
  return quantizeBlocks(x, 256, (block) => {
    let max = 0;
    for (const v of block) if (Math.abs(v) > Math.abs(max)) max = v;
    return -max / 127;
  });
}

function quantizeBlocks(
  x: ArrayLike<number>,
  size: number,
  scaleOf: (block: number[]) => number,
): ActivationBlock[] {
  if (x.length % size !== 0) {
    throw new RangeError(`A row of ${x.length} elements is not a whole number of ${size}-blocks`);
  }
  const blocks: ActivationBlock[] = [];
  for (let b = 0; b < x.length / size; b++) {
    const block = Array.from({ length: size }, (_, i) => x[b * size + i]);
    const d = scaleOf(block);
    const q = new Int8Array(size);
    for (let i = 0; i < size; i++) {
      q[i] = d === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(block[i] / d)));
    }
    blocks.push({ d, q });
  }
  return blocks;
}

/**
 * Parses Q8A or Q8P (40 bytes per block; whole groups of 4 blocks stored as 4 d, 4 s, then 128
 * quants, the remaining blocks singly) or Q8_K (292-byte) activation blocks produced by the
 * kernels.
 *
 * @param format `"q8a"`, `"q8p"` or `"q8k"`.
 * @param bytes The quantized row.
 * @param k Elements in the row.
 * @returns The blocks, plus the stored sums (s for Q8A, bsums for Q8_K) to check.
 * @example
 * ```ts
 * const blocks = parseActivationBlocks("q8a", new Uint8Array(40), 32);
 * ```
 */
export function parseActivationBlocks(
  format: "q8a" | "q8p" | "q8k",
  bytes: Uint8Array,
  k: number,
): { d: number; q: Int8Array; sums: number[] }[] {
  const q8a = format !== "q8k"; // Q8P has Q8A's bytes
  const size = q8a ? 32 : 256;
  const blockBytes = q8a ? 40 : 292;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = [];
  const nb = k / size;
  // Q8A rows keep whole groups of 4 blocks as {d[4], s[4], q[128]}, then single blocks.
  const grouped = q8a ? nb - (nb % 4) : 0;
  for (let b = 0; b < nb; b++) {
    const o = b * blockBytes;
    const g = o - (b % 4) * blockBytes; // start of b's group of 4
    const i = b % 4;
    const [dOffset, sOffset, qOffset] = b < grouped
      ? [g + 4 * i, g + 16 + 4 * i, g + 32 + 32 * i]
      : q8a
      ? [o, o + 4, o + 8]
      : [o, -1, o + 4];
    const d = view.getFloat32(dOffset, true);
    const q = new Int8Array(
      bytes.buffer.slice(bytes.byteOffset + qOffset, bytes.byteOffset + qOffset + size),
    );
    const sums = q8a
      ? [view.getFloat32(sOffset, true)]
      : Array.from({ length: 16 }, (_, j) => view.getInt16(o + 260 + 2 * j, true));
    out.push({ d, q, sums });
  }
  return out;
}
