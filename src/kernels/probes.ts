/**
 * Machine-limit probes run on the native pool: DRAM read bandwidth, f32 FMA peak and int8
 * (vpmaddubsw) peak. Benchmarks state their figures as fractions of these, measured in the same
 * run. Each probe reports the best of a few repetitions (the least disturbed one on a shared
 * machine). Multiply-adds (MAC) and operations (2 per MAC) are both reported, so a figure
 * quoted either way can be compared.
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";
import type { ThreadPool } from "../thread_pool.ts";

/** Bytes each thread's read loop consumes per iteration (mirrors `probes.read_chunk_bytes`). */
export const READ_CHUNK_BYTES = 256;
/** f32 multiply-adds per FMA-probe iteration per thread (12 chains × 8 lanes). */
export const FMA_MACS_PER_ITERATION = 96;
/** u8×i8 multiply-adds per int8-probe iteration per thread (8 vpmaddubsw × 32). */
export const INT8_MACS_PER_ITERATION = 256;
/** Default buffer of the bandwidth probe: 16× the 32 MB L3, so reads come from DRAM. */
export const READ_BYTES_DEFAULT = 512 * 1024 * 1024;
/** Default slices the buffer is read in, one per repetition, in turn. */
export const READ_SLICES_DEFAULT = 16;

function threadsUsed(pool: ThreadPool, threads: number | undefined): number {
  const used = threads ?? pool.threads;
  if (!Number.isInteger(used) || used < 1 || used > pool.threads) {
    throw new OptionError(
      `Option "threads" must be an integer in 1..${pool.threads} (the pool's size), got ${used}`,
    );
  }
  return used;
}

function repsOf(reps: number | undefined, fallback: number): number {
  const value = reps ?? fallback;
  if (!Number.isInteger(value) || value < 1 || value > 1000) {
    throw new OptionError(`Option "reps" must be an integer in 1..1000, got ${value}`);
  }
  return value;
}

/** Options of {@linkcode measureReadBandwidth}. */
export interface ReadBandwidthOptions {
  /** Buffer size; default 512 MiB (rounded down to whole slices of whole 256-byte chunks). */
  bytes?: number;
  /**
   * Slices the buffer is cut into; repetition r times one slice (r mod slices), so a slice is
   * read again only after the others have pushed it out of L3, and each timing is short enough
   * that on a shared machine some run undisturbed. Default 16 (32 MiB slices of 512 MiB).
   */
  slices?: number;
  /** Timed slice reads; the best counts. Default 48 (three passes over the buffer). */
  reps?: number;
  /** Threads of the pool that read; default all. */
  threads?: number;
}

/** A bandwidth measurement. */
export interface ReadBandwidth {
  /** Threads that read. */
  threads: number;
  /** Bytes read per timed repetition (one slice). */
  bytes: number;
  /** Bytes of the whole buffer. */
  bufferBytes: number;
  /** Best repetition, nanoseconds. */
  bestNs: number;
  /** bytes / bestNs: decimal GB/s. */
  gbPerSecond: number;
}

/**
 * Read bandwidth: sums a freshly filled buffer (far larger than L3) with AVX2 loads on
 * `threads` threads, best of `reps` passes.
 *
 * @param pool Threads to run on.
 * @param options Buffer size, repetitions, threads.
 * @returns The best pass as GB/s.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(2);
 * const { gbPerSecond } = measureReadBandwidth(pool, { threads: 2 });
 * ```
 */
export function measureReadBandwidth(
  pool: ThreadPool,
  options: ReadBandwidthOptions = {},
): ReadBandwidth {
  const requested = options.bytes ?? READ_BYTES_DEFAULT;
  if (!Number.isSafeInteger(requested) || requested < 1 << 20) {
    throw new OptionError(`Option "bytes" must be an integer ≥ 1 MiB, got ${requested}`);
  }
  const slices = options.slices ?? READ_SLICES_DEFAULT;
  if (!Number.isInteger(slices) || slices < 1 || slices > 1024) {
    throw new OptionError(`Option "slices" must be an integer in 1..1024, got ${slices}`);
  }
  const sliceBytes = Math.floor(requested / slices / READ_CHUNK_BYTES) * READ_CHUNK_BYTES;
  if (sliceBytes < 1 << 20) {
    throw new OptionError(`Option "bytes" / "slices" must leave slices ≥ 1 MiB, got ${sliceBytes}`);
  }
  const bufferBytes = sliceBytes * slices;
  const threads = threadsUsed(pool, options.threads);
  const reps = repsOf(options.reps, 48);
  const out = new BigUint64Array(1);
  unwrap(
    native().fm_probe_read_bandwidth(
      pool.handle,
      BigInt(bufferBytes),
      BigInt(sliceBytes),
      threads,
      reps,
      out,
    ),
    `measuring read bandwidth over ${bufferBytes} bytes on ${threads} threads`,
  );
  const bestNs = Number(out[0]);
  return { threads, bytes: sliceBytes, bufferBytes, bestNs, gbPerSecond: sliceBytes / bestNs };
}

/** Options of {@link measureReadBandwidthOf}. */
export interface BufferReadOptions {
  /** Threads that read (default: all of the pool's). */
  threads?: number;
  /** Bytes read per timed repetition; rounded down to whole 256-byte chunks. Default: all. */
  sliceBytes?: number;
  /** Timed slice reads, cycling through the buffer's whole slices; the best counts. Default 16. */
  reps?: number;
}

/**
 * Read bandwidth over a buffer the caller already filled, which is only read: a benchmark probes
 * the very bytes its kernel streams (same pages, same placement), right before and after the
 * kernel, so "% of the probe" compares like with like on a machine whose bandwidth drifts.
 * Repetition r sums slice r mod (whole slices of the buffer).
 *
 * @param pool Threads to run on.
 * @param buffer Bytes to read (at least one 256-byte chunk).
 * @param options Threads, slice size and repetitions.
 * @returns The best repetition: bytes of one slice over its nanoseconds.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(1);
 * const weights = new Uint8Array(64 << 20).fill(1);
 * console.log(measureReadBandwidthOf(pool, weights, { sliceBytes: 16 << 20 }).gbPerSecond);
 * ```
 */
export function measureReadBandwidthOf(
  pool: ThreadPool,
  buffer: Uint8Array,
  options: BufferReadOptions = {},
): ReadBandwidth {
  if (buffer.length < READ_CHUNK_BYTES) {
    throw new OptionError(
      `The buffer must hold at least ${READ_CHUNK_BYTES} bytes, got ${buffer.length}`,
    );
  }
  const requested = options.sliceBytes ?? buffer.length;
  if (!Number.isSafeInteger(requested) || requested < READ_CHUNK_BYTES) {
    throw new OptionError(
      `Option "sliceBytes" must be an integer ≥ ${READ_CHUNK_BYTES}, got ${requested}`,
    );
  }
  const sliceBytes = Math.floor(Math.min(requested, buffer.length) / READ_CHUNK_BYTES) *
    READ_CHUNK_BYTES;
  const bufferBytes = Math.floor(buffer.length / sliceBytes) * sliceBytes;
  const threads = threadsUsed(pool, options.threads);
  const reps = repsOf(options.reps, 16);
  const out = new BigUint64Array(1);
  unwrap(
    native().fm_probe_read_buffer(
      pool.handle,
      buffer,
      BigInt(bufferBytes),
      BigInt(sliceBytes),
      threads,
      reps,
      out,
    ),
    `measuring read bandwidth over a ${buffer.length}-byte buffer on ${threads} threads`,
  );
  const bestNs = Number(out[0]);
  return { threads, bytes: sliceBytes, bufferBytes, bestNs, gbPerSecond: sliceBytes / bestNs };
}

/** Options of the compute peak probes. */
export interface PeakOptions {
  /** Inner-loop iterations per thread per repetition; default 500,000 (~1-4 ms each). */
  iterations?: number;
  /** Timed repetitions; the best counts. Default 30 (short runs: some go undisturbed). */
  reps?: number;
  /** Threads of the pool that compute; default all. */
  threads?: number;
}

/** A compute peak measurement. */
export interface ComputePeak {
  /** Threads that computed. */
  threads: number;
  /** Best repetition, nanoseconds. */
  bestNs: number;
  /** Billions of multiply-adds per second, all threads together. */
  gmacPerSecond: number;
  /** Billions of operations per second (2 per multiply-add): GFLOP/s for f32, GOP/s for int8. */
  gopPerSecond: number;
}

function peak(
  pool: ThreadPool,
  options: PeakOptions,
  which: "fma" | "int8",
): ComputePeak {
  const threads = threadsUsed(pool, options.threads);
  const reps = repsOf(options.reps, 30);
  const iterations = options.iterations ?? 500_000;
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new OptionError(`Option "iterations" must be a positive integer, got ${iterations}`);
  }
  const out = new BigUint64Array(1);
  const symbols = native();
  const call = which === "fma" ? symbols.fm_probe_fma_peak : symbols.fm_probe_int8_peak;
  unwrap(
    call(pool.handle, BigInt(iterations), threads, reps, out),
    `measuring the ${which} peak on ${threads} threads`,
  );
  const bestNs = Number(out[0]);
  const macsPerIteration = which === "fma" ? FMA_MACS_PER_ITERATION : INT8_MACS_PER_ITERATION;
  const gmacPerSecond = (threads * iterations * macsPerIteration) / bestNs;
  return { threads, bestNs, gmacPerSecond, gopPerSecond: 2 * gmacPerSecond };
}

/**
 * f32 FMA peak: 12 independent 8-lane vfmadd chains per thread (enough to fill both FMA ports),
 * best of `reps`.
 *
 * @param pool Threads to run on.
 * @param options Iterations, repetitions, threads.
 * @returns Multiply-adds and FLOPs per second.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(2);
 * console.log(measureFmaPeak(pool).gopPerSecond, "GFLOP/s");
 * ```
 */
export function measureFmaPeak(pool: ThreadPool, options: PeakOptions = {}): ComputePeak {
  return peak(pool, options, "fma");
}

/**
 * int8 peak: vpmaddubsw → vpmaddwd → vpaddd on 8 independent accumulators per thread (the
 * instruction mix of every int8 dot product here), best of `reps`. One MAC = one u8×i8 product.
 *
 * @param pool Threads to run on.
 * @param options Iterations, repetitions, threads.
 * @returns Multiply-adds and operations per second.
 * @example
 * ```ts
 * import { ThreadPool } from "../thread_pool.ts";
 * using pool = new ThreadPool(2);
 * console.log(measureInt8Peak(pool).gopPerSecond, "GOP/s");
 * ```
 */
export function measureInt8Peak(pool: ThreadPool, options: PeakOptions = {}): ComputePeak {
  return peak(pool, options, "int8");
}
