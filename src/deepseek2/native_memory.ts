/**
 * Native memory for planned buffers (activations, scratch, KV cache, owned weights): zeroed,
 * page-aligned, allocated once by `fm_graph_alloc` and freed exactly once.
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";

/**
 * One native allocation. Pages are committed lazily by the OS, so a large buffer whose tail is
 * never touched (a logits area sized for the largest batch) costs address space only.
 *
 * @example
 * ```ts ignore
 * using buffer = new NativeBuffer(4096);
 * buffer.f32(0, 4)[0] = 1;
 * ```
 */
export class NativeBuffer implements Disposable {
  #address: bigint;
  /** Size in bytes. */
  readonly bytes: number;

  /** Allocates `bytes` zeroed bytes. */
  constructor(bytes: number) {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new OptionError(`Cannot allocate ${bytes} bytes of native memory`);
    }
    const out = new BigUint64Array(1);
    unwrap(native().fm_graph_alloc(BigInt(bytes), out), `allocating ${bytes} bytes`);
    this.#address = out[0];
    this.bytes = bytes;
  }

  /** Base address; throws once freed. */
  get address(): bigint {
    if (this.#address === 0n) throw new OptionError("Native buffer used after close()");
    return this.#address;
  }

  /** A byte view of [offset, offset + length). */
  u8(offset = 0, length = this.bytes - offset): Uint8Array {
    this.#check(offset, length);
    const pointer = Deno.UnsafePointer.create(this.address + BigInt(offset));
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer!, length));
  }

  /** A float view of `count` f32 at byte `offset` (4-aligned). */
  f32(offset: number, count: number): Float32Array {
    const bytes = this.u8(offset, count * 4);
    return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  }

  /** An int32 view of `count` values at byte `offset` (4-aligned). */
  i32(offset: number, count: number): Int32Array {
    const bytes = this.u8(offset, count * 4);
    return new Int32Array(bytes.buffer, bytes.byteOffset, count);
  }

  #check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes || offset % 4 !== 0) {
      throw new RangeError(`View [${offset}, ${offset + length}) is outside ${this.bytes} bytes`);
    }
  }

  /** Frees the memory; safe to call twice. Views must not be used afterwards. */
  close(): void {
    if (this.#address === 0n) return;
    const address = this.#address;
    this.#address = 0n;
    unwrap(native().fm_graph_free(address, BigInt(this.bytes)), "freeing native memory");
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
