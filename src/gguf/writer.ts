/**
 * Writes GGUF v3 files: header, metadata, tensor infos, padding, then each tensor's data padded
 * to the alignment. Tensor data is pulled from a callback one tensor at a time, in chunks, so
 * a multi-gigabyte model never sits in memory.
 * @module
 */
import { GgufError } from "../errors.ts";
import { ggmlTypeByName, type GgmlTypeInfo } from "../ggml_types.ts";
import {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_ARRAY_DEPTH,
  GGUF_MAX_DIMS,
  GGUF_MAX_NAME_BYTES,
} from "./header.ts";
import { type GgufValue, GgufValueType, type GgufValueTypeName } from "./values.ts";

/** A tensor's name, type and shape (ggml order: `dims[0]` is the row length). */
export interface GgufTensorSpec {
  /** Tensor name (at most 63 UTF-8 bytes). */
  readonly name: string;
  /** Storage type, as geometry or by name (`"Q8_0"`). */
  readonly type: GgmlTypeInfo | string;
  /** 1 to 4 positive dimensions, ne0 first. */
  readonly dims: readonly number[];
}

/** Bytes of one tensor: one buffer, or chunks (sync or async) that add up to its size. */
export type GgufTensorData = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** A tensor to write: its spec and a callback producing its bytes when its turn comes. */
export interface GgufTensorSource extends GgufTensorSpec {
  /** Produces exactly the tensor's byte size, called once when the tensor is written. */
  data(): GgufTensorData;
}

/** What goes into a file. */
export interface GgufContents<T extends GgufTensorSpec = GgufTensorSource> {
  /** Metadata in the order to write it. `general.alignment` (u32) sets the alignment. */
  readonly metadata: Iterable<readonly [string, GgufValue]>;
  /** Tensors in the order to write them. */
  readonly tensors: readonly T[];
}

/** Where each tensor lands, computed before any data is written. */
export interface GgufLayout {
  /** The header bytes, padded to the alignment (the data section starts right after). */
  readonly header: Uint8Array;
  /** Data alignment in bytes. */
  readonly alignment: number;
  /** Per tensor: byte size and offset relative to the data section. */
  readonly tensors: readonly { readonly byteSize: number; readonly relOffset: number }[];
  /** Total file size in bytes. */
  readonly fileSize: number;
}

const encoder = new TextEncoder();

/** A growable little-endian byte buffer. */
class ByteSink {
  bytes = new Uint8Array(1 << 16);
  view = new DataView(this.bytes.buffer);
  length = 0;

  reserve(n: number): number {
    if (this.length + n > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < this.length + n) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // `reserve` may replace the buffer, so it runs before `this.view` is read.
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  u64(v: number | bigint): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  string(s: string): void {
    const utf8 = encoder.encode(s);
    this.u64(utf8.length);
    const at = this.reserve(utf8.length);
    this.bytes.set(utf8, at);
  }
}

const INTEGER_RANGES: Partial<Record<GgufValueTypeName, [number, number]>> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function writeScalar(sink: ByteSink, type: GgufValueTypeName, value: unknown, key: string): void {
  const bad = (why: string): never => {
    throw new GgufError(`Cannot write ${type} value ${String(value)}: ${why}`, { field: key });
  };
  const range = INTEGER_RANGES[type];
  if (range !== undefined) {
    if (typeof value !== "number" || !Number.isInteger(value)) return bad("not an integer");
    if (value < range[0] || value > range[1]) return bad(`outside ${range[0]}..${range[1]}`);
  }
  switch (type) {
    case "u8":
    case "i8": {
      const at = sink.reserve(1);
      return sink.view.setUint8(at, (value as number) & 0xff);
    }
    case "u16":
    case "i16": {
      const at = sink.reserve(2);
      return sink.view.setUint16(at, (value as number) & 0xffff, true);
    }
    case "u32":
    case "i32":
      return sink.u32((value as number) >>> 0);
    case "f32":
    case "f64": {
      if (typeof value !== "number") return bad("not a number");
      const at = sink.reserve(type === "f32" ? 4 : 8);
      if (type === "f32") return sink.view.setFloat32(at, value, true);
      return sink.view.setFloat64(at, value, true);
    }
    case "u64":
    case "i64": {
      if (typeof value !== "bigint") return bad("not a bigint");
      const [lo, hi] = type === "u64" ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
      if (value < lo || value > hi) return bad(`outside ${lo}..${hi}`);
      return sink.u64(BigInt.asUintN(64, value));
    }
    case "bool": {
      if (typeof value !== "boolean") return bad("not a boolean");
      const at = sink.reserve(1);
      return sink.view.setUint8(at, value ? 1 : 0);
    }
    case "string":
      if (typeof value !== "string") return bad("not a string");
      return sink.string(value);
    default:
      return bad("not a scalar type");
  }
}

function writeArray(
  sink: ByteSink,
  itemType: GgufValueTypeName,
  items: readonly unknown[],
  key: string,
  depth: number,
): void {
  if (depth > GGUF_MAX_ARRAY_DEPTH) {
    throw new GgufError(`Arrays are nested deeper than ${GGUF_MAX_ARRAY_DEPTH} levels`, {
      field: key,
    });
  }
  if (!(itemType in GgufValueType)) {
    throw new GgufError(`Unknown array item type "${itemType}"`, { field: key });
  }
  sink.u32(GgufValueType[itemType]);
  sink.u64(items.length);
  for (const item of items) {
    if (itemType !== "array") {
      writeScalar(sink, itemType, item, key);
      continue;
    }
    const inner = item as GgufValue;
    if (inner?.type !== "array") {
      throw new GgufError(`An array<array> item is not an array value`, { field: key });
    }
    writeArray(sink, inner.itemType, inner.value, key, depth + 1);
  }
}

function writeValue(sink: ByteSink, key: string, value: GgufValue): void {
  if (!(value?.type in GgufValueType)) {
    throw new GgufError(`Unknown value type "${value?.type}"`, { field: key });
  }
  sink.u32(GgufValueType[value.type]);
  if (value.type === "array") writeArray(sink, value.itemType, value.value, key, 1);
  else writeScalar(sink, value.type, value.value, key);
}

function resolveType(spec: GgufTensorSpec): GgmlTypeInfo {
  const type = typeof spec.type === "string" ? ggmlTypeByName(spec.type) : spec.type;
  if (type === undefined) {
    throw new GgufError(`Unknown ggml type "${spec.type}"`, { tensor: spec.name, field: "type" });
  }
  return type;
}

/**
 * Checks a tensor spec and returns its byte size.
 *
 * @param spec The tensor.
 * @returns Its data size in bytes.
 * @throws {GgufError} On a bad name, shape or type.
 *
 * @example
 * ```ts
 * import { tensorByteSize } from "./writer.ts";
 * console.log(tensorByteSize({ name: "w", type: "Q8_0", dims: [64, 3] })); // 204
 * ```
 */
export function tensorByteSize(spec: GgufTensorSpec): number {
  const where = { tensor: spec.name };
  const nameBytes = encoder.encode(spec.name).length;
  if (nameBytes === 0 || nameBytes > GGUF_MAX_NAME_BYTES) {
    throw new GgufError(`Tensor name must be 1..${GGUF_MAX_NAME_BYTES} bytes, not ${nameBytes}`, {
      ...where,
      field: "name",
    });
  }
  const type = resolveType(spec);
  const dims = spec.dims;
  if (dims.length < 1 || dims.length > GGUF_MAX_DIMS) {
    throw new GgufError(`Tensor must have 1..${GGUF_MAX_DIMS} dimensions, not ${dims.length}`, {
      ...where,
      field: "n_dims",
    });
  }
  let elements = 1;
  for (const [d, ne] of dims.entries()) {
    if (!Number.isSafeInteger(ne) || ne < 1) {
      throw new GgufError(`Dimension ${d} is ${ne}, not a positive integer`, {
        ...where,
        field: `ne[${d}]`,
      });
    }
    elements *= ne;
  }
  if (!Number.isSafeInteger(elements)) {
    throw new GgufError(`Element count overflows 2^53`, { ...where, field: "ne" });
  }
  if (dims[0] % type.blockElements !== 0) {
    throw new GgufError(
      `Row length ${
        dims[0]
      } is not a multiple of ${type.name}'s ${type.blockElements}-element block`,
      { ...where, field: "ne[0]" },
    );
  }
  return (elements / type.blockElements) * type.blockBytes;
}

function alignmentOf(metadata: ReadonlyMap<string, GgufValue>): number {
  const value = metadata.get("general.alignment");
  if (value === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const n = value.value;
  if (value.type !== "u32" || typeof n !== "number" || n === 0 || (n & (n - 1)) !== 0) {
    throw new GgufError(`Alignment must be a u32 power of two`, { field: "general.alignment" });
  }
  return n;
}

/**
 * Encodes the header and computes where every tensor's data goes.
 *
 * @param contents Metadata and tensor specs (data callbacks are not called).
 * @returns The padded header and the data layout.
 * @throws {GgufError} On a duplicate key or tensor, a value that does not fit its type, or a
 *   bad tensor spec.
 *
 * @example
 * ```ts
 * import { layoutGguf } from "./writer.ts";
 * import { gguf } from "./values.ts";
 * const layout = layoutGguf({
 *   metadata: [["general.architecture", gguf.string("test")]],
 *   tensors: [{ name: "w", type: "F32", dims: [4] }],
 * });
 * console.log(layout.fileSize);
 * ```
 */
export function layoutGguf(contents: GgufContents<GgufTensorSpec>): GgufLayout {
  const metadata = new Map<string, GgufValue>();
  for (const [key, value] of contents.metadata) {
    if (metadata.has(key)) throw new GgufError(`Metadata key appears twice`, { field: key });
    metadata.set(key, value);
  }
  const alignment = alignmentOf(metadata);
  const sink = new ByteSink();
  sink.u32(GGUF_MAGIC);
  sink.u32(3);
  sink.u64(contents.tensors.length);
  sink.u64(metadata.size);
  for (const [key, value] of metadata) {
    sink.string(key);
    writeValue(sink, key, value);
  }
  const names = new Set<string>();
  const tensors: { byteSize: number; relOffset: number }[] = [];
  let relOffset = 0;
  for (const spec of contents.tensors) {
    const byteSize = tensorByteSize(spec);
    if (names.has(spec.name)) {
      throw new GgufError(`Tensor name appears twice`, { tensor: spec.name, field: "name" });
    }
    names.add(spec.name);
    sink.string(spec.name);
    sink.u32(spec.dims.length);
    for (const ne of spec.dims) sink.u64(ne);
    sink.u32(resolveType(spec).id);
    sink.u64(relOffset);
    tensors.push({ byteSize, relOffset });
    relOffset += Math.ceil(byteSize / alignment) * alignment;
  }
  sink.reserve(Math.ceil(sink.length / alignment) * alignment - sink.length);
  const header = sink.bytes.slice(0, sink.length);
  return { header, alignment, tensors, fileSize: header.length + relOffset };
}

/** Progress of a write: bytes written so far out of the total. */
export type GgufProgress = (bytesWritten: number, bytesTotal: number) => void;

async function* chunksOf(data: GgufTensorData): AsyncIterable<Uint8Array> {
  if (data instanceof Uint8Array) yield data;
  else yield* data as AsyncIterable<Uint8Array>;
}

/**
 * Streams a GGUF v3 file to `path`, calling each tensor's `data()` in turn.
 *
 * @param path Output file (created or truncated).
 * @param contents Metadata and tensors.
 * @param options `onProgress` is called after every chunk.
 * @returns The file size in bytes.
 * @throws {GgufError} On invalid contents, or when a tensor's data is not exactly its size;
 *   the partly written file is then removed.
 *
 * @example
 * ```ts
 * import { writeGguf } from "./writer.ts";
 * import { gguf } from "./values.ts";
 * await writeGguf("/tmp/example.gguf", {
 *   metadata: [["general.architecture", gguf.string("test")]],
 *   tensors: [{ name: "w", type: "F32", dims: [2], data: () => new Uint8Array(8) }],
 * });
 * ```
 */
export async function writeGguf(
  path: string,
  contents: GgufContents,
  options: { onProgress?: GgufProgress } = {},
): Promise<number> {
  const layout = layoutGguf(contents);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await streamTensors(file, layout, contents.tensors, options.onProgress);
  } catch (e) {
    // Leave no truncated model behind that a later run could mistake for a whole one.
    file.close();
    await Deno.remove(path).catch(() => {});
    throw e;
  }
  file.close();
  return layout.fileSize;
}

async function streamTensors(
  file: Deno.FsFile,
  layout: GgufLayout,
  tensors: readonly GgufTensorSource[],
  onProgress: GgufProgress | undefined,
): Promise<void> {
  let written = 0;
  const writeAll = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    written += bytes.length;
    onProgress?.(written, layout.fileSize);
  };
  await writeAll(layout.header);
  for (const [i, spec] of tensors.entries()) {
    const { byteSize } = layout.tensors[i];
    let produced = 0;
    for await (const chunk of chunksOf(spec.data())) {
      produced += chunk.length;
      if (produced > byteSize) break;
      await writeAll(chunk);
    }
    if (produced !== byteSize) {
      throw new GgufError(`Tensor data callback produced ${produced} bytes, expected ${byteSize}`, {
        tensor: spec.name,
      });
    }
    const padding = Math.ceil(byteSize / layout.alignment) * layout.alignment - byteSize;
    if (padding > 0) await writeAll(new Uint8Array(padding));
  }
}

/**
 * Encodes a whole GGUF file in memory (tests and small files).
 *
 * @param contents Metadata and tensors whose `data()` returns a `Uint8Array` or sync chunks.
 * @returns The file's bytes.
 * @throws {GgufError} On invalid contents or wrong data sizes.
 *
 * @example
 * ```ts
 * import { encodeGguf } from "./writer.ts";
 * import { gguf } from "./values.ts";
 * const bytes = encodeGguf({ metadata: [["a", gguf.u32(1)]], tensors: [] });
 * console.log(bytes.length);
 * ```
 */
export function encodeGguf(contents: GgufContents): Uint8Array {
  const layout = layoutGguf(contents);
  const out = new Uint8Array(layout.fileSize);
  out.set(layout.header);
  for (const [i, spec] of contents.tensors.entries()) {
    const { byteSize, relOffset } = layout.tensors[i];
    const data = spec.data();
    const chunks = data instanceof Uint8Array ? [data] : data as Iterable<Uint8Array>;
    if (!(Symbol.iterator in chunks)) {
      throw new GgufError(`encodeGguf needs synchronous tensor data`, { tensor: spec.name });
    }
    let at = layout.header.length + relOffset;
    let produced = 0;
    for (const chunk of chunks) {
      produced += chunk.length;
      if (produced > byteSize) break;
      out.set(chunk, at);
      at += chunk.length;
    }
    if (produced !== byteSize) {
      throw new GgufError(`Tensor data callback produced ${produced} bytes, expected ${byteSize}`, {
        tensor: spec.name,
      });
    }
  }
  return out;
}
