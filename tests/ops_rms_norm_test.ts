import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import { rmsNorm } from "../src/kernels/ops.ts";
import { setSimd } from "../src/kernels/quants.ts";
import { OptionError } from "../src/errors.ts";
import { normalArray, rmsNormRef, seeded, U32 } from "./ops_reference.ts";

/**
 * Tolerance, relative to |y|: the SIMD path sums squares in 32 f32 partial sums, so each partial
 * takes ≤ width/32 + 1 additions and the reduction 5 more (error ≤ (width/32 + 6)·u relative, all
 * terms positive); the scalar path sums in f64. mean, +eps, sqrt (halves the error) and 1/x in f64
 * add ≤ 1u after the f32 cast; x·s and ·w add 2u. So |Δy| ≤ ((width/32 + 6)/2 + 4)·u·|y| + the
 * same relative error on values near 0, covered by an absolute u·max|y| term.
 */
function tolerance(width: number, y: number, maxAbs: number): number {
  return ((width / 32 + 6) / 2 + 4) * U32 * Math.abs(y) + U32 * maxAbs;
}

const pools = [1, 2, 3, 4].map((n) => new ThreadPool(n));

Deno.test("rmsNorm matches the float64 reference over odd widths, strides, 1..4 threads and both paths", () => {
  const random = seeded(11);
  const shapes = [
    { rows: 1, width: 1, offset: 0, stride: 1 },
    { rows: 3, width: 7, offset: 2, stride: 13 },
    { rows: 5, width: 33, offset: 0, stride: 33 },
    { rows: 4, width: 512, offset: 0, stride: 576 }, // the kv_a latent: rope tail untouched
    { rows: 2, width: 2048, offset: 0, stride: 2048 },
    { rows: 1, width: 4100, offset: 9, stride: 4200 },
  ];
  try {
    for (const simd of [true, false]) {
      setSimd(simd);
      for (const pool of pools) {
        for (const { rows, width, offset, stride } of shapes) {
          const src = normalArray(random, rows * stride, 3);
          const weight = Float32Array.from({ length: width }, () => 0.5 + random.uniform());
          for (const withWeight of [true, false]) {
            const dst = src.slice();
            rmsNorm(pool, {
              src: dst,
              rows,
              width,
              offset,
              rowStride: stride,
              weight: withWeight ? weight : undefined,
              eps: 1e-6,
            });
            for (let r = 0; r < rows; r++) {
              const base = r * stride;
              const x = src.subarray(base + offset, base + offset + width);
              const ref = rmsNormRef(x, withWeight ? weight : undefined, 1e-6);
              const maxAbs = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
              for (let c = 0; c < stride; c++) {
                const got = dst[base + c];
                if (c < offset || c >= offset + width) {
                  assert.equal(got, src[base + c], `value ${c} outside the range changed`);
                  continue;
                }
                const want = ref[c - offset];
                const tol = tolerance(width, want, maxAbs);
                assert.ok(
                  Math.abs(got - want) <= tol,
                  `simd=${simd} threads=${pool.threads} width=${width} row ${r} col ${c}: ${got} vs ${want} (tol ${tol})`,
                );
              }
            }
          }
        }
      }
    }
  } finally {
    setSimd(true);
  }
});

Deno.test("rmsNorm writes to a separate dst with its own stride and leaves src alone", () => {
  const pool = pools[1];
  const src = Float32Array.of(3, 4, 99, 0, 5, 99);
  const before = src.slice();
  const dst = new Float32Array(4);
  rmsNorm(pool, { src, dst, rows: 2, width: 2, rowStride: 3, dstRowStride: 2, eps: 0 });
  assert.deepEqual(src, before);
  // Row [3, 4]: rms = sqrt(12.5); row [0, 5]: rms = sqrt(12.5).
  const inv = 1 / Math.sqrt(12.5);
  const want = [3 * inv, 4 * inv, 0, 5 * inv];
  want.forEach((w, i) => assert.ok(Math.abs(dst[i] - w) < 1e-6));
});

Deno.test("rmsNorm rejects short buffers, short weights and bad eps before calling native code", () => {
  const pool = pools[0];
  const src = new Float32Array(575);
  assert.throws(
    () => rmsNorm(pool, { src, rows: 1, width: 512, offset: 64, eps: 1e-6 }),
    (e) => e instanceof OptionError && /holds 575 values/.test(e.message),
  );
  assert.throws(
    () => rmsNorm(pool, { src, rows: 1, width: 8, weight: new Float32Array(7), eps: 1e-6 }),
    /Buffer "weight" holds 7 values, need 8/,
  );
  assert.throws(() => rmsNorm(pool, { src, rows: 1, width: 8, eps: -1 }), /eps/);
  assert.throws(() => rmsNorm(pool, { src, rows: 0, width: 8, eps: 0 }), /"rows"/);
});

Deno.test({
  name: "rmsNorm test pools close",
  fn() {
    for (const pool of pools) pool.close();
  },
});
