/**
 * `deno bench -A bench/ops_bench.ts`: the small ops on DeepSeek-V2-Lite shapes, one token (TG)
 * and a 512-token batch (PP), 2 threads. Each call here is a standalone FFI call plus one
 * `pool.run`, a few µs the graph executor does not pay (it runs every node inside one task), so
 * the one-token figures are an upper bound on an op's cost in the graph. On a loaded machine a
 * 2-thread call also waits for the sleeping worker to be scheduled again (deno bench leaves gaps
 * between calls longer than the pool's spin), which can cost milliseconds: compare with the
 * 1-thread group, which has no worker to wake.
 * @module
 */
import { ThreadPool } from "../src/thread_pool.ts";
import {
  elementwise,
  getRows,
  moeRoute,
  rmsNorm,
  rope,
  siluMul,
  softmax,
} from "../src/kernels/ops.ts";
import { deepseek2Rope } from "../src/kernels/rope_params.ts";
import { quantizeRow } from "../src/kernels/quants.ts";
import { GgmlType } from "../src/ggml_types.ts";

const pools = [new ThreadPool(1), new ThreadPool(2)];
const N_EMBD = 2048;
const random = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
const { params } = deepseek2Rope({
  nRot: 64,
  keyLength: 192,
  scalingType: "yarn",
  scalingFactor: 40,
  nCtxOrig: 4096,
  yarnLogMultiplier: 0.0707,
});

for (const [tokens, pool] of [[1, pools[0]], [1, pools[1]], [512, pools[1]]] as const) {
  const group = `${tokens === 1 ? "tg (1 token)" : "pp (512 tokens)"}, ${pool.threads} thread(s)`;
  const x = random(tokens * N_EMBD);
  const norm = random(N_EMBD);
  const q = random(tokens * 3072);
  const kv = random(tokens * 576);
  const positions = Int32Array.from({ length: tokens }, (_, i) => 1000 + i);
  const logits = random(tokens * 64);
  const gate = random(tokens * 10944);
  const up = random(tokens * 10944);
  const out = new Float32Array(tokens * 10944);

  Deno.bench(`rmsNorm ${tokens}×2048`, { group }, () => {
    rmsNorm(pool, { src: x, dst: out, rows: tokens, width: N_EMBD, weight: norm, eps: 1e-6 });
  });
  Deno.bench(`rmsNorm kv latent ${tokens}×512 of 576`, { group }, () => {
    rmsNorm(pool, { src: kv, rows: tokens, width: 512, rowStride: 576, eps: 1e-6 });
  });
  Deno.bench(`rope q ${tokens}×16 heads + kv`, { group }, () => {
    rope(pool, {
      src: q,
      positions,
      nHeads: 16,
      tokenStride: 3072,
      headStride: 192,
      offset: 128,
      params,
    });
    rope(pool, { src: kv, positions, tokenStride: 576, offset: 512, params });
  });
  Deno.bench(`softmax router ${tokens}×64`, { group }, () => {
    softmax(pool, { src: logits, dst: out, width: 64 });
  });
  Deno.bench(`moeRoute ${tokens}×64 → 6`, { group }, () => {
    moeRoute(pool, { logits, nExpert: 64, k: 6 });
  });
  for (const width of [10944, 1408]) {
    Deno.bench(`siluMul ${tokens}×${width}`, { group }, () => {
      siluMul(pool, { gate, up, dst: out, width, rows: tokens });
    });
  }
  Deno.bench(`add residual ${tokens}×2048`, { group }, () => {
    elementwise(pool, { op: "add", a: x, b: x, dst: out, width: N_EMBD, rows: tokens });
  });
  for (const type of [GgmlType.F16, GgmlType.Q8_0, GgmlType.IQ4_NL]) {
    const rows = 512;
    const parts = Array.from({ length: rows }, () => quantizeRow(type, random(N_EMBD)));
    const weight = new Uint8Array(parts.length * parts[0].length);
    parts.forEach((p, i) => weight.set(p, i * p.length));
    const ids = Int32Array.from({ length: tokens }, (_, i) => (i * 37) % rows);
    Deno.bench(`getRows type ${type} ${tokens}×2048`, { group }, () => {
      getRows(pool, { weight, type, width: N_EMBD, ids, dst: out });
    });
  }
}
