/**
 * `deno bench bench/flash_mla_bench.ts`: one layer of FlashMLA (16 heads, V2-Lite scale) on 2
 * threads — token generation at depth 4096 per cache type and strategy, and a 64-token causal
 * prefill chunk on top of 2048 rows.
 * @module
 */
import { ThreadPool } from "../src/thread_pool.ts";
import {
  flashMla,
  flashMlaScratchBytes,
  kvCacheRowBytes,
  type KvCacheType,
  MLA_K_DIM,
  MLA_V_DIM,
  writeKvRows,
} from "../src/kernels/flash_mla.ts";

const HEADS = 16;
const KQ_SCALE = 0.1147214;
const N_KV = 4096;
const pool = new ThreadPool(2);

function randomRows(n: number, seed: number): Float32Array {
  const rows = new Float32Array(n * MLA_K_DIM);
  let s = seed >>> 0;
  for (let i = 0; i < rows.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    rows[i] = (s / 2 ** 32) * 2 - 1;
  }
  return rows;
}

for (const cacheType of ["f16", "q8_0", "q8_KV"] as KvCacheType[]) {
  const cache = new Uint8Array(N_KV * kvCacheRowBytes(cacheType));
  writeKvRows(cacheType, cache, 0, randomRows(N_KV, 1));
  const q = randomRows(HEADS, 2);
  const out = new Float32Array(HEADS * MLA_V_DIM);
  const scratch = new Uint8Array(
    flashMlaScratchBytes({ cacheType, nTokens: 64, nHead: HEADS, threads: 2 }),
  );
  for (const strategy of ["heads", "kvsplit"] as const) {
    Deno.bench(
      `flashMla tg ${cacheType} ${strategy} n_kv=${N_KV}`,
      { group: `tg ${cacheType}` },
      () => {
        flashMla(pool, {
          cacheType,
          cache,
          nKv: N_KV,
          q,
          nHead: HEADS,
          kqScale: KQ_SCALE,
          strategy,
          out,
          scratch,
        });
      },
    );
  }
  const qBatch = randomRows(64 * HEADS, 3);
  const outBatch = new Float32Array(64 * HEADS * MLA_V_DIM);
  const positions = Int32Array.from({ length: 64 }, (_, t) => 2048 + t);
  Deno.bench(`flashMla prefill ${cacheType} 64 tokens at depth 2048`, () => {
    flashMla(pool, {
      cacheType,
      cache,
      nKv: N_KV,
      q: qBatch,
      nHead: HEADS,
      positions,
      kqScale: KQ_SCALE,
      out: outBatch,
      scratch,
    });
  });
}

const sourceRows = randomRows(512, 5);
const q8Cache = new Uint8Array(512 * kvCacheRowBytes("q8_KV"));
Deno.bench("writeKvRows q8_KV 512 rows", () => {
  writeKvRows("q8_KV", q8Cache, 0, sourceRows);
});
