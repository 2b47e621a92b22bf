import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import { elementwise, getRows, siluMul } from "../src/kernels/ops.ts";
import { quantizeRow, setSimd } from "../src/kernels/quants.ts";
import { dequantizeReference } from "../src/quants/reference.ts";
import { GgmlType, type GgmlTypeId } from "../src/ggml_types.ts";
import { OptionError } from "../src/errors.ts";
import { normalArray, seeded, U32 } from "./ops_reference.ts";

const pools = [1, 2, 3, 4].map((n) => new ThreadPool(n));

function eachPath(fn: (pool: ThreadPool, simd: boolean) => void): void {
  try {
    for (const simd of [true, false]) {
      setSimd(simd);
      for (const pool of pools) fn(pool, simd);
    }
  } finally {
    setSimd(true);
  }
}

/** One-token rows (split by columns across threads) and prefill batches (split by rows). */
const SHAPES = [
  { rows: 1, width: 1 },
  { rows: 1, width: 37 },
  { rows: 1, width: 1408 },
  { rows: 1, width: 10944 },
  { rows: 3, width: 100 },
  { rows: 7, width: 33 },
];

Deno.test("siluMul matches float64 silu(g)·u over one-token and batch shapes, 1..4 threads, both paths", () => {
  const random = seeded(4);
  eachPath((pool, simd) => {
    for (const { rows, width } of SHAPES) {
      const stride = width + 5;
      const gate = normalArray(random, rows * stride, 6);
      const up = normalArray(random, rows * stride);
      if (width > 2) gate[1] = -120; // e^120 overflows: silu must still come out ≈ 0, not NaN
      const out = siluMul(pool, {
        gate,
        up,
        width,
        rows,
        gateRowStride: stride,
        upRowStride: stride,
      });
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < width; c++) {
          const g = gate[r * stride + c];
          const want = (g / (1 + Math.exp(-g))) * up[r * stride + c];
          // exp 6u, 1 + e 1u, division 1u, product 1u (relative); a result below the smallest
          // normal f32 may flush to 0.
          const tol = 10 * U32 * Math.abs(want) + 2 ** -126;
          const got = out[r * width + c];
          assert.ok(
            Math.abs(got - want) <= tol,
            `simd=${simd} threads=${pool.threads} ${rows}×${width} [${r}, ${c}]: ${got} vs ${want}`,
          );
        }
      }
    }
  });
});

Deno.test("elementwise add, scale, addScaled and copy round like f32 arithmetic, 1..4 threads, both paths", () => {
  const random = seeded(6);
  eachPath((pool, simd) => {
    for (const { rows, width } of SHAPES) {
      const a = normalArray(random, rows * width);
      const b = normalArray(random, rows * width, 100);
      const s = Math.fround(0.37);
      const ops = {
        add: (x: number, y: number) => Math.fround(x + y),
        scale: (x: number) => Math.fround(s * x),
        // No FMA contraction: s·b rounds first, as in ggml's add(a, scale(b)).
        addScaled: (x: number, y: number) => Math.fround(x + Math.fround(s * y)),
        copy: (x: number) => x,
      } as const;
      for (const op of Object.keys(ops) as (keyof typeof ops)[]) {
        const out = elementwise(pool, { op, a, b, s, width, rows });
        for (let i = 0; i < rows * width; i++) {
          assert.equal(
            out[i],
            ops[op](a[i], b[i]),
            `${op} simd=${simd} threads=${pool.threads} [${i}]`,
          );
        }
      }
    }
  });
});

Deno.test("elementwise copy concatenates rows into strided sub-ranges and adds in place", () => {
  const pool = pools[1];
  const left = Float32Array.of(1, 2, 3, 4); // 2 rows × 2
  const right = Float32Array.of(5, 6, 7, 8, 9, 10); // 2 rows × 3
  const dst = new Float32Array(10).fill(-1);
  elementwise(pool, { op: "copy", a: left, dst, width: 2, rows: 2, dstRowStride: 5 });
  elementwise(pool, {
    op: "copy",
    a: right,
    dst: dst.subarray(2),
    width: 3,
    rows: 2,
    dstRowStride: 5,
  });
  assert.deepEqual(Array.from(dst), [1, 2, 5, 6, 7, 3, 4, 8, 9, 10]);
  elementwise(pool, { op: "add", a: dst, b: dst, dst, width: 10 });
  assert.deepEqual(Array.from(dst), [2, 4, 10, 12, 14, 6, 8, 16, 18, 20]);
  assert.throws(() => elementwise(pool, { op: "add", a: dst }), /needs buffer "b"/);
  assert.throws(() => elementwise(pool, { op: "scale", a: dst }), /needs option "s"/);
  assert.throws(
    () => siluMul(pool, { gate: new Float32Array(8), up: new Float32Array(7), width: 8 }),
    /Buffer "up" holds 7 values/,
  );
});

const GET_ROWS_TYPES: [GgmlTypeId, number][] = [
  [GgmlType.F32, 37],
  [GgmlType.F16, 37],
  [GgmlType.BF16, 64],
  [GgmlType.Q8_0, 96],
  [GgmlType.Q4_0, 96],
  [GgmlType.IQ4_NL, 96],
  [GgmlType.Q4_K, 512],
  [GgmlType.Q5_K, 512],
  [GgmlType.Q6_K, 512],
];

Deno.test("getRows dequantizes the chosen rows of every weight type like the float64 reference", () => {
  const random = seeded(12);
  const nRows = 9;
  for (const [type, width] of GET_ROWS_TYPES) {
    const rows: Uint8Array[] = [];
    for (let r = 0; r < nRows; r++) rows.push(quantizeRow(type, normalArray(random, width)));
    const weight = new Uint8Array(rows.reduce((n, row) => n + row.length, 0));
    rows.forEach((row, r) => weight.set(row, r * row.length));
    const ids = Int32Array.of(8, 0, 3, 3, 7);
    eachPath((pool, simd) => {
      const dst = new Float32Array(ids.length * (width + 2)).fill(NaN);
      getRows(pool, { weight, type, width, ids, dst, dstRowStride: width + 2 });
      ids.forEach((id, i) => {
        const want = dequantizeReference(type, rows[id], width);
        const maxAbs = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let c = 0; c < width; c++) {
          const got = dst[i * (width + 2) + c];
          // A value is d·q, or d·sc·q − dmin·m for Q4_K/Q5_K: the f16 scales are exact in f32,
          // so at most the product and the subtraction round, each ≤ u times a term whose size
          // is bounded by the row's largest magnitude (the mins are offsets within the row).
          const tol = 2 * U32 * (Math.abs(want[c]) + maxAbs);
          assert.ok(
            Math.abs(got - want[c]) <= tol,
            `type ${type} simd=${simd} threads=${pool.threads} id ${id} col ${c}: ${got} vs ${
              want[c]
            }`,
          );
        }
        assert.ok(Number.isNaN(dst[i * (width + 2) + width]), "padding between rows was written");
      });
    });
  }
});

Deno.test("getRows rejects out-of-range ids, unsupported types and widths off the block size", () => {
  const pool = pools[0];
  const weight = new Uint8Array(4 * 3 * 2); // 2 F32 rows of 3
  assert.throws(
    () => getRows(pool, { weight, type: GgmlType.F32, width: 3, ids: Int32Array.of(0, 2) }),
    (e) => e instanceof OptionError && /Row id 2 at index 1 is outside 0..1/.test(e.message),
  );
  assert.throws(
    () => getRows(pool, { weight, type: GgmlType.F32, width: 3, ids: Int32Array.of(-1) }),
    OptionError,
  );
  assert.throws(
    () => getRows(pool, { weight, type: GgmlType.Q8_0, width: 3, ids: Int32Array.of(0) }),
    /multiple of 32/,
  );
  assert.throws(
    () => getRows(pool, { weight, type: 15 as GgmlTypeId, width: 256, ids: Int32Array.of(0) }),
    /no dequantization kernel/,
  );
});

Deno.test("elementwise test pools close", () => {
  for (const pool of pools) pool.close();
});
