import assert from "node:assert/strict";
import { GgmlType, ggmlTypeByName, type GgmlTypeId } from "../src/ggml_types.ts";
import { dequantizeReference } from "../src/quants/reference.ts";
import {
  encodeBlocks,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
} from "../src/synth/block_encoders.ts";
import { SynthRandom } from "../src/synth/random.ts";

const view = new DataView(new ArrayBuffer(4));

function gaussians(n: number, seed: number, std = 1): Float32Array {
  const x = new Float32Array(n);
  new SynthRandom(seed).fillGaussian(x, std);
  return x;
}

function decode(type: string, bytes: Uint8Array, n: number): Float64Array {
  return dequantizeReference(ggmlTypeByName(type)!.id as GgmlTypeId, bytes, n);
}

function relativeRms(x: Float32Array, y: Float64Array): number {
  let err = 0;
  let norm = 0;
  for (let i = 0; i < x.length; i++) {
    err += (x[i] - y[i]) ** 2;
    norm += x[i] ** 2;
  }
  return Math.sqrt(err / norm);
}

Deno.test("f32ToF16Bits matches V8's DataView.setFloat16 rounding, subnormals and overflow", () => {
  const rng = new SynthRandom(7);
  const cases = [0, -0, 1, -2.5, 65504, 65520, 1e6, -1e6, 6e-8, 2.9e-8, 3e-8, 1e-10, NaN];
  for (let h = 0; h < 0x7c00; h++) {
    // Exact halves and the midpoints between neighbours (ties go to even).
    cases.push(f16BitsToF32(h), (f16BitsToF32(h) + f16BitsToF32(h + 1)) / 2);
  }
  for (let i = 0; i < 20000; i++) cases.push((rng.nextFloat() - 0.5) * 2 ** (rng.nextInt(40) - 26));
  for (const x of cases) {
    view.setFloat16(0, Math.fround(x));
    assert.equal(f32ToF16Bits(x), view.getUint16(0), `x = ${x}`);
  }
});

Deno.test("f16BitsToF32 matches V8's DataView.getFloat16 for every finite half", () => {
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN payloads
    view.setUint16(0, h);
    assert.equal(f16BitsToF32(h), view.getFloat16(0), `h = 0x${h.toString(16)}`);
  }
});

Deno.test("f32ToBf16Bits rounds to the nearest bfloat16, ties to even", () => {
  const bf16 = (h: number) => {
    view.setUint32(0, h << 16);
    return view.getFloat32(0);
  };
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(-2), 0xc000);
  // 1 + 2^-8 lies halfway between 0x3f80 and 0x3f81: ties go to the even 0x3f80.
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(f32ToBf16Bits(NaN) & 0x7fc0, 0x7fc0);
  const rng = new SynthRandom(3);
  for (let i = 0; i < 20000; i++) {
    const x = Math.fround((rng.nextFloat() - 0.5) * 2 ** (rng.nextInt(60) - 30));
    const h = f32ToBf16Bits(x);
    const err = Math.abs(bf16(h) - x);
    assert.ok(err <= Math.abs(bf16(h + 1) - x) && err <= Math.abs(bf16(h - 1) - x), `x = ${x}`);
  }
});

Deno.test("encodeBlocks Q8_0, Q4_0 and IQ4_NL stay within their derived per-element bounds", () => {
  // amax is a block's largest magnitude. Q8_0: |err| <= d/2 + 127·|d − fp16(d)| <= 0.57·d with
  // d = amax/127. Q4_0: the level −8·d reaches amax, +7·d one step short, so |err| <= |d|(1 +
  // 16·2^-11), d = amax/8. IQ4_NL: levels −127..113 have gaps <= 24 and stop 14 short of 127, so
  // |err| <= 14.1·|d| with d = amax/127 (the rounding lookup adds <= 0.5 within a 12 half-gap).
  const bounds: Record<string, number> = { Q8_0: 0.57 / 127, Q4_0: 1.01 / 8, IQ4_NL: 14.1 / 127 };
  const x = gaussians(32 * 2048, 11, 0.05);
  for (const [type, perAmax] of Object.entries(bounds)) {
    const y = decode(type, encodeBlocks(type, x), x.length);
    for (let b = 0; b < x.length / 32; b++) {
      let amax = 0;
      for (let i = 32 * b; i < 32 * b + 32; i++) amax = Math.max(amax, Math.abs(x[i]));
      for (let i = 32 * b; i < 32 * b + 32; i++) {
        assert.ok(Math.abs(x[i] - y[i]) <= perAmax * amax * 1.0001, `${type} element ${i}`);
      }
    }
  }
});

Deno.test("encodeBlocks Q4_K and Q6_K stay within their derived per-block bounds", () => {
  // Q4_K: d = max sub-block scale/63, dmin = max min/63. An element errs by <= step/2 <= 31.5·d,
  // plus <= dmin for the rounded min, plus <= 7.5·d where a scale rounded down clips at q = 15.
  // Q6_K: a sub-block's largest magnitude maps to q = −32; an element of the other sign and
  // nearly equal size would need +32 and clips at 31, so |err| <= |step| (step = d·sc), plus
  // 32·|d|/2 from rounding the scale to sc = round(scale/d).
  const x = gaussians(256 * 512, 12, 0.05);
  for (const type of ["Q4_K", "Q6_K"]) {
    const bytes = encodeBlocks(type, x);
    const y = decode(type, bytes, x.length);
    const blockBytes = ggmlTypeByName(type)!.blockBytes;
    const dv = new DataView(bytes.buffer);
    for (let b = 0; b < x.length / 256; b++) {
      const o = b * blockBytes;
      for (let i = 256 * b; i < 256 * b + 256; i++) {
        let bound: number;
        if (type === "Q4_K") {
          bound = 39 * f16BitsToF32(dv.getUint16(o, true)) +
            f16BitsToF32(dv.getUint16(o + 2, true));
        } else {
          const d = Math.abs(f16BitsToF32(dv.getUint16(o + 208, true)));
          bound = Math.abs(d * dv.getInt8(o + 192 + ((i - 256 * b) >> 4))) + 16 * d;
        }
        assert.ok(Math.abs(x[i] - y[i]) <= bound * 1.0001, `${type} element ${i}`);
      }
    }
  }
});

Deno.test("encodeBlocks keeps Gaussian weights within the expected relative RMS error", () => {
  // Uniform quantization errs by step/sqrt(12) RMS. For N(0,1) blocks: Q8_0 step ≈ 2.3/127
  // → 0.005; Q6_K step ≈ 2.0/32 → 0.018; Q4_0 and IQ4_NL step ≈ 2.3/8 → 0.083; Q4_K step ≈
  // range/15 ≈ 4.1/15 → 0.079. Bounds allow ~25% for scale rounding and clipping; F16 and BF16
  // round to 11 and 8 significant bits.
  const bounds: Record<string, number> = {
    F32: 0,
    F16: 2 ** -11,
    BF16: 2 ** -8,
    Q8_0: 0.007,
    Q6_K: 0.025,
    Q4_0: 0.105,
    IQ4_NL: 0.105,
    IQ4_XS: 0.115, // IQ4_NL's codes under 6-bit sub-scales on a shared d (≤ 1/64 coarser)
    Q4_1: 0.105, // range/15 over min..max ≈ Q4_0's step
    Q5_1: 0.055, // range/31
    Q4_K: 0.1,
  };
  const x = gaussians(256 * 256, 13);
  for (const [type, bound] of Object.entries(bounds)) {
    const rms = relativeRms(x, decode(type, encodeBlocks(type, x), x.length));
    assert.ok(rms <= bound, `${type}: relative RMS ${rms.toFixed(4)} > ${bound}`);
  }
});

Deno.test("encodeBlocks writes zero blocks for zero input and refuses partial blocks", () => {
  for (const type of ["Q8_0", "Q4_0", "Q4_1", "Q5_1", "IQ4_NL", "IQ4_XS", "Q4_K", "Q6_K"]) {
    const y = decode(type, encodeBlocks(type, new Float32Array(256)), 256);
    // IQ4_NL has no zero level; a zero scale still makes every value 0.
    assert.ok(y.every((v) => v === 0), type);
  }
  assert.throws(() => encodeBlocks("Q4_K", new Float32Array(128)), /not a whole number/);
  assert.throws(() => encodeBlocks("Q5_K", new Float32Array(256)), /No block encoder/);
  assert.equal(GgmlType.IQ4_NL, 20);
});

Deno.test("SynthRandom.fillGaussian has mean 0 and the asked standard deviation", () => {
  const x = gaussians(1 << 18, 5, 0.25);
  let sum = 0;
  let squares = 0;
  for (const v of x) {
    sum += v;
    squares += v * v;
  }
  const mean = sum / x.length;
  const std = Math.sqrt(squares / x.length - mean * mean);
  // Standard errors with n = 2^18: mean 0.25/512 ≈ 5e-4, std 0.25/724 ≈ 3.5e-4; allow 5σ.
  assert.ok(Math.abs(mean) < 2.5e-3, `mean ${mean}`);
  assert.ok(Math.abs(std - 0.25) < 1.8e-3, `std ${std}`);
  const a = SynthRandom.forTensor(1, "blk.0.attn_q.weight").nextU32();
  assert.equal(SynthRandom.forTensor(1, "blk.0.attn_q.weight").nextU32(), a);
  assert.notEqual(SynthRandom.forTensor(1, "blk.1.attn_q.weight").nextU32(), a);
  assert.notEqual(SynthRandom.forTensor(2, "blk.0.attn_q.weight").nextU32(), a);
});
