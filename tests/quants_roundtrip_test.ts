import assert from "node:assert/strict";
import { GgmlType, type GgmlTypeId, ggmlTypeInfo } from "../src/ggml_types.ts";
import {
  dequantizeRow,
  KERNEL_TYPES,
  quantizeActivationRow,
  quantizeRow,
  setSimd,
  weightRowBytes,
} from "../src/kernels/quants.ts";
import {
  dequantizeReference,
  f16ToNumber,
  numberToF16,
  parseActivationBlocks,
  Q8P_PAIR_MAX,
  quantizeQ8AReference,
  quantizeQ8KReference,
  quantizeQ8PReference,
} from "../src/quants/reference.ts";
import { OptionError } from "../src/errors.ts";
import { normals, randomWeight, rng } from "./quants_helpers.ts";

const F32_EPS = 2 ** -23;
const F16_EPS = 2 ** -11;

function amaxOf(x: ArrayLike<number>, start: number, count: number): number {
  let amax = 0;
  for (let i = start; i < start + count; i++) amax = Math.max(amax, Math.abs(x[i]));
  return amax;
}

Deno.test("numberToF16 and f16ToNumber round-trip every finite half", () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = f16ToNumber(bits);
    if (!Number.isFinite(value)) continue;
    const back = numberToF16(value);
    // ±0 both decode to 0 with a sign; compare bit patterns except for -0/+0 aliasing.
    assert.equal(back, bits, `bits 0x${bits.toString(16)} → ${value} → 0x${back.toString(16)}`);
  }
  assert.equal(numberToF16(1 + 2 ** -11), 0x3c00); // tie rounds to even
  assert.equal(numberToF16(1 + 3 * 2 ** -11), 0x3c02);
});

for (const type of KERNEL_TYPES) {
  const name = ggmlTypeInfo(type)!.name;
  Deno.test(`dequantizeRow ${name} matches the float64 reference (SIMD and scalar)`, () => {
    const k = ggmlTypeInfo(type)!.blockElements === 256
      ? 768
      : 96 + 3 * (type <= 1 || type === 30 ? 1 : 0);
    const bytes = randomWeight(type, k, 1, rng(type + 1));
    const expected = dequantizeReference(type, bytes, k);
    for (const simd of [true, false]) {
      setSimd(simd);
      const got = dequantizeRow(type, bytes, k);
      for (let i = 0; i < k; i++) {
        // Zig evaluates d·sc·q − dmin·m in f32: a few roundings of terms bounded by |x|+2|min|.
        const bound = 4 * F32_EPS * (Math.abs(expected[i]) + 1e-3);
        assert.ok(
          Math.abs(got[i] - expected[i]) <= bound,
          `${name}[${i}] simd=${simd}: ${got[i]} vs ${expected[i]}`,
        );
      }
    }
    setSimd(true);
  });
}

/** Per-element round-trip bounds, derived per type from how its quantizer picks scales. */
function roundTripBound(type: GgmlTypeId, x: Float32Array, i: number): number {
  switch (type) {
    case GgmlType.F32:
      return 0;
    case GgmlType.F16:
      return F16_EPS * Math.abs(x[i]) + 2 ** -25; // half an ulp, subnormals included
    case GgmlType.BF16:
      return 2 ** -8 * Math.abs(x[i]);
    case GgmlType.Q8_0: {
      // d = amax/127, q = round(x/d): |x − d·q| ≤ d/2, then d is rounded to fp16 (|q| ≤ 127).
      const d = amaxOf(x, i - (i % 32), 32) / 127;
      return d / 2 + 127 * d * F16_EPS + 1e-7;
    }
    case GgmlType.Q4_0: {
      // d = max/−8; values on the far side reach x/d = +8, clamped to code 15 (+7): one step.
      const d = amaxOf(x, i - (i % 32), 32) / 8;
      return d * (1 + 8 * F16_EPS) + 1e-7;
    }
    case GgmlType.Q4_1:
    case GgmlType.Q5_1: {
      // d = (max − min)/levels, q = trunc((x − min)/d + 0.5): nearest code, ≤ d/2, plus the fp16
      // rounding of d (≤ levels·d·ε at the top code) and of m (≤ |m|·ε).
      const levels = type === GgmlType.Q4_1 ? 15 : 31;
      const block = x.subarray(i - (i % 32), i - (i % 32) + 32);
      const min = Math.min(...block);
      const d = (Math.max(...block) - min) / levels;
      return d / 2 + levels * d * F16_EPS + Math.abs(min) * F16_EPS + 1e-7;
    }
    case GgmlType.Q5_0: {
      // d = max/−16; q = trunc(x/d + 16.5) rounds to nearest (≤ d/2) except on the far side,
      // where x/d = +16 clamps to code 31 (+15): one step. fp16 rounding of d adds 16·d·ε.
      const d = amaxOf(x, i - (i % 32), 32) / 16;
      return d * (1 + 16 * F16_EPS) + 1e-7;
    }
    default:
      return NaN; // IQ4_NL and K-quants are checked by their own tests below
  }
}

for (
  const type of [
    GgmlType.F32,
    GgmlType.F16,
    GgmlType.BF16,
    GgmlType.Q8_0,
    GgmlType.Q4_0,
    GgmlType.Q4_1,
    GgmlType.Q5_0,
    GgmlType.Q5_1,
  ] as const
) {
  const name = ggmlTypeInfo(type)!.name;
  Deno.test(`quantizeRow ${name} round-trips within its derived bound`, () => {
    const x = normals(rng(40 + type), 320);
    const back = dequantizeReference(type, quantizeRow(type, x), x.length);
    for (let i = 0; i < x.length; i++) {
      const bound = roundTripBound(type, x, i);
      assert.ok(
        Math.abs(back[i] - x[i]) <= bound,
        `${name}[${i}]: ${back[i]} vs ${x[i]} (bound ${bound})`,
      );
    }
  });
}

Deno.test("quantizeRow IQ4_NL error is no worse than nearest codes at the initial scale", () => {
  // The quantizer keeps the best of several scales by squared error, starting from d0 = max/−127
  // with nearest codes; so its block error ≤ that of d0 (up to fp16 rounding of the kept d).
  const codebook = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
  const x = normals(rng(77), 32 * 12);
  const back = dequantizeReference(GgmlType.IQ4_NL, quantizeRow(GgmlType.IQ4_NL, x), x.length);
  for (let b = 0; b < x.length / 32; b++) {
    let max = 0;
    for (let i = 0; i < 32; i++) if (Math.abs(x[32 * b + i]) > Math.abs(max)) max = x[32 * b + i];
    const d0 = max / -127;
    let sseInitial = 0;
    let sse = 0;
    for (let i = 0; i < 32; i++) {
      const v = x[32 * b + i];
      const nearest = Math.min(...codebook.map((c) => Math.abs(v - d0 * c)));
      sseInitial += nearest ** 2;
      sse += (back[32 * b + i] - v) ** 2;
    }
    const fp16Slack = 32 * (127 * Math.abs(d0) * 2 * F16_EPS) ** 2 +
      2 * Math.sqrt(sseInitial * 32) * 127 * Math.abs(d0) * 2 * F16_EPS;
    assert.ok(sse <= sseInitial + fp16Slack, `block ${b}: ${sse} > ${sseInitial}`);
  }
});

for (const [type, levels] of [[GgmlType.Q4_K, 16], [GgmlType.Q5_K, 32]] as const) {
  const name = ggmlTypeInfo(type)!.name;
  Deno.test(`quantizeRow ${name} round-trips within its derived bound`, () => {
    // Per sub-block j: step s_j = d·ceil(range_j/(L−1)/d) ≤ range_j/(L−1) + d, error ≤ s_j/2;
    // the min is rounded to dmin/2; d, dmin are the fp16 super-scales max/63 (×(1+2^-11)), and
    // d rounding down can clamp the top code by range·2^-10 at most.
    const x = normals(rng(90 + type), 512);
    const back = dequantizeReference(type, quantizeRow(type, x), x.length);
    for (let b = 0; b < x.length / 256; b++) {
      const range: number[] = [];
      const min: number[] = [];
      for (let j = 0; j < 8; j++) {
        const sub = Array.from(x.subarray(256 * b + 32 * j, 256 * b + 32 * j + 32));
        const lo = Math.min(0, ...sub);
        range.push(Math.max(...sub) - lo);
        min.push(-lo);
      }
      const d = (Math.max(...range) / (levels - 1) / 63) * (1 + F16_EPS);
      const dmin = (Math.max(...min) / 63) * (1 + F16_EPS);
      for (let j = 0; j < 8; j++) {
        const bound = (range[j] / (levels - 1) + d) / 2 + dmin / 2 + range[j] * 2 ** -10 + 1e-6;
        for (let l = 0; l < 32; l++) {
          const i = 256 * b + 32 * j + l;
          assert.ok(
            Math.abs(back[i] - x[i]) <= bound,
            `${name}[${i}]: ${back[i]} vs ${x[i]} (bound ${bound})`,
          );
        }
      }
    }
  });
}

Deno.test("quantizeRow Q6_K round-trips within its derived bound", () => {
  // Group g: scale_g = max_g/−32, stored as round(scale_g/d)·d with d = fp16(max scale/−128),
  // so |stored − scale_g| ≤ |d|/2; codes are clamped to [−32, 31]: error ≤ |stored| + 16|d|.
  const x = normals(rng(123), 512);
  const back = dequantizeReference(GgmlType.Q6_K, quantizeRow(GgmlType.Q6_K, x), x.length);
  for (let b = 0; b < 2; b++) {
    const d = (amaxOf(x, 256 * b, 256) / 32 / 128) * (1 + F16_EPS);
    for (let g = 0; g < 16; g++) {
      const bound = amaxOf(x, 256 * b + 16 * g, 16) / 32 + 17 * d + 1e-6;
      for (let l = 0; l < 16; l++) {
        const i = 256 * b + 16 * g + l;
        assert.ok(
          Math.abs(back[i] - x[i]) <= bound,
          `Q6_K[${i}]: ${back[i]} vs ${x[i]} (bound ${bound})`,
        );
      }
    }
  }
});

Deno.test("quantizeActivationRow BF16 and F16: the row's f32 values, BF16's reordered evens first per 16", () => {
  // 37 = two whole groups of 16 (reordered) and a tail of 5 (in place).
  const x = normals(rng(11), 37);
  const expected = new Float32Array(37);
  for (let i = 0; i < 37; i++) {
    const inGroups = i < 32;
    const j = i % 16;
    expected[inGroups ? i - j + (j % 2) * 8 + (j >> 1) : i] = x[i];
  }
  for (const simd of [true, false]) {
    setSimd(simd);
    const bf16 = new Float32Array(quantizeActivationRow(GgmlType.BF16, x).buffer);
    assert.deepEqual(bf16, expected);
    const f16 = new Float32Array(quantizeActivationRow(GgmlType.F16, x).buffer);
    assert.deepEqual(f16, x);
  }
  setSimd(true);
});

const activationCases = [
  [GgmlType.Q4_0, "q8a"],
  [GgmlType.IQ4_NL, "q8p"],
  [GgmlType.Q4_K, "q8k"],
] as const;
for (const [type, format] of activationCases) {
  Deno.test(`quantizeActivationRow ${format} matches the reference quantizer (SIMD and scalar)`, () => {
    // Q8A/Q8P: 7 blocks = one group of 4 plus 3 single blocks, so both storage forms are checked.
    const x = normals(rng(5), format === "q8k" ? 512 : 7 * 32);
    x[7] = 0;
    // Q8P: block 1 has one outlier with a zero partner (amax sets d), block 2 a wide pair.
    x[32 + 4] = 0;
    x[32 + 5] = 9;
    x[64 + 8] = -3;
    x[64 + 9] = 3;
    const reference = format === "q8a"
      ? quantizeQ8AReference(x)
      : format === "q8p"
      ? quantizeQ8PReference(x)
      : quantizeQ8KReference(x);
    for (const simd of [true, false]) {
      setSimd(simd);
      const blocks = parseActivationBlocks(format, quantizeActivationRow(type, x), x.length);
      assert.equal(blocks.length, reference.length);
      for (const [b, block] of blocks.entries()) {
        const ref = reference[b];
        assert.ok(Math.abs(block.d - ref.d) <= 2 * F32_EPS * Math.abs(ref.d), `block ${b} d`);
        let qsum = 0;
        for (let i = 0; i < block.q.length; i++) {
          // Only exact ties may round differently (nearest-even vs half-up): at most 1 apart.
          assert.ok(Math.abs(block.q[i] - ref.q[i]) <= 1, `block ${b} q[${i}]`);
          const v = x[b * block.q.length + i];
          assert.ok(
            Math.abs(v - block.d * block.q[i]) <= Math.abs(block.d) * (0.5 + 1e-5),
            `block ${b} error[${i}]`,
          );
          qsum += block.q[i];
        }
        if (format === "q8p") {
          for (let j = 0; j < 16; j++) {
            const pair = Math.abs(block.q[2 * j]) + Math.abs(block.q[2 * j + 1]);
            assert.ok(pair <= Q8P_PAIR_MAX, `block ${b} pair ${j}: ${pair}`);
          }
        }
        if (format !== "q8k") {
          assert.ok(
            Math.abs(block.sums[0] - block.d * qsum) <=
              1e-5 * Math.abs(block.d) * (1 + Math.abs(qsum)),
          );
        } else {
          for (let g = 0; g < 16; g++) {
            let s = 0;
            for (let l = 0; l < 16; l++) s += block.q[16 * g + l];
            assert.equal(block.sums[g], s);
          }
        }
      }
    }
    setSimd(true);
  });
}

Deno.test("dequantizeRow and quantizeRow reject bad rows with OptionError", () => {
  assert.throws(() => dequantizeRow(GgmlType.Q4_K, new Uint8Array(144), 100), /multiple of 256/);
  assert.throws(() => dequantizeRow(GgmlType.Q8_0, new Uint8Array(10), 32), OptionError);
  assert.throws(
    () => quantizeRow(GgmlType.Q8_K as GgmlTypeId, new Float32Array(256)),
    /no matmul kernels/,
  );
  assert.equal(weightRowBytes(GgmlType.IQ4_NL, 2048), 1152);
});
