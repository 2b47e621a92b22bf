import assert from "node:assert/strict";
import { GgmlType, type GgmlTypeId, ggmlTypeInfo } from "../src/ggml_types.ts";
import {
  activationBlockElements,
  activationFormat,
  KERNEL_TYPES,
  REPACKABLE_TYPES,
  setSimd,
  weightRowBytes,
} from "../src/kernels/quants.ts";
import { repackedTypeId, repackRows } from "../src/kernels/repack.ts";
import { NativeBuffer } from "../src/deepseek2/native_memory.ts";
import { matmul, matmulScratchBytes } from "../src/kernels/matmul.ts";
import { activationBlockScale, dequantizeReference } from "../src/quants/reference.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import { OptionError } from "../src/errors.ts";
import { normals, randomWeight, rng } from "./quants_helpers.ts";

/**
 * Float64 reference y[t][n] = Σ_k W[n][k]·x[t][k] and the bound the kernel must meet.
 *
 * Bound derivation. Quantized types multiply by activations quantized per block of B elements
 * (B = 32 for Q8A/Q8P, 256 for Q8_K) with |x − d·q| ≤ d/2, d the block's scale (amax/127; Q8P
 * up to 2·amax/135, activationBlockScale), so |Δy| ≤ Σ_k |W[n][k]|·d_block(k)/2. Float types
 * use x as is (no term). On top, f32
 * arithmetic: at most K roundings of partial sums each ≤ Σ|W·x| (+ the quantization term), so
 * K·2^-24·(Σ_k |W[n][k]·x[k]| + the activation term) covers both SIMD and scalar orderings.
 */
function reference(
  type: GgmlTypeId,
  weight: Uint8Array,
  k: number,
  n: number,
  x: Float32Array,
  t: number,
) {
  const rowBytes = weightRowBytes(type, k);
  const format = activationFormat(type);
  const block = activationBlockElements(format);
  const y = new Float64Array(t * n);
  const bound = new Float64Array(t * n);
  for (let r = 0; r < n; r++) {
    const w = dequantizeReference(type, weight.subarray(r * rowBytes, (r + 1) * rowBytes), k);
    for (let tok = 0; tok < t; tok++) {
      let sum = 0;
      let magnitude = 0;
      let actTerm = 0;
      for (let i = 0; i < k; i++) {
        const xv = x[tok * k + i];
        sum += w[i] * xv;
        magnitude += Math.abs(w[i] * xv);
      }
      if (format !== "f32") {
        for (let b = 0; b < k / block; b++) {
          let wabs = 0;
          for (let i = b * block; i < (b + 1) * block; i++) wabs += Math.abs(w[i]);
          const xs = Array.from(x.subarray(tok * k + b * block, tok * k + (b + 1) * block));
          actTerm += (wabs * activationBlockScale(format, xs)) / 2;
        }
      }
      y[tok * n + r] = sum;
      bound[tok * n + r] = actTerm * (1 + 1e-6) + k * 2 ** -24 * (magnitude + actTerm) + 1e-30;
    }
  }
  return { y, bound };
}

/** Random weights of `type` and activations (seeded), with their float64 reference. */
function referenceCase(type: GgmlTypeId, k: number, n: number, t: number, seed: number) {
  const random = rng(seed);
  const weight = randomWeight(type, k, n, random);
  const x = normals(random, t * k);
  return { weight, x, ref: reference(type, weight, k, n, x, t) };
}

/** Asserts the first `count` outputs within the reference's bound; `label` names the case. */
function assertWithinBound(
  y: Float32Array,
  ref: { y: Float64Array; bound: Float64Array },
  label: string,
  count = ref.y.length,
) {
  for (let i = 0; i < count; i++) {
    const err = Math.abs(y[i] - ref.y[i]);
    assert.ok(
      err <= ref.bound[i],
      `${label} y[${i}]=${y[i]} ref ${ref.y[i]} err ${err} > ${ref.bound[i]}`,
    );
  }
}

const pools = [1, 2, 3, 4].map((threads) => new ThreadPool(threads));

for (const type of KERNEL_TYPES) {
  const info = ggmlTypeInfo(type)!;
  const blockK = info.blockElements === 256 ? 256 : 32;
  // One block, several blocks; odd float lengths exercise the SIMD tails.
  const ks = info.blockElements === 1 ? [5, 32 * 7 + 3] : [blockK, blockK * 5];
  const layouts = REPACKABLE_TYPES.includes(type) ? [false, true] : [false];
  for (const [k, repack] of ks.flatMap((k) => layouts.map((r) => [k, r] as const))) {
    const name = `${info.name}${repack ? "_R8" : ""}`;
    Deno.test(`matmul ${name} k=${k} matches float64 reference over 1..4 threads, SIMD and scalar`, () => {
      // Not a multiple of 2, 3 or 4 threads; repacked: two groups of 8 rows and 5 x4 rows.
      const n = repack ? 21 : 13;
      const t = 6; // one 4-token tile plus a 2-token tail
      const { weight, x, ref } = referenceCase(type, k, n, t, 1000 + type * 7 + k);
      const kernelType = (repack ? repackedTypeId(type)! : type) as GgmlTypeId;
      const kernelWeight = repack ? repackedCopy(type, weight, k, n) : weight;
      for (const simd of [true, false]) {
        setSimd(simd);
        for (const pool of pools) {
          for (const tokens of [1, t]) {
            const y = matmul(pool, {
              type: kernelType,
              weight: kernelWeight,
              k,
              n,
              x: x.subarray(0, tokens * k),
              t: tokens,
            });
            assertWithinBound(
              y,
              ref,
              `${name} simd=${simd} threads=${pool.threads} t=${tokens}`,
              tokens * n,
            );
          }
        }
      }
      setSimd(true);
    });
  }
}

/** The repacked (r8) layout of an `n`-row file-layout matrix, made by the load-time repacker. */
function repackedCopy(type: GgmlTypeId, weight: Uint8Array, k: number, n: number): Uint8Array {
  using file = new NativeBuffer(weight.length);
  using packed = new NativeBuffer(weight.length);
  file.u8().set(weight);
  repackRows(type, file.address, packed.address, weightRowBytes(type, k), k, n);
  return packed.u8().slice();
}

// The GEMM tile kernels (zig-kernels/src/quants/gemm32.zig, float.zig) over shapes that cross
// their internal boundaries: k of 37 blocks crosses the 8- and 32-block K slices and ends in a
// Q8A tail block; n = 70 crosses the 64-row group and ends in a partial 4-row panel; t = 37 is 4 token
// octs plus 5 and 9 token quads plus 1. Repacked (r8) layouts are judged against the reference
// of the file rows they were made from. Same bound as above: only the summation order differs.
for (
  const type of [
    GgmlType.Q8_0,
    GgmlType.Q4_0,
    GgmlType.Q4_1,
    GgmlType.Q5_0,
    GgmlType.Q5_1,
    GgmlType.IQ4_NL,
    GgmlType.Q4_K,
    GgmlType.Q5_K,
    GgmlType.F16,
    GgmlType.BF16,
    GgmlType.F32,
  ]
) {
  const repacked = REPACKABLE_TYPES.includes(type) ? [false, true] : [false];
  for (const repack of repacked) {
    const name = `${ggmlTypeInfo(type)!.name}${repack ? "_R8" : ""}`;
    Deno.test(`matmul ${name} GEMM tiles match float64 reference across slices, row groups and token tails`, () => {
      const blockK = ggmlTypeInfo(type)!.blockElements;
      // K-quants: 5 super-blocks = 40 sub-blocks cross the 32-sub-block slice; float types:
      // 37·32 + 3 leaves a scalar tail after the 8-wide steps (BF16's 16-wide ones).
      const k = blockK === 256 ? 256 * 5 : 32 * 37 + (blockK === 1 ? 3 : 0);
      const n = 70;
      const t = 37;
      const { weight, x, ref } = referenceCase(type, k, n, t, 77 + type);
      const kernelType = (repack ? repackedTypeId(type)! : type) as GgmlTypeId;
      const kernelWeight = repack ? repackedCopy(type, weight, k, n) : weight;
      for (const simd of [true, false]) {
        setSimd(simd);
        for (const pool of pools.slice(0, 2)) {
          const y = matmul(pool, { type: kernelType, weight: kernelWeight, k, n, x, t });
          assertWithinBound(y, ref, `${name} simd=${simd} threads=${pool.threads}`);
        }
      }
      setSimd(true);
    });
  }
}

// Past 64 tokens the row-range dots take row chunks as tall as the GEMM's (up to 128 rows, where
// fewer tokens take at most 32: zig-kernels/src/matmul.zig). The r8 layouts without a GEMM tile
// (Q4_0, Q4_K) run every token count through their dots; IQ4_NL's tile takes the same shape: 603
// rows (row chunks of 128, or of 72 with 2 threads, the last one ending in 3 file-layout rows) ×
// 67 tokens (a chunk of 64 and a tail of 3 for the dots; 8 octets and 3 tokens for the tile). Same
// bound as above.
for (const type of [GgmlType.IQ4_NL, GgmlType.Q4_0, GgmlType.Q4_K]) {
  const name = `${ggmlTypeInfo(type)!.name}_R8`;
  Deno.test(`matmul ${name} past 64 tokens (tall row chunks) matches float64 reference`, () => {
    const k = 256;
    const n = 603;
    const t = 67;
    const { weight, x, ref } = referenceCase(type, k, n, t, 91 + type);
    const packed = repackedCopy(type, weight, k, n);
    const kernelType = repackedTypeId(type)! as GgmlTypeId;
    for (const pool of pools.slice(0, 2)) {
      const y = matmul(pool, { type: kernelType, weight: packed, k, n, x, t });
      assertWithinBound(y, ref, `${name} threads=${pool.threads}`);
    }
  });
}

Deno.test("matmul honours rowBytes strides and a caller's scratch", () => {
  const k = 64;
  const n = 3;
  const random = rng(9);
  const packed = randomWeight(GgmlType.Q8_0, k, n, random);
  const rowBytes = 100; // padded rows, as in a view of a wider tensor
  const strided = new Uint8Array(rowBytes * n);
  for (let r = 0; r < n; r++) strided.set(packed.subarray(r * 68, r * 68 + 68), r * rowBytes);
  const x = normals(random, k);
  const scratch = new Uint8Array(matmulScratchBytes(GgmlType.Q8_0, k, 1));
  const a = matmul(pools[1], { type: GgmlType.Q8_0, weight: packed, k, n, x });
  const b = matmul(pools[1], { type: GgmlType.Q8_0, weight: strided, k, n, x, rowBytes, scratch });
  assert.deepEqual(b, a);
});

Deno.test("matmul rejects bad shapes before calling into Zig", () => {
  const pool = pools[0];
  const x = new Float32Array(64);
  const weight = new Uint8Array(36 * 2);
  assert.throws(
    () => matmul(pool, { type: GgmlType.IQ4_NL, weight, k: 48, n: 1, x }),
    /multiple of 32/,
  );
  assert.throws(
    () => matmul(pool, { type: GgmlType.IQ4_NL, weight, k: 64, n: 3, x }),
    /needs 54 bytes, got 72|needs/,
  );
  assert.throws(
    () => matmul(pool, { type: GgmlType.IQ4_NL, weight, k: 64, n: 2, x, t: 2 }),
    /x needs 128/,
  );
  assert.throws(
    () => matmul(pool, { type: GgmlType.Q8_K as GgmlTypeId, weight, k: 256, n: 1, x }),
    OptionError,
  );
  assert.throws(
    () =>
      matmul(pool, { type: GgmlType.IQ4_NL, weight, k: 64, n: 2, x, scratch: new Uint8Array(8) }),
    /scratch needs/,
  );
});

Deno.test("matmul pools close", () => {
  for (const pool of pools) pool.close();
});
