import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import { moeGatingFromGguf, moeRoute, sigmoid, softmax, topK } from "../src/kernels/ops.ts";
import { setSimd } from "../src/kernels/quants.ts";
import { OptionError } from "../src/errors.ts";
import { normalArray, seeded, sigmoidRef, softmaxRef, topKRef, U32 } from "./ops_reference.ts";

/** The smallest normal f32; the kernels' exp flushes anything smaller to 0. */
const F32_MIN_NORMAL = 2 ** -126;

/**
 * Softmax tolerance for p_i: x_i − max rounds once (≤ u·|x_i − max| absolute on the exponent,
 * the same relative on e^…), the SIMD exp errs ≤ 3 ulp = 6u (vec_math.zig's test), the sum of
 * width values in 8 lanes ≤ (width/8 + 4)·u relative, the final multiply 2u. The SIMD exp
 * returns 0 below e^-87.34 (no denormals), so values under the smallest normal f32 may be 0.
 */
function softmaxTolerance(p: number, xMinusMax: number, width: number): number {
  return (Math.abs(xMinusMax) + width / 8 + 12) * U32 * p + F32_MIN_NORMAL;
}

/** Sigmoid: exp 6u, 1 + e 1u, division 1u (relative); e^-x may overflow to give exactly 0. */
function sigmoidTolerance(y: number): number {
  return 10 * U32 * y + F32_MIN_NORMAL;
}

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

Deno.test("softmax and sigmoid match float64 over odd widths, extreme logits, 1..4 threads and both paths", () => {
  const random = seeded(21);
  eachPath((pool, simd) => {
    for (const width of [1, 7, 64, 67, 160, 256]) {
      for (const spread of [1, 30, 1e4]) {
        const rows = 5;
        const stride = width + 3;
        const src = normalArray(random, rows * stride, spread);
        const out = softmax(pool, { src, width, rows, rowStride: stride });
        const sig = sigmoid(pool, { src, width, rows, rowStride: stride });
        for (let r = 0; r < rows; r++) {
          const x = src.subarray(r * stride, r * stride + width);
          const want = softmaxRef(x);
          const max = Math.max(...x);
          for (let i = 0; i < width; i++) {
            const got = out[r * width + i];
            const tol = softmaxTolerance(want[i], x[i] - max, width);
            assert.ok(
              Math.abs(got - want[i]) <= tol,
              `softmax simd=${simd} threads=${pool.threads} width=${width} spread=${spread}: ${got} vs ${
                want[i]
              }`,
            );
            const s = sigmoidRef(x[i]);
            assert.ok(
              Math.abs(sig[r * width + i] - s) <= sigmoidTolerance(s),
              `sigmoid(${x[i]}) = ${sig[r * width + i]} vs ${s}`,
            );
          }
        }
      }
    }
  });
});

Deno.test("softmax runs in place with a strided layout", () => {
  const src = Float32Array.of(0, Math.log(3), 42, 1, 1, 42);
  softmax(pools[1], { src, dst: src, width: 2, rows: 2, rowStride: 3 });
  assert.deepEqual(Array.from(src, (v) => Math.round(v * 1e6) / 1e6), [
    0.25,
    0.75,
    42,
    0.5,
    0.5,
    42,
  ]);
});

Deno.test("topK matches a stable descending sort, ties to the lower index, over 1..4 threads", () => {
  const random = seeded(3);
  for (const pool of pools) {
    for (const width of [8, 64, 77, 160, 256]) {
      for (const k of [1, 2, 6, 8]) {
        const rows = 6;
        // Values on a coarse grid so ties are common.
        const src = Float32Array.from(
          { length: rows * width },
          () => Math.floor(random.uniform() * 9) - 4,
        );
        const { ids, values } = topK(pool, { src, width, k });
        for (let r = 0; r < rows; r++) {
          const row = src.subarray(r * width, (r + 1) * width);
          const want = topKRef(row, k);
          assert.deepEqual(
            Array.from(ids.subarray(r * k, (r + 1) * k)),
            want,
            `width ${width} k ${k} row ${r}`,
          );
          assert.deepEqual(
            Array.from(values.subarray(r * k, (r + 1) * k)),
            want.map((i) => row[i]),
          );
        }
      }
    }
  }
});

Deno.test("topK puts NaN after every number and rejects k outside 1..min(32, width)", () => {
  const { ids } = topK(pools[0], { src: Float32Array.of(NaN, -Infinity, 2), width: 3, k: 3 });
  assert.deepEqual(Array.from(ids), [2, 1, 0]);
  assert.throws(() => topK(pools[0], { src: new Float32Array(4), width: 4, k: 5 }), OptionError);
  assert.throws(() => topK(pools[0], { src: new Float32Array(64), width: 64, k: 33 }), /≤ 32/);
});

/** Logits that are a shuffled grid, so no two selection scores are close (unambiguous top-k). */
function separatedLogits(random: ReturnType<typeof seeded>, nTokens: number, nExpert: number) {
  const out = new Float32Array(nTokens * nExpert);
  for (let t = 0; t < nTokens; t++) {
    const grid = Array.from({ length: nExpert }, (_, i) => (i - nExpert / 2) * 0.05);
    for (let i = nExpert - 1; i > 0; i--) {
      const j = Math.floor(random.uniform() * (i + 1));
      [grid[i], grid[j]] = [grid[j], grid[i]];
    }
    out.set(grid, t * nExpert);
  }
  return out;
}

Deno.test("moeRoute matches the MLA_SPEC §1.9 rule for every gating, with bias, renorm and scale", () => {
  const random = seeded(8);
  const nExpert = 64;
  const k = 6;
  const nTokens = 5;
  const logits = separatedLogits(random, nTokens, nExpert);
  // Biases off the logits' 0.05 grid (the i·0.0007 term) so no biased score ties another.
  const bias = Float32Array.from({ length: nExpert }, (_, i) => ((i * 7) % 5) * 0.5 + i * 0.0007);
  const gate = {
    softmax: (x: Float32Array) => Array.from(softmaxRef(x)),
    sigmoid: (x: Float32Array) => Array.from(x, sigmoidRef),
    softmaxWeight: (x: Float32Array) => Array.from(x),
    sqrtSoftplus: (x: Float32Array) => Array.from(x, (v) => Math.sqrt(Math.log1p(Math.exp(v)))),
  } as const;
  eachPath((pool, simd) => {
    for (const gating of Object.keys(gate) as (keyof typeof gate)[]) {
      for (const withBias of [false, true]) {
        for (const [normalize, scale] of [[false, 1], [true, 2.5], [false, 16]] as const) {
          const got = moeRoute(pool, {
            logits,
            nExpert,
            k,
            gating,
            bias: withBias ? bias : undefined,
            normalize,
            scale,
          });
          for (let t = 0; t < nTokens; t++) {
            const x = logits.subarray(t * nExpert, (t + 1) * nExpert);
            const probs = gate[gating](x);
            const selection = probs.map((p, i) => p + (withBias ? bias[i] : 0));
            const ids = topKRef(selection, k);
            let weights = ids.map((i) => probs[i]);
            if (gating === "softmaxWeight") weights = Array.from(softmaxRef(weights));
            if (normalize) {
              const sum = weights.reduce((a, b) => a + b, 0);
              weights = weights.map((w) => w / Math.max(sum, 6.103515625e-5));
            }
            weights = weights.map((w) => w * scale);
            const where =
              `simd=${simd} threads=${pool.threads} ${gating} bias=${withBias} norm=${normalize} token ${t}`;
            assert.deepEqual(Array.from(got.ids.subarray(t * k, (t + 1) * k)), ids, where);
            // Softmax bound (|x − max| ≤ 3.2 here, width 64) plus renorm/scale (k + 2 roundings).
            for (let j = 0; j < k; j++) {
              const w = got.weights[t * k + j];
              assert.ok(
                Math.abs(w - weights[j]) <=
                  (3.2 + 64 / 8 + 12 + k + 2) * U32 * Math.abs(weights[j]) + 1e-30,
                `${where}: weight ${j} ${w} vs ${weights[j]}`,
              );
            }
          }
        }
      }
    }
  });
});

Deno.test("moeRoute with expert groups keeps only the best groups (sum of each group's top two)", () => {
  const random = seeded(17);
  const nExpert = 64;
  const nTokens = 4;
  const logits = separatedLogits(random, nTokens, nExpert);
  for (const [nGroup, nGroupUsed, k] of [[8, 3, 6], [4, 1, 8], [32, 5, 6]] as const) {
    eachPath((pool, simd) => {
      const got = moeRoute(pool, { logits, nExpert, k, gating: "sigmoid", nGroup, nGroupUsed });
      const size = nExpert / nGroup;
      for (let t = 0; t < nTokens; t++) {
        const probs = Array.from(logits.subarray(t * nExpert, (t + 1) * nExpert), sigmoidRef);
        const groupScore = (g: number) => {
          const members = probs.slice(g * size, (g + 1) * size).sort((a, b) => b - a);
          return members[0] + members[1];
        };
        const kept = topKRef(Array.from({ length: nGroup }, (_, g) => groupScore(g)), nGroupUsed);
        const masked = probs.map((p, i) => (kept.includes(Math.floor(i / size)) ? p : -Infinity));
        const ids = topKRef(masked, k);
        const where =
          `simd=${simd} threads=${pool.threads} groups ${nGroup}/${nGroupUsed} token ${t}`;
        assert.deepEqual(Array.from(got.ids.subarray(t * k, (t + 1) * k)), ids, where);
        ids.forEach((id, j) =>
          assert.ok(Math.abs(got.weights[t * k + j] - probs[id]) <= 10 * U32 * probs[id], where)
        );
      }
    });
  }
  assert.throws(
    () => moeRoute(pools[0], { logits, nExpert, k: 6, nGroup: 8, nGroupUsed: 0 }),
    /"nGroupUsed"/,
  );
  assert.throws(
    () => moeRoute(pools[0], { logits, nExpert, k: 9, nGroup: 8, nGroupUsed: 1 }),
    /keep at least k = 9/,
  );
  assert.throws(() => moeRoute(pools[0], { logits, nExpert, k: 6, nGroup: 5 }), /into/);
});

Deno.test("moeGatingFromGguf maps expert_gating_func and defaults to softmax", () => {
  assert.equal(moeGatingFromGguf(undefined), "softmax");
  assert.equal(moeGatingFromGguf(1), "softmax");
  assert.equal(moeGatingFromGguf(2), "sigmoid");
  assert.equal(moeGatingFromGguf(3), "softmaxWeight");
  assert.throws(() => moeGatingFromGguf(0), /1, 2, 3, 4/);
  assert.throws(
    () =>
      moeRoute(pools[0], {
        logits: new Float32Array(64),
        nExpert: 64,
        k: 6,
        bias: new Float32Array(8),
      }),
    /Buffer "bias" holds 8 values, need 64/,
  );
});

Deno.test("routing test pools close", () => {
  for (const pool of pools) pool.close();
});
