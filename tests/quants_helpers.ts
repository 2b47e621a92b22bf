/**
 * Test data for the quant kernels: random but valid weight rows of every kernel type, built
 * byte by byte from the block layouts (not with the Zig quantizers), and a seeded normal source.
 * @module
 */
import { GgmlType, type GgmlTypeId, ggmlTypeInfo } from "../src/ggml_types.ts";
import { numberToF16 } from "../src/quants/reference.ts";
import { weightRowBytes } from "../src/kernels/quants.ts";
import { seeded as rng } from "./ops_reference.ts";

/** A seeded xorshift generator of uniform [0, 1) and standard normal values. */
export { rng };

/** `count` standard normal f32 values. */
export function normals(random: ReturnType<typeof rng>, count: number): Float32Array {
  return Float32Array.from({ length: count }, () => random.normal());
}

function setF16(bytes: Uint8Array, offset: number, value: number): void {
  const bits = numberToF16(value);
  bytes[offset] = bits & 0xff;
  bytes[offset + 1] = bits >> 8;
}

/** `rows` random rows of `k` elements of `type`: random quants, positive fp16 scales near 1/64. */
export function randomWeight(
  type: GgmlTypeId,
  k: number,
  rows: number,
  random: ReturnType<typeof rng>,
): Uint8Array {
  const rowBytes = weightRowBytes(type, k);
  const bytes = new Uint8Array(rowBytes * rows);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random.uniform() * 256);
  const scale = () => (0.5 + random.uniform()) / 64;
  switch (type) {
    case GgmlType.F32: {
      const view = new DataView(bytes.buffer);
      for (let i = 0; i < k * rows; i++) view.setFloat32(4 * i, random.normal(), true);
      break;
    }
    case GgmlType.F16:
      for (let i = 0; i < k * rows; i++) setF16(bytes, 2 * i, random.normal());
      break;
    case GgmlType.BF16: {
      const view = new DataView(bytes.buffer);
      const f = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < k * rows; i++) {
        f.setFloat32(0, random.normal(), true);
        view.setUint16(2 * i, f.getUint32(0, true) >>> 16, true);
      }
      break;
    }
    case GgmlType.Q4_1:
    case GgmlType.Q5_1: { // d > 0, then a min m of either sign
      const blockBytes = ggmlTypeInfo(type)!.blockBytes;
      for (let o = 0; o < bytes.length; o += blockBytes) {
        setF16(bytes, o, scale());
        setF16(bytes, o + 2, (random.uniform() - 0.5) * 16 * scale());
      }
      break;
    }
    case GgmlType.Q8_0:
    case GgmlType.Q4_0:
    case GgmlType.Q5_0:
    case GgmlType.IQ4_NL: {
      const blockBytes = ggmlTypeInfo(type)!.blockBytes;
      for (let o = 0; o < bytes.length; o += blockBytes) {
        setF16(bytes, o, (random.uniform() < 0.5 ? -1 : 1) * scale());
      }
      break;
    }
    case GgmlType.Q4_K:
    case GgmlType.Q5_K: {
      const blockBytes = type === GgmlType.Q4_K ? 144 : 176;
      for (let o = 0; o < bytes.length; o += blockBytes) {
        setF16(bytes, o, scale() / 16);
        setF16(bytes, o + 2, scale() / 4);
      }
      break;
    }
    case GgmlType.Q6_K:
      for (let o = 0; o < bytes.length; o += 210) setF16(bytes, o + 208, scale() / 32);
      break;
    case GgmlType.IQ4_XS: // sub-scales up to ±32, codes up to ±127
      for (let o = 0; o < bytes.length; o += 136) setF16(bytes, o, scale() / 128);
      break;
  }
  return bytes;
}
