import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import {
  flashMla,
  flashMlaScratchBytes,
  kvCacheRowBytes,
  type KvCacheType,
  readKvRows,
  writeKvRows,
} from "../src/kernels/flash_mla.ts";
import { OptionError } from "../src/errors.ts";
import {
  attentionRef,
  K_DIM,
  quantizeInt8,
  quantizeRowRef,
  QUERY_LEVELS,
  U32,
  uniform,
  V_DIM,
} from "./helpers/flash_mla_reference.ts";

const KQ_SCALE = 0.1147214;

/** The bytes kv_cache_rows.zig must produce, built from MLA_SPEC §3.1/§3.9 alone. */
function expectedRowBytes(cacheType: KvCacheType, row: Float32Array): Uint8Array {
  const bytes = new Uint8Array(kvCacheRowBytes(cacheType));
  const view = new DataView(bytes.buffer);
  if (cacheType === "f16") {
    bytes.set(new Uint8Array(new Float16Array(row).buffer));
  } else if (cacheType === "q8_0") {
    for (let b = 0; b < K_DIM / 32; b++) {
      const { d, q } = quantizeInt8(row.subarray(b * 32, b * 32 + 32));
      view.setFloat16(b * 34, d, true);
      bytes.set(new Uint8Array(q.buffer), b * 34 + 2);
    }
  } else {
    const { d, q } = quantizeInt8(row);
    view.setFloat32(0, d, true);
    view.setInt32(4, q.reduce((a, x) => a + x, 0), true);
    bytes.set(new Uint8Array(q.buffer), 8);
  }
  return bytes;
}

for (const cacheType of ["f16", "q8_0", "q8_KV"] as const) {
  Deno.test(`writeKvRows ${cacheType} produces the reference bytes and leaves other rows alone`, () => {
    const nRows = 9;
    const rows = uniform(nRows * K_DIM, 3, 12);
    rows.fill(0, 2 * K_DIM, 3 * K_DIM); // an all-zero row: scale 0, quants 0
    rows[4 * K_DIM + 5] = 1e4; // one outlier dominating its block / row scale
    const rowBytes = kvCacheRowBytes(cacheType);
    const cache = new Uint8Array((nRows + 3) * rowBytes).fill(0xab);
    writeKvRows(cacheType, cache, 2, rows);
    for (let r = 0; r < nRows; r++) {
      const want = expectedRowBytes(cacheType, rows.subarray(r * K_DIM, (r + 1) * K_DIM));
      assert.deepEqual(cache.subarray((r + 2) * rowBytes, (r + 3) * rowBytes), want, `row ${r}`);
    }
    for (const r of [0, 1, nRows + 2]) {
      assert.ok(cache.subarray(r * rowBytes, (r + 1) * rowBytes).every((b) => b === 0xab));
    }
    const back = readKvRows(cacheType, cache, 2, nRows);
    for (let r = 0; r < nRows; r++) {
      const ref = quantizeRowRef(cacheType, rows.subarray(r * K_DIM, (r + 1) * K_DIM));
      for (let i = 0; i < K_DIM; i++) {
        assert.equal(back[r * K_DIM + i], Math.fround(ref.values[i]));
        // Dequantized values lie within the stated per-element bound of the source.
        assert.ok(Math.abs(back[r * K_DIM + i] - rows[r * K_DIM + i]) <= ref.errorBound[i]);
      }
    }
  });
}

/**
 * Quantization error against the unquantized float64 attention, for q8_0 and q8_KV:
 * - each cache element errs by e_k ≤ its stated bound (≤ d/2 plus the scale's rounding), and for
 *   q8_KV each query element by e_q ≤ d_q/2 (d_q = amax/63: queries keep 7 bits);
 * - so a score errs by Δ_r ≤ kqScale·(Σ_i |q_i|·e_k,i + Σ_i |k̂_i|·e_q,i) (+ f32 rounding, ≤ 1e-3
 *   of it here);
 * - softmax weights then move by a factor within e^{±2Δ}, so o moves by ≤ (e^{4Δ} − 1)·max|v̂|
 *   (two sides), plus the V element error max e_v (Σ p = 1).
 */
for (const cacheType of ["q8_0", "q8_KV"] as const) {
  Deno.test(`flashMla ${cacheType} error against unquantized data stays within the derived bound`, () => {
    const nKv = 777;
    const nHead = 16;
    const rowsF32 = uniform(nKv * K_DIM, 1, 31);
    const q = uniform(nHead * K_DIM, 0.5, 32);
    const cache = new Uint8Array(nKv * kvCacheRowBytes(cacheType));
    writeKvRows(cacheType, cache, 0, rowsF32);
    const exact = attentionRef({
      k: new Float64Array(rowsF32),
      nKv,
      q: new Float64Array(q),
      nTokens: 1,
      nHead,
      kqScale: KQ_SCALE,
    });
    const quantRows = Array.from(
      { length: nKv },
      (_, r) => quantizeRowRef(cacheType, rowsF32.subarray(r * K_DIM, (r + 1) * K_DIM)),
    );
    using pool = new ThreadPool(2);
    const { out } = flashMla(pool, { cacheType, cache, nKv, q, nHead, kqScale: KQ_SCALE });
    let worstRatio = 0;
    let sumSq = 0;
    for (let h = 0; h < nHead; h++) {
      const qh = q.subarray(h * K_DIM, (h + 1) * K_DIM);
      const dq = cacheType === "q8_KV" ? quantizeInt8(qh, QUERY_LEVELS).d : 0;
      let delta = 0;
      let vMax = 0;
      let eV = 0;
      for (const row of quantRows) {
        let d = 0;
        for (let i = 0; i < K_DIM; i++) {
          d += Math.abs(qh[i]) * row.errorBound[i] + Math.abs(row.values[i]) * dq / 2;
        }
        delta = Math.max(delta, KQ_SCALE * d * (1 + 1e-3));
        for (let c = 0; c < V_DIM; c++) {
          vMax = Math.max(vMax, Math.abs(row.values[c]));
          eV = Math.max(eV, row.errorBound[c]);
        }
      }
      const bound = Math.expm1(4 * delta) * vMax + eV + 1e-5;
      for (let c = 0; c < V_DIM; c++) {
        const err = Math.abs(out[h * V_DIM + c] - exact.out[h * V_DIM + c]);
        worstRatio = Math.max(worstRatio, err / bound);
        sumSq += err * err;
      }
    }
    assert.ok(worstRatio <= 1, `error reaches ${worstRatio} of the derived bound`);
    // The bound assumes every rounding aligned; the typical error is far smaller.
    const rms = Math.sqrt(sumSq / (nHead * V_DIM));
    assert.ok(rms < 0.01, `rms error ${rms}`);
    assert.ok(U32 > 0);
  });
}

Deno.test("flashMla rejects bad arguments with OptionError before calling native code", () => {
  using pool = new ThreadPool(2);
  const cache = new Uint8Array(10 * kvCacheRowBytes("f16"));
  const q = new Float32Array(16 * K_DIM);
  const base = { cacheType: "f16" as const, cache, nKv: 10, q, nHead: 16, kqScale: KQ_SCALE };
  assert.throws(() => flashMla(pool, { ...base, nKv: 11 }), /nKv 11 exceeds the cache's 10 rows/);
  assert.throws(() => flashMla(pool, { ...base, nKv: 0 }), OptionError);
  assert.throws(() => flashMla(pool, { ...base, nHead: 15 }), OptionError);
  assert.throws(() => flashMla(pool, { ...base, q: new Float32Array(100) }), OptionError);
  assert.throws(
    () => flashMla(pool, { ...base, cacheType: "q4_0" as unknown as KvCacheType }),
    /Cache type must be one of f16, q8_0, q8_KV, got "q4_0"/,
  );
  assert.throws(
    () => flashMla(pool, { ...base, strategy: "fast" as unknown as "auto" }),
    /Strategy must be one of/,
  );
  assert.throws(() => flashMla(pool, { ...base, kqScale: NaN }), /kqScale must be finite/);
  assert.throws(
    () => flashMla(pool, { ...base, positions: new Int32Array([10]) }),
    /positions\[0\] = 10 is outside the cache's rows 0..9/,
  );
  assert.throws(() => flashMla(pool, { ...base, positions: new Int32Array(2) }), OptionError);
  assert.throws(() => flashMla(pool, { ...base, out: new Float32Array(5) }), OptionError);
  assert.throws(
    () => flashMla(pool, { ...base, scratch: new Uint8Array(16) }),
    /scratch must hold/,
  );
  const twenty = new Float32Array(20 * 16 * K_DIM);
  assert.throws(() => flashMla(pool, { ...base, q: twenty, nTokens: 20 }), /need positions/);
  assert.throws(
    () => writeKvRows("f16", cache, 9, new Float32Array(2 * K_DIM)),
    /Rows 9..11 do not fit a f16 cache of 10 rows/,
  );
  assert.throws(() => writeKvRows("f16", cache, 0, new Float32Array(575)), OptionError);
  assert.throws(() => readKvRows("q8_0", cache, -1, 1), OptionError);
  assert.throws(
    () => flashMlaScratchBytes({ cacheType: "f16", nTokens: 0, nHead: 16, threads: 2 }),
    OptionError,
  );
});

Deno.test("flashMla auto reports the strategy it ran and reuses a caller's scratch", () => {
  using pool = new ThreadPool(2);
  const nKv = 4096;
  const cache = new Uint8Array(nKv * kvCacheRowBytes("q8_KV"));
  writeKvRows("q8_KV", cache, 0, uniform(nKv * K_DIM, 1, 3));
  const q = uniform(16 * K_DIM, 1, 4);
  const scratch = new Uint8Array(
    flashMlaScratchBytes({ cacheType: "q8_KV", nTokens: 1, nHead: 16, threads: 2 }),
  );
  const out = new Float32Array(16 * V_DIM);
  const deep = flashMla(pool, {
    cacheType: "q8_KV",
    cache,
    nKv,
    q,
    nHead: 16,
    kqScale: KQ_SCALE,
    out,
    scratch,
  });
  assert.equal(deep.strategy, "kvsplit");
  assert.equal(deep.out, out);
  const shallow = flashMla(pool, {
    cacheType: "q8_KV",
    cache,
    nKv: 8,
    q,
    nHead: 16,
    kqScale: KQ_SCALE,
  });
  assert.equal(shallow.strategy, "heads");
});
