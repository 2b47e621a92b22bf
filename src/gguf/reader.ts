/**
 * `GgufFile`: a GGUF model memory-mapped by the native library (or parsed from bytes), with
 * typed metadata accessors and tensors as zero-copy views by name.
 * @module
 */
import { native } from "../../ffi/library.ts";
import { Status } from "../../ffi/status.ts";
import { GgufError } from "../errors.ts";
import { type GgufHeader, type GgufTensorInfo, parseGgufHeader } from "./header.ts";
import type { GgufValue } from "./values.ts";

export type { GgufTensorInfo } from "./header.ts";

/**
 * Sizes of the views the header is parsed from, tried in turn until one holds the whole
 * header. Small first: a multi-gigabyte external buffer costs V8 bookkeeping (~50 ms), and real
 * headers are a few MB. Tensor data is viewed per tensor instead.
 */
const HEADER_VIEW_BYTES = [16 << 20, 256 << 20, 2 ** 31 - 1];

const INTEGER_TYPES = new Set(["u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64"]);

interface Mapping {
  address: bigint;
  length: number;
}

/**
 * An open GGUF file. Opened with `GgufFile.open(path)` it is memory-mapped: nothing is read
 * until used, and `tensorBytes`/`tensorAddress` point into the mapping, valid until `close()`.
 *
 * @example
 * ```ts
 * import { GgufFile } from "./reader.ts";
 * using file = GgufFile.open("../shared/data/vocab/ggml-vocab-deepseek-llm.gguf");
 * console.log(file.getString("tokenizer.ggml.model"), file.getStringArray("tokenizer.ggml.tokens").length);
 * ```
 */
export class GgufFile implements Disposable {
  /** The file's path (or the name given to `fromBytes`). */
  readonly path: string;
  /** Format version, 2 or 3. */
  readonly version: number;
  /** Alignment of tensor data in bytes. */
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  /** File size in bytes. */
  readonly fileSize: number;
  /** Metadata values by key, in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensor infos by name, in file order. */
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
  #bytes: Uint8Array | undefined;
  #mapping: Mapping | undefined;
  #closed = false;
  #source: { closed: boolean } | undefined;

  private constructor(
    path: string,
    fileSize: number,
    header: GgufHeader,
    source: { bytes?: Uint8Array; mapping?: Mapping; source?: { closed: boolean } },
  ) {
    this.path = path;
    this.fileSize = fileSize;
    this.version = header.version;
    this.alignment = header.alignment;
    this.dataOffset = header.dataOffset;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.#bytes = source.bytes;
    this.#mapping = source.mapping;
    this.#source = source.source;
  }

  /**
   * Memory-maps and parses a GGUF file.
   *
   * @param path Path of the file.
   * @returns The open file; close it (or `using`) to unmap.
   * @throws {GgufError} When the file is missing, empty or malformed.
   */
  static open(path: string): GgufFile {
    const mapping = mapFile(path);
    try {
      const pointer = Deno.UnsafePointer.create(mapping.address);
      if (pointer === null) throw new GgufError(`Cannot map "${path}": null address`);
      for (const viewBytes of HEADER_VIEW_BYTES) {
        const length = Math.min(mapping.length, viewBytes);
        const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer, length));
        try {
          const source = { closed: false };
          const header = parseGgufHeader(bytes, mapping.length, source);
          return new GgufFile(path, mapping.length, header, { mapping, source });
        } catch (e) {
          // A header longer than the view fails like a truncated one: retry with more.
          if (!(e instanceof GgufError) || length === mapping.length || viewBytes === 2 ** 31 - 1) {
            throw e;
          }
        }
      }
      throw new GgufError(`Cannot map "${path}": no header view fits`);
    } catch (e) {
      native().fm_file_unmap(mapping.address, BigInt(mapping.length));
      // Name the file in the message but keep the error's field, tensor and offset.
      if (e instanceof GgufError) e.message = `Cannot read "${path}": ${e.message}`;
      throw e;
    }
  }

  /**
   * Parses a GGUF file held in memory (no native library needed).
   *
   * @param bytes The whole file.
   * @param name A name for messages.
   * @returns The parsed file; its tensor views alias `bytes`.
   * @throws {GgufError} When the bytes are not a valid GGUF file.
   */
  static fromBytes(bytes: Uint8Array, name = "<memory>"): GgufFile {
    return new GgufFile(name, bytes.length, parseGgufHeader(bytes, bytes.length), { bytes });
  }

  /** Whether metadata `key` is present. */
  has(key: string): boolean {
    return this.metadata.has(key);
  }

  /** The raw typed value of `key`; `GgufError` when missing. */
  get(key: string): GgufValue {
    const value = this.metadata.get(key);
    if (value === undefined) {
      throw new GgufError(`Metadata key "${key}" is missing from ${this.path}`, { field: key });
    }
    return value;
  }

  #wrongType(key: string, value: GgufValue, wanted: string): never {
    const got = value.type === "array" ? `array<${value.itemType}>` : value.type;
    throw new GgufError(`Metadata key "${key}" is a ${got}, not ${wanted}`, { field: key });
  }

  #integer(key: string, min: number, max: number, wanted: string): number {
    const v = this.get(key);
    if (!INTEGER_TYPES.has(v.type)) this.#wrongType(key, v, wanted);
    const n = Number(v.value);
    if (n < min || n > max) {
      throw new GgufError(`Metadata key "${key}" = ${v.value} does not fit a ${wanted}`, {
        field: key,
      });
    }
    return n;
  }

  /** An unsigned integer that fits in 32 bits (any integer type with such a value). */
  getU32(key: string): number {
    return this.#integer(key, 0, 0xffffffff, "u32");
  }

  /** A signed integer that fits in 32 bits (any integer type with such a value). */
  getI32(key: string): number {
    return this.#integer(key, -0x80000000, 0x7fffffff, "i32");
  }

  /** An unsigned 64-bit integer (any non-negative integer type), exactly. */
  getU64(key: string): bigint {
    const v = this.get(key);
    if (!INTEGER_TYPES.has(v.type)) this.#wrongType(key, v, "u64");
    const n = BigInt(v.value as number | bigint);
    if (n < 0n) {
      throw new GgufError(`Metadata key "${key}" = ${n} does not fit a u64`, { field: key });
    }
    return n;
  }

  /** A float (f32 or f64). */
  getF32(key: string): number {
    const v = this.get(key);
    if (v.type !== "f32" && v.type !== "f64") this.#wrongType(key, v, "f32");
    return v.value;
  }

  /** A boolean. */
  getBool(key: string): boolean {
    const v = this.get(key);
    if (v.type !== "bool") this.#wrongType(key, v, "bool");
    return v.value;
  }

  /** A string. */
  getString(key: string): string {
    const v = this.get(key);
    if (v.type !== "string") this.#wrongType(key, v, "string");
    return v.value;
  }

  /** An array of strings (frozen: decoded once and shared by every caller). */
  getStringArray(key: string): string[] {
    const v = this.get(key);
    if (v.type !== "array" || v.itemType !== "string") this.#wrongType(key, v, "array<string>");
    return v.value as string[];
  }

  /**
   * An array of numbers (any numeric item type; 64-bit items must be exact in a double).
   * Frozen: decoded once and shared by every caller.
   */
  getNumberArray(key: string): number[] {
    const v = this.get(key);
    if (v.type !== "array") this.#wrongType(key, v, "numeric array");
    if (v.itemType === "u64" || v.itemType === "i64") {
      return v.value.map((n) => {
        if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new GgufError(`Metadata key "${key}" holds ${n}, beyond 2^53`, { field: key });
        }
        return Number(n);
      });
    }
    if (v.itemType === "string" || v.itemType === "bool" || v.itemType === "array") {
      return this.#wrongType(key, v, "numeric array");
    }
    return v.value as number[];
  }

  /** `getU32(key)`, or `fallback` when the key is absent. */
  getU32Or(key: string, fallback: number): number {
    return this.has(key) ? this.getU32(key) : fallback;
  }

  /** `getF32(key)`, or `fallback` when the key is absent. */
  getF32Or(key: string, fallback: number): number {
    return this.has(key) ? this.getF32(key) : fallback;
  }

  /** `getBool(key)`, or `fallback` when the key is absent. */
  getBoolOr(key: string, fallback: boolean): boolean {
    return this.has(key) ? this.getBool(key) : fallback;
  }

  /** `getString(key)`, or `fallback` when the key is absent. */
  getStringOr(key: string, fallback: string): string {
    return this.has(key) ? this.getString(key) : fallback;
  }

  /** A tensor's info; `GgufError` when the file has no such tensor. */
  tensor(name: string): GgufTensorInfo {
    const info = this.tensors.get(name);
    if (info === undefined) {
      throw new GgufError(`Tensor "${name}" is not in ${this.path}`, { tensor: name });
    }
    return info;
  }

  #checkOpen(): void {
    if (this.#closed) throw new GgufError(`${this.path} is closed`);
  }

  /** A zero-copy view of a tensor's data, valid until `close()`. */
  tensorBytes(name: string): Uint8Array {
    this.#checkOpen();
    const info = this.tensor(name);
    if (this.#bytes !== undefined) {
      return this.#bytes.subarray(info.offset, info.offset + info.byteSize);
    }
    const mapping = this.#mapping!;
    const pointer = Deno.UnsafePointer.create(mapping.address + BigInt(info.offset));
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(pointer!, info.byteSize));
  }

  /** Absolute address of a tensor's data, for native calls (mapped files only). */
  tensorAddress(name: string): bigint {
    this.#checkOpen();
    const info = this.tensor(name);
    if (this.#mapping === undefined) {
      throw new GgufError(`${this.path} was parsed from bytes and has no native address`, {
        tensor: name,
      });
    }
    return this.#mapping.address + BigInt(info.offset);
  }

  /** The mapping's base address and length (mapped files only), e.g. for madvise calls. */
  get mapping(): { readonly address: bigint; readonly length: number } | undefined {
    return this.#closed ? undefined : this.#mapping;
  }

  /**
   * Unmaps the file; views from `tensorBytes` must not be used afterwards, and metadata arrays
   * not read before closing throw `GgufError` when read. Safe to call twice.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const mapping = this.#mapping;
    this.#mapping = undefined;
    this.#bytes = undefined;
    if (this.#source !== undefined) this.#source.closed = true;
    if (mapping !== undefined) native().fm_file_unmap(mapping.address, BigInt(mapping.length));
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function mapFile(path: string): Mapping {
  const address = new BigUint64Array(1);
  const length = new BigUint64Array(1);
  const code = native().fm_file_map(new TextEncoder().encode(`${path}\0`), address, length);
  if (code === Status.fileNotFound) {
    throw new GgufError(`Cannot open "${path}": the file does not exist`);
  }
  if (code === Status.invalidArgument) throw new GgufError(`Cannot open "${path}": it is empty`);
  if (code === Status.ioError) {
    throw new GgufError(`Cannot open "${path}": it cannot be read or memory-mapped (a directory?)`);
  }
  if (code !== Status.ok) throw new GgufError(`Cannot open "${path}": native status ${code}`);
  return { address: address[0], length: Number(length[0]) };
}
