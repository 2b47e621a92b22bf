/**
 * The MLA latent KV cache of one context: per layer `capacity` rows of 576 values
 * ([512 normed latent ‖ 64 roped key], MLA_SPEC §1.4 step 6) stored as f16, q8_0 or q8_KV —
 * 1152, 612 or 584 bytes a row. One native allocation, planned at context creation; rows are
 * written by the graph's kv_write nodes and never past `capacity`.
 * @module
 */
import { KV_CACHE_TYPE_IDS, kvCacheRowBytes, type KvCacheType } from "./kernels/flash_mla.ts";
import { NativeBuffer } from "./deepseek2/native_memory.ts";
import { OptionError } from "./errors.ts";

export type { KvCacheType } from "./kernels/flash_mla.ts";

/** Cache types a context accepts. */
export const KV_CACHE_TYPES: readonly KvCacheType[] = ["f16", "q8_0", "q8_KV"];

/**
 * A latent KV cache: layer `il` occupies bytes [il·capacity·rowBytes, (il+1)·capacity·rowBytes).
 *
 * @example
 * ```ts ignore
 * using cache = new KvCache({ nLayer: 27, capacity: 4096, type: "q8_KV" });
 * console.log(cache.bytes / 2 ** 20); // 61.6 MiB
 * ```
 */
export class KvCache implements Disposable {
  /** Storage type of the rows. */
  readonly type: KvCacheType;
  /** ggml type id of `type` (what the kernels take). */
  readonly typeId: number;
  /** Layers (one block of rows each). */
  readonly nLayer: number;
  /** Rows per layer (the context length). */
  readonly capacity: number;
  /** Bytes of one stored row. */
  readonly rowBytes: number;
  #memory: NativeBuffer;

  /** Allocates a zeroed cache. */
  constructor(opts: { nLayer: number; capacity: number; type: KvCacheType }) {
    if (!KV_CACHE_TYPES.includes(opts.type)) {
      throw new OptionError(
        `Option "cacheType" must be one of ${KV_CACHE_TYPES.join(", ")}, got "${opts.type}"`,
      );
    }
    if (!Number.isInteger(opts.capacity) || opts.capacity < 1) {
      throw new OptionError(`Option "ctxLen" must be a positive integer, got ${opts.capacity}`);
    }
    this.type = opts.type;
    this.typeId = KV_CACHE_TYPE_IDS[opts.type];
    this.nLayer = opts.nLayer;
    this.capacity = opts.capacity;
    this.rowBytes = kvCacheRowBytes(opts.type);
    this.#memory = new NativeBuffer(this.layerBytes * opts.nLayer);
  }

  /** Bytes per layer. */
  get layerBytes(): number {
    return this.capacity * this.rowBytes;
  }

  /** Total bytes. */
  get bytes(): number {
    return this.#memory.bytes;
  }

  /** Address of row 0 of layer `il`. */
  layerAddress(il: number): bigint {
    if (!Number.isInteger(il) || il < 0 || il >= this.nLayer) {
      throw new RangeError(`Layer ${il} is outside 0..${this.nLayer - 1}`);
    }
    return this.#memory.address + BigInt(il * this.layerBytes);
  }

  /** Raw bytes of layer `il`, rows [first, first + count). */
  rows(il: number, first: number, count: number): Uint8Array {
    return this.#memory.u8(il * this.layerBytes + first * this.rowBytes, count * this.rowBytes);
  }

  /** Frees the cache; safe to call twice. */
  close(): void {
    this.#memory.close();
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
