/**
 * Shared pieces of the GEMV benchmarks: V2-Lite shapes, weight sets large enough to come from
 * DRAM, and the read-bandwidth / int8 / FMA probes of src/kernels/probes.ts.
 * @module
 */
import type { GgmlTypeId } from "../src/ggml_types.ts";
import { kernelType, weightRowBytes } from "../src/kernels/quants.ts";
import type { ThreadPool } from "../src/thread_pool.ts";
import { measureFmaPeak, measureInt8Peak, measureReadBandwidth } from "../src/kernels/probes.ts";
import { randomWeight, rng } from "../tests/quants_helpers.ts";

/** DeepSeek-V2-Lite matmul shapes: k inputs × n outputs. */
export const SHAPES = [
  { name: "attn_q 2048→3072", k: 2048, n: 3072 },
  { name: "attn_output 2048→2048", k: 2048, n: 2048 },
  { name: "ffn_up 2048→10944", k: 2048, n: 10944 },
  { name: "ffn_down 10944→2048", k: 10944, n: 2048 },
  { name: "expert_up 2048→1408", k: 2048, n: 1408 },
  { name: "expert_down 1408→2048", k: 1408, n: 2048 },
  { name: "output 2048→102400", k: 2048, n: 102400 },
] as const;

/** Bytes of distinct weights one measurement cycles through so they stream from DRAM. */
export const DRAM_SET_BYTES = 288 * 2 ** 20;

/** Whether a type can hold a row of k elements (K-quants need k % 256 == 0). */
export function fits(type: GgmlTypeId, k: number): boolean {
  return k % kernelType(type).blockElements === 0;
}

/** `copies` distinct copies of one random matrix in one buffer (copy i at i·matrixBytes). */
export function weightSet(type: GgmlTypeId, k: number, n: number, minBytes: number) {
  const matrixBytes = weightRowBytes(type, k) * n;
  const copies = Math.max(1, Math.ceil(minBytes / matrixBytes));
  const one = randomWeight(type, k, n, rng(k + n + type));
  const buffer = new Uint8Array(matrixBytes * copies);
  for (let i = 0; i < copies; i++) buffer.set(one, i * matrixBytes);
  return { buffer, matrixBytes, copies };
}

/** DRAM read bandwidth in GB/s on `threads` threads (the probes module's best 32 MiB slice). */
export function readBandwidthGBs(pool: ThreadPool, threads: number): number {
  return measureReadBandwidth(pool, { threads }).gbPerSecond;
}

/** int8 multiply-add peak in GMAC/s on `threads` threads (vpmaddubsw chains). */
export function int8PeakGmacs(pool: ThreadPool, threads: number): number {
  return measureInt8Peak(pool, { threads }).gmacPerSecond;
}

/** f32 FMA peak in GFLOP/s (2 per multiply-add) on `threads` threads. */
export function fmaPeakGflops(pool: ThreadPool, threads: number): number {
  return measureFmaPeak(pool, { threads }).gopPerSecond;
}
