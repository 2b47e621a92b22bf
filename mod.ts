/**
 * flashmla-deno: DeepSeek-V2-class (MLA + MoE) GGUF models on the CPU, with SIMD multithreaded
 * Zig kernels behind Deno FFI.
 *
 * @example
 * ```ts
 * import { ThreadPool } from "@flashmla/deno";
 * using pool = new ThreadPool(2);
 * console.log(pool.threads);
 * ```
 * @module
 */
export {
  ContextOverflowError,
  FlashMlaError,
  GgufError,
  NativeError,
  OptionError,
} from "./src/errors.ts";
export { physicalCoreCount, ThreadPool } from "./src/thread_pool.ts";
