/**
 * Matrix × activations through the Zig GEMV/GEMM kernel, with ggml semantics: a weight of
 * ne = {k, n} holds n rows of k elements and `y[t][j] = Σ_i W[j][i]·x[t][i]`.
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";
import type { GgmlTypeId } from "../ggml_types.ts";
import type { ThreadPool } from "../thread_pool.ts";
import { checkRowLength, weightRowBytes } from "./quants.ts";

/**
 * Scratch bytes one matmul of `t` tokens needs (quantized activations plus a counter line).
 *
 * @param type The weight type.
 * @param k Elements per row.
 * @param t Tokens.
 * @returns Bytes.
 * @example
 * ```ts
 * matmulScratchBytes(GgmlType.IQ4_NL, 2048, 1); // 128 + 4096 (chunk queues) + 2560
 * ```
 */
export function matmulScratchBytes(type: GgmlTypeId, k: number, t: number): number {
  checkRowLength(type, k);
  checkCount("t", t);
  const out = new BigUint64Array(1);
  unwrap(
    native().fm_matmul_scratch_bytes(type, BigInt(k), BigInt(t), out),
    "sizing matmul scratch",
  );
  return Number(out[0]);
}

/** Operands of one matmul. */
export interface MatmulOptions {
  /** Weight type. */
  type: GgmlTypeId;
  /** n rows of `rowBytes ?? weightRowBytes(type, k)` bytes. */
  weight: Uint8Array;
  /** Elements per weight row (the reduction length). */
  k: number;
  /** Weight rows (outputs per token). */
  n: number;
  /** (t, k) f32 activations. */
  x: Float32Array;
  /** Tokens; default `x.length / k`. */
  t?: number;
  /** Bytes between weight rows; default the packed row size. */
  rowBytes?: number;
  /** (t, n) output; allocated when absent. */
  y?: Float32Array;
  /** Reusable scratch of at least `matmulScratchBytes` bytes; allocated when absent. */
  scratch?: Uint8Array;
}

/**
 * Computes y = W·x for every token on the pool's threads.
 *
 * @param pool The thread pool.
 * @param options The operands.
 * @returns The (t, n) output.
 * @example
 * ```ts
 * using pool = new ThreadPool(2);
 * const weight = quantizeRow(GgmlType.Q8_0, new Float32Array(64).fill(0.5));
 * const y = matmul(pool, { type: GgmlType.Q8_0, weight, k: 64, n: 1, x: new Float32Array(64).fill(1) });
 * ```
 */
export function matmul(pool: ThreadPool, options: MatmulOptions): Float32Array {
  const { type, weight, k, n, x } = options;
  const packed = weightRowBytes(type, k);
  const rowBytes = options.rowBytes ?? packed;
  const t = options.t ?? x.length / k;
  checkCount("n", n);
  checkCount("t", t);
  if (!Number.isInteger(rowBytes) || rowBytes < packed) {
    throw new OptionError(`rowBytes must be an integer ≥ ${packed}, got ${rowBytes}`);
  }
  if (weight.byteLength < (n - 1) * rowBytes + packed) {
    throw new OptionError(
      `A weight of ${n} rows × ${rowBytes} bytes needs ${
        (n - 1) * rowBytes + packed
      } bytes, got ${weight.byteLength}`,
    );
  }
  if (x.length < t * k) throw new OptionError(`x needs ${t * k} elements, got ${x.length}`);
  const y = options.y ?? new Float32Array(t * n);
  if (y.length < t * n) throw new OptionError(`y needs ${t * n} elements, got ${y.length}`);
  const scratchBytes = matmulScratchBytes(type, k, t);
  const scratch = options.scratch ?? new Uint8Array(scratchBytes);
  if (scratch.byteLength < scratchBytes) {
    throw new OptionError(`scratch needs ${scratchBytes} bytes, got ${scratch.byteLength}`);
  }
  unwrap(
    native().fm_matmul(
      pool.handle,
      type,
      weight,
      BigInt(rowBytes),
      BigInt(k),
      BigInt(n),
      x,
      BigInt(t),
      y,
      scratch,
      BigInt(scratch.byteLength),
    ),
    `multiplying a ${n}×${k} matrix by ${t} token(s)`,
  );
  return y;
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new OptionError(`${name} must be a positive integer, got ${value}`);
  }
}
