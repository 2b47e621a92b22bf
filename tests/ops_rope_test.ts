import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import { rope, type RopeParams } from "../src/kernels/ops.ts";
import { deepseek2Rope } from "../src/kernels/rope_params.ts";
import { setSimd } from "../src/kernels/quants.ts";
import { OptionError } from "../src/errors.ts";
import { corrDimsRef, normalArray, ropeAnglesRef, ropeRef, seeded, U32 } from "./ops_reference.ts";

const V2_LITE = {
  nRot: 64,
  keyLength: 192,
  freqBase: 10000,
  scalingType: "yarn",
  scalingFactor: 40,
  nCtxOrig: 4096,
  yarnLogMultiplier: 0.0707,
};

/**
 * Tolerance per output value: the kernel's cos/sin are f64 values rounded to f32 (≤ u·mag each),
 * its angle is computed in f64 from the f32-rounded freq_scale/attn_factor (relative ≤ u, so ≤
 * u·θ absolute on the angle, up to 163840·u ≈ 0.01 at the largest test position — the reference
 * uses the same f32-rounded parameters to keep that out), then two f32 products and a sum (3u).
 * So |Δ| ≤ 5u·mag·(|x0| + |x1|).
 */
function tolerance(x0: number, x1: number, mag: number): number {
  return 5 * U32 * Math.abs(mag) * (Math.abs(x0) + Math.abs(x1)) + 1e-30;
}

/** The parameters as the kernel sees them (f32). */
function asF32(p: RopeParams): RopeParams {
  return {
    ...p,
    freqBase: Math.fround(p.freqBase),
    freqScale: Math.fround(p.freqScale),
    attnFactor: Math.fround(p.attnFactor),
    extFactor: Math.fround(p.extFactor),
  };
}

const pools = [1, 2, 3, 4].map((n) => new ThreadPool(n));

Deno.test("deepseek2Rope gives V2-Lite's kq_scale 0.1147214 and cos/sin magnitude 1 (MLA_SPEC §1.5)", () => {
  const lite = deepseek2Rope(V2_LITE);
  assert.equal(lite.kqScale.toFixed(7), "0.1147214");
  assert.equal(lite.mscale.toFixed(7), "1.2608038");
  assert.equal(lite.params.attnFactor.toFixed(7), "0.7305200");
  assert.ok(Math.abs(lite.ropeMagnitude - 1) < 1e-7);
  assert.deepEqual(
    { ...lite.params, attnFactor: 0 },
    {
      nDims: 64,
      freqBase: 10000,
      freqScale: 1 / 40,
      extFactor: 1,
      attnFactor: 0,
      betaFast: 32,
      betaSlow: 1,
      nCtxOrig: 4096,
    },
  );
  assert.deepEqual(corrDimsRef(lite.params), [10, 23]);
  const plain = deepseek2Rope({ nRot: 64, keyLength: 192 });
  assert.equal(plain.kqScale, 1 / Math.sqrt(192));
  assert.equal(plain.params.extFactor, 0);
  assert.equal(plain.params.freqScale, 1);
  assert.equal(plain.ropeMagnitude, 1);
  assert.throws(() => deepseek2Rope({ ...V2_LITE, nRot: 63 }), OptionError);
  assert.throws(() => deepseek2Rope({ ...V2_LITE, scalingType: "longrope" }), /rope.scaling.type/);
});

Deno.test("rope rotates V2-Lite q heads (offset 128 of 192) and the kv row (offset 512 of 576) like the float64 reference", () => {
  const random = seeded(5);
  const params = deepseek2Rope(V2_LITE).params;
  const refParams = asF32(params);
  const positions = Int32Array.of(0, 1, 37, 4095, 4096, 100000, 163839);
  const layouts = [
    { nHeads: 16, headStride: 192, tokenStride: 3072, offset: 128 },
    { nHeads: 1, headStride: 0, tokenStride: 576, offset: 512 },
    { nHeads: 3, headStride: 70, tokenStride: 215, offset: 5 }, // odd strides
  ];
  try {
    for (const simd of [true, false]) {
      setSimd(simd);
      for (const pool of pools) {
        for (const layout of layouts) {
          const src = normalArray(random, positions.length * layout.tokenStride);
          const dst = src.slice();
          rope(pool, { src: dst, positions, params, ...layout });
          for (let t = 0; t < positions.length; t++) {
            const { mag } = ropeAnglesRef(refParams, positions[t]);
            const touched = new Set<number>();
            for (let h = 0; h < layout.nHeads; h++) {
              const at = t * layout.tokenStride + h * layout.headStride + layout.offset;
              const want = ropeRef(src.subarray(at, at + 64), refParams, positions[t]);
              for (let i = 0; i < 64; i++) {
                touched.add(at + i);
                const pair = i - (i % 2);
                const tol = tolerance(src[at + pair], src[at + pair + 1], mag);
                assert.ok(
                  Math.abs(dst[at + i] - want[i]) <= tol,
                  `simd=${simd} threads=${pool.threads} pos=${positions[t]} head ${h} dim ${i}: ${
                    dst[at + i]
                  } vs ${want[i]}`,
                );
              }
            }
            for (let c = t * layout.tokenStride; c < (t + 1) * layout.tokenStride; c++) {
              if (!touched.has(c)) {
                assert.equal(dst[c], src[c], `value ${c} outside rope dims changed`);
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

Deno.test("rope with V2-Lite parameters keeps vector norms (magnitude 1) and position 0 is the identity", () => {
  const params = deepseek2Rope(V2_LITE).params;
  const x = normalArray(seeded(9), 64);
  const at0 = rope(pools[1], {
    src: x,
    dst: new Float32Array(64),
    positions: Int32Array.of(0),
    tokenStride: 64,
    params,
  });
  at0.forEach((v, i) => assert.ok(Math.abs(v - x[i]) <= 2 * U32 * Math.abs(x[i]) + 1e-30));
  const far = rope(pools[1], {
    src: x,
    dst: new Float32Array(64),
    positions: Int32Array.of(77777),
    tokenStride: 64,
    params,
  });
  for (let i = 0; i < 64; i += 2) {
    const before = Math.hypot(x[i], x[i + 1]);
    assert.ok(Math.abs(Math.hypot(far[i], far[i + 1]) - before) <= 8 * U32 * before);
  }
});

Deno.test("rope blends pair 16 at ramp 0.5385 between interpolated and extrapolated frequencies", () => {
  // Independent of the reference's ramp code: pair 16 of V2-Lite has y = (16 − 10)/13.
  const params = deepseek2Rope(V2_LITE).params;
  const pos = 1000;
  const x = new Float32Array(64);
  x[32] = 1; // pair 16, cos component
  const out = rope(pools[0], {
    src: x,
    dst: new Float32Array(64),
    positions: Int32Array.of(pos),
    tokenStride: 64,
    params,
  });
  const extrap = pos * 10000 ** (-32 / 64);
  const mix = 1 - 6 / 13;
  const theta = (extrap / 40) * (1 - mix) + extrap * mix;
  assert.ok(Math.abs(out[32] - Math.cos(theta)) < 1e-5);
  assert.ok(Math.abs(out[33] - Math.sin(theta)) < 1e-5);
});

Deno.test("rope rejects odd dims, missing head stride and short buffers", () => {
  const params = deepseek2Rope(V2_LITE).params;
  const pool = pools[0];
  const src = new Float32Array(3072);
  const positions = Int32Array.of(1);
  assert.throws(
    () => rope(pool, { src, positions, tokenStride: 3072, params: { ...params, nDims: 63 } }),
    /nDims/,
  );
  assert.throws(
    () => rope(pool, { src, positions, nHeads: 16, tokenStride: 3072, params }),
    /headStride/,
  );
  assert.throws(
    () =>
      rope(pool, {
        src,
        positions: Int32Array.of(1, 2),
        nHeads: 16,
        headStride: 192,
        tokenStride: 3072,
        offset: 128,
        params,
      }),
    /holds 3072 values/,
  );
});

Deno.test("rope test pools close", () => {
  for (const pool of pools) pool.close();
});
