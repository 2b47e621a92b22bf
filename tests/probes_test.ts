import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import {
  FMA_MACS_PER_ITERATION,
  INT8_MACS_PER_ITERATION,
  measureFmaPeak,
  measureInt8Peak,
  measureReadBandwidth,
} from "../src/kernels/probes.ts";
import { OptionError } from "../src/errors.ts";

// Upper bounds no x86 core of this class can beat at ≤ 6 GHz: they catch a probe whose work the
// compiler removed (which would report absurd rates), not slowness, which a loaded machine causes.
const GHZ_MAX = 6;
const FMA_GMAC_PER_THREAD_MAX = GHZ_MAX * 2 * 8; // 2 FMA ports × 8 f32 lanes
const INT8_GMAC_PER_THREAD_MAX = GHZ_MAX * 2 * 32; // ≤ 2 vpmaddubsw per cycle × 32 byte pairs

Deno.test("measureFmaPeak and measureInt8Peak report positive rates below the hardware ceiling", () => {
  using pool = new ThreadPool(2);
  for (const threads of [1, 2]) {
    const fma = measureFmaPeak(pool, { threads, iterations: 100_000, reps: 3 });
    assert.equal(fma.threads, threads);
    assert.ok(fma.bestNs > 0);
    assert.ok(fma.gmacPerSecond > 0.1 && fma.gmacPerSecond < threads * FMA_GMAC_PER_THREAD_MAX);
    assert.equal(fma.gopPerSecond, 2 * fma.gmacPerSecond);
    assert.ok(
      Math.abs(fma.gmacPerSecond - (threads * 100_000 * FMA_MACS_PER_ITERATION) / fma.bestNs) <
        1e-9,
    );
    const int8 = measureInt8Peak(pool, { threads, iterations: 50_000, reps: 3 });
    assert.ok(int8.gmacPerSecond > 0.1 && int8.gmacPerSecond < threads * INT8_GMAC_PER_THREAD_MAX);
    assert.ok(
      Math.abs(int8.gmacPerSecond - (threads * 50_000 * INT8_MACS_PER_ITERATION) / int8.bestNs) <
        1e-9,
    );
  }
});

Deno.test("measureReadBandwidth times whole slices of a buffer larger than L3", () => {
  using pool = new ThreadPool(2);
  const MiB = 1 << 20;
  for (const threads of [1, 2]) {
    const r = measureReadBandwidth(pool, { bytes: 64 * MiB, slices: 4, reps: 4, threads });
    assert.equal(r.bufferBytes, 64 * MiB);
    assert.equal(r.bytes, 16 * MiB);
    assert.equal(r.gbPerSecond, r.bytes / r.bestNs);
    // 16 MiB cannot be summed faster than ~0.1 ms (≥ 1 cycle per 64 bytes per thread at 6 GHz).
    assert.ok(r.bestNs > (16 * MiB) / 64 / threads / GHZ_MAX, `${r.bestNs} ns is impossibly fast`);
  }
});

Deno.test("probes reject thread counts beyond the pool and tiny buffers", () => {
  using pool = new ThreadPool(1);
  assert.throws(() => measureFmaPeak(pool, { threads: 2 }), OptionError);
  assert.throws(() => measureInt8Peak(pool, { iterations: 0 }), /iterations/);
  assert.throws(() => measureReadBandwidth(pool, { bytes: 1000 }), /≥ 1 MiB/);
  assert.throws(() => measureReadBandwidth(pool, { bytes: 4 << 20, slices: 8 }), /slices ≥ 1 MiB/);
  assert.throws(() => measureReadBandwidth(pool, { reps: 0 }), /reps/);
});
