import assert from "node:assert/strict";
import { ThreadPool } from "../src/thread_pool.ts";
import {
  FMA_MACS_PER_ITERATION,
  INT8_MACS_PER_ITERATION,
  measureFmaPeak,
  measureInt8Peak,
  measureReadBandwidth,
  measureReadBandwidthOf,
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

Deno.test("measureReadBandwidthOf reads a caller's buffer in whole slices and leaves it as it was", () => {
  using pool = new ThreadPool(2);
  const MiB = 1 << 20;
  // One byte more than 3 slices, and a view starting off alignment: the tail is left out.
  const storage = new Uint8Array(3 * 4 * MiB + 2);
  for (let i = 0; i < storage.length; i++) storage[i] = (i * 7) & 255;
  const buffer = storage.subarray(1);
  for (const threads of [1, 2]) {
    const r = measureReadBandwidthOf(pool, buffer, { sliceBytes: 4 * MiB, reps: 6, threads });
    assert.equal(r.bytes, 4 * MiB);
    assert.equal(r.bufferBytes, 12 * MiB);
    assert.equal(r.gbPerSecond, r.bytes / r.bestNs);
    assert.ok(r.bestNs > (4 * MiB) / 64 / threads / GHZ_MAX, `${r.bestNs} ns is impossibly fast`);
  }
  for (let i = 0; i < storage.length; i += 4093) assert.equal(storage[i], (i * 7) & 255);
  // A slice size that is not a whole number of 256-byte chunks is rounded down.
  assert.equal(measureReadBandwidthOf(pool, buffer, { sliceBytes: 1000, reps: 1 }).bytes, 768);
  assert.throws(() => measureReadBandwidthOf(pool, new Uint8Array(100)), /at least 256 bytes/);
  assert.throws(() => measureReadBandwidthOf(pool, buffer, { sliceBytes: 10 }), /sliceBytes/);
  assert.throws(() => measureReadBandwidthOf(pool, buffer, { threads: 3 }), OptionError);
});

Deno.test("probes reject thread counts beyond the pool and tiny buffers", () => {
  using pool = new ThreadPool(1);
  assert.throws(() => measureFmaPeak(pool, { threads: 2 }), OptionError);
  assert.throws(() => measureInt8Peak(pool, { iterations: 0 }), /iterations/);
  assert.throws(() => measureReadBandwidth(pool, { bytes: 1000 }), /≥ 1 MiB/);
  assert.throws(() => measureReadBandwidth(pool, { bytes: 4 << 20, slices: 8 }), /slices ≥ 1 MiB/);
  assert.throws(() => measureReadBandwidth(pool, { reps: 0 }), /reps/);
});
