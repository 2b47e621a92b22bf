/**
 * A native thread pool handle and the default thread count (physical cores).
 * @module
 */
import { native } from "../ffi/library.ts";
import { unwrap } from "../ffi/status.ts";
import { OptionError } from "./errors.ts";

/** Most threads a pool may have (mirrors `ThreadPool.n_threads_max`). */
export const THREADS_MAX = 64;

/**
 * Number of physical cores, read from /proc/cpuinfo; falls back to the logical count.
 *
 * @returns A thread count of at least 1.
 */
export function physicalCoreCount(): number {
  try {
    const text = Deno.readTextFileSync("/proc/cpuinfo");
    const cores = new Set<string>();
    let physicalId = "0";
    for (const line of text.split("\n")) {
      const [key, value] = line.split(":").map((s) => s?.trim());
      if (key === "physical id") physicalId = value;
      if (key === "core id") cores.add(`${physicalId}:${value}`);
    }
    if (cores.size > 0) return Math.min(cores.size, THREADS_MAX);
  } catch {
    // Not Linux or not readable: fall through to the logical count.
  }
  return Math.max(1, Math.min(navigator.hardwareConcurrency ?? 1, THREADS_MAX));
}

/**
 * Persistent native worker threads; `close()` joins them exactly once.
 *
 * @example
 * ```ts
 * import { ThreadPool } from "./thread_pool.ts";
 * using pool = new ThreadPool(2);
 * console.log(pool.threads);
 * ```
 */
export class ThreadPool {
  #handle: Deno.PointerValue;
  /** Number of threads, the calling thread included. */
  readonly threads: number;

  /** Starts `threads` threads (default: physical cores). */
  constructor(threads: number = physicalCoreCount()) {
    if (!Number.isInteger(threads) || threads < 1 || threads > THREADS_MAX) {
      throw new OptionError(
        `Option "threads" must be an integer between 1 and ${THREADS_MAX}, got ${threads}`,
      );
    }
    const out = new BigUint64Array(1);
    unwrap(native().fm_pool_create(threads, out), `starting ${threads} threads`);
    this.#handle = Deno.UnsafePointer.create(out[0]);
    this.threads = threads;
  }

  /** The native handle; throws once the pool is closed. */
  get handle(): Deno.PointerObject {
    if (this.#handle === null) throw new OptionError("The thread pool is closed");
    return this.#handle;
  }

  /** Joins the threads; safe to call twice. */
  close(): void {
    if (this.#handle === null) return;
    const handle = this.#handle;
    this.#handle = null;
    unwrap(native().fm_pool_destroy(handle), "stopping the thread pool");
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
