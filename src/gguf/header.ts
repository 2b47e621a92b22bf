/**
 * Parses and validates the GGUF header (magic, version, metadata, tensor infos) from a byte
 * view of the start of a file. Every count, length, offset and size is checked against the
 * file size before it is used, and every failure is a `GgufError` naming the field, the
 * tensor and the byte offset. See ../shared/docs/MLA_SPEC.md §4.
 * @module
 */
import { GgufError } from "../errors.ts";
import { type GgmlTypeInfo, ggmlTypeInfo } from "../ggml_types.ts";
import {
  GGUF_SCALAR_BYTES,
  type GgufArrayValue,
  type GgufValue,
  type GgufValueTypeName,
  ggufValueTypeName,
} from "./values.ts";

/** "GGUF" read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** Alignment of tensor data when `general.alignment` is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** Most dimensions a tensor may have (ggml `GGML_MAX_DIMS`). */
export const GGUF_MAX_DIMS = 4;
/** Longest tensor name in bytes that ggml accepts (`GGML_MAX_NAME` − 1 for the NUL). */
export const GGUF_MAX_NAME_BYTES = 63;
/** Deepest nesting of arrays inside arrays this reader follows. */
export const GGUF_MAX_ARRAY_DEPTH = 8;

/** One tensor's description from the header. */
export interface GgufTensorInfo {
  /** Tensor name, e.g. `"blk.0.attn_q.weight"`. */
  readonly name: string;
  /** Storage type. */
  readonly type: GgmlTypeInfo;
  /** Dimensions in ggml order: `dims[0]` is ne0, the contiguous row length. */
  readonly dims: readonly number[];
  /** Absolute byte offset of the data in the file. */
  readonly offset: number;
  /** Bytes of data. */
  readonly byteSize: number;
  /** Number of elements (product of dims). */
  readonly elements: number;
}

/** Everything the header says. */
export interface GgufHeader {
  /** Format version (2 or 3). */
  readonly version: number;
  /** Alignment of the data section and each tensor in it. */
  readonly alignment: number;
  /** Absolute byte offset of the data section. */
  readonly dataOffset: number;
  /** Metadata in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensor infos in file order. */
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;
}

const utf8 = new TextDecoder("utf-8");

/** A bounds-checked little-endian reader over the header bytes. */
class Cursor {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;
  /** Name of the field being read, for error messages. */
  field = "magic";
  /** Shared with the owner of the bytes: lazy arrays must not decode unmapped memory. */
  source: { closed: boolean } = { closed: false };

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string, at = this.pos, tensor?: string): never {
    throw new GgufError(message, { field: this.field, tensor, offset: at });
  }

  need(n: number, what: string): void {
    if (n > this.bytes.length - this.pos) {
      this.fail(
        `Cannot read ${what}: ${n} bytes needed but only ${this.bytes.length - this.pos} remain`,
      );
    }
  }

  u8(): number {
    this.need(1, "a u8");
    return this.bytes[this.pos++];
  }
  u32(): number {
    this.need(4, "a u32");
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A u64 as a number; values past 2^53 are refused (no file is that large). */
  u64(what: string): number {
    this.need(8, what);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    if (hi >= 0x200000) this.fail(`${what} ${this.view.getBigUint64(this.pos, true)} is too large`);
    this.pos += 8;
    return hi * 0x100000000 + lo;
  }

  /** Skips a gguf string (u64 length + bytes) and returns its byte range. */
  stringRange(): [number, number] {
    const at = this.pos;
    const length = this.u64("a string length");
    if (length > this.bytes.length - this.pos) {
      this.fail(
        `String length ${length} runs past the end of the header (${
          this.bytes.length - this.pos
        } bytes remain)`,
        at,
      );
    }
    const start = this.pos;
    this.pos += length;
    return [start, this.pos];
  }

  string(): string {
    const [start, end] = this.stringRange();
    return utf8.decode(this.bytes.subarray(start, end));
  }
}

/** Reads one scalar of a fixed-size type at the cursor. */
function readScalar(c: Cursor, type: GgufValueTypeName): number | bigint | boolean {
  c.need(GGUF_SCALAR_BYTES[type], `a ${type}`);
  const v = c.view;
  const p = c.pos;
  c.pos += GGUF_SCALAR_BYTES[type];
  switch (type) {
    case "u8":
      return v.getUint8(p);
    case "i8":
      return v.getInt8(p);
    case "u16":
      return v.getUint16(p, true);
    case "i16":
      return v.getInt16(p, true);
    case "u32":
      return v.getUint32(p, true);
    case "i32":
      return v.getInt32(p, true);
    case "f32":
      return v.getFloat32(p, true);
    case "f64":
      return v.getFloat64(p, true);
    case "u64":
      return v.getBigUint64(p, true);
    case "i64":
      return v.getBigInt64(p, true);
    case "bool": {
      const b = v.getUint8(p);
      if (b > 1) c.fail(`Boolean byte is ${b}, not 0 or 1`, p);
      return b === 1;
    }
    default:
      return c.fail(`Type ${type} is not a scalar`, p);
  }
}

function readValueType(c: Cursor, what: string): GgufValueTypeName {
  const at = c.pos;
  const id = c.u32();
  const name = ggufValueTypeName(id);
  if (name === undefined) c.fail(`Unknown ${what} type id ${id}`, at);
  return name;
}

/**
 * Decodes `count` gguf strings starting at `start` (extents already validated). The string
 * bytes are gathered NUL-separated and decoded in one call, which is ~10x faster than one
 * decode per string; if a string itself holds a NUL the split comes out wrong and each
 * string is decoded on its own instead.
 */
function decodeStrings(bytes: Uint8Array, start: number, count: number): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = start;
  let total = 0;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(p, true);
    total += length + 1;
    p += 8 + length;
  }
  const joined = new Uint8Array(total);
  p = start;
  let w = 0;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(p, true);
    // A plain loop beats creating 100k subarrays for strings of a few bytes.
    for (let j = p + 8, end = p + 8 + length; j < end; j++) joined[w++] = bytes[j];
    w++;
    p += 8 + length;
  }
  const parts = utf8.decode(joined).split("\0");
  if (parts.length === count + 1) {
    parts.length = count;
    return parts;
  }
  const out = new Array<string>(count);
  p = start;
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(p, true);
    out[i] = utf8.decode(bytes.subarray(p + 8, p + 8 + length));
    p += 8 + length;
  }
  return out;
}

/** Decodes `count` fixed-size scalars starting at `start`. */
function decodeScalars(
  bytes: Uint8Array,
  start: number,
  count: number,
  type: GgufValueTypeName,
): (number | bigint | boolean)[] {
  const size = GGUF_SCALAR_BYTES[type];
  // Copy to an aligned buffer so a typed array can read the items in one go.
  const copy = bytes.slice(start, start + count * size).buffer;
  switch (type) {
    case "u8":
      return Array.from(new Uint8Array(copy));
    case "i8":
      return Array.from(new Int8Array(copy));
    case "u16":
      return Array.from(new Uint16Array(copy));
    case "i16":
      return Array.from(new Int16Array(copy));
    case "u32":
      return Array.from(new Uint32Array(copy));
    case "i32":
      return Array.from(new Int32Array(copy));
    case "f32":
      return Array.from(new Float32Array(copy));
    case "f64":
      return Array.from(new Float64Array(copy));
    case "u64":
      return Array.from(new BigUint64Array(copy));
    case "i64":
      return Array.from(new BigInt64Array(copy));
    case "bool":
      return Array.from(new Uint8Array(copy), (b) => b === 1);
    default:
      throw new GgufError(`Type ${type} is not a scalar`);
  }
}

/**
 * Reads an array value: validates its extent now and defers decoding its items until `value`
 * is first read, so huge vocabularies cost only a length walk at open time.
 */
function readArray(c: Cursor, depth: number): GgufArrayValue {
  if (depth > GGUF_MAX_ARRAY_DEPTH) {
    c.fail(`Arrays are nested deeper than ${GGUF_MAX_ARRAY_DEPTH} levels`);
  }
  const itemType = readValueType(c, "array item");
  const countAt = c.pos;
  const count = c.u64("an array length");
  const minBytes = GGUF_SCALAR_BYTES[itemType];
  if (count * minBytes > c.bytes.length - c.pos) {
    c.fail(
      `Array of ${count} ${itemType} items needs at least ${count * minBytes} bytes but only ${
        c.bytes.length - c.pos
      } remain`,
      countAt,
    );
  }
  const start = c.pos;
  const bytes = c.bytes;
  let decode: () => unknown[];
  if (itemType === "array") {
    const items: GgufArrayValue[] = [];
    for (let i = 0; i < count; i++) items.push(readArray(c, depth + 1));
    decode = () => items;
  } else if (itemType === "string") {
    for (let i = 0; i < count; i++) c.stringRange();
    decode = () => decodeStrings(bytes, start, count);
  } else {
    // Booleans are checked now so that a bad byte fails at open, not at first use.
    if (itemType === "bool") {
      for (let i = 0; i < count; i++) readScalar(c, itemType);
    } else {
      c.pos += count * minBytes;
    }
    decode = () => decodeScalars(bytes, start, count, itemType);
  }
  let cached: unknown[] | undefined;
  const source = c.source;
  const field = c.field;
  return {
    type: "array",
    itemType,
    get value() {
      if (cached === undefined && source.closed) {
        throw new GgufError(`Cannot decode an array of a closed file`, { field });
      }
      cached ??= Object.freeze(decode()) as unknown[];
      return cached;
    },
  } as GgufArrayValue;
}

function readValue(c: Cursor): GgufValue {
  const type = readValueType(c, "value");
  if (type === "array") return readArray(c, 1);
  if (type === "string") return { type, value: c.string() };
  return { type, value: readScalar(c, type) } as GgufValue;
}

function readMetadata(c: Cursor, count: number): Map<string, GgufValue> {
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < count; i++) {
    c.field = `metadata[${i}].key`;
    const keyAt = c.pos;
    const key = c.string();
    if (metadata.has(key)) c.fail(`Metadata key "${key}" appears twice`, keyAt);
    c.field = key;
    metadata.set(key, readValue(c));
  }
  return metadata;
}

function readAlignment(c: Cursor, metadata: Map<string, GgufValue>): number {
  const value = metadata.get("general.alignment");
  if (value === undefined) return GGUF_DEFAULT_ALIGNMENT;
  c.field = "general.alignment";
  if (value.type !== "u32") c.fail(`Alignment must be a u32, not ${value.type}`, undefined);
  const alignment = value.value;
  if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
    c.fail(`Alignment ${alignment} is not a power of two`, undefined);
  }
  return alignment;
}

interface RawTensor {
  name: string;
  type: GgmlTypeInfo;
  dims: number[];
  relOffset: number;
  at: number;
}

function readTensorInfo(c: Cursor, index: number): RawTensor {
  const at = c.pos;
  c.field = `tensors[${index}].name`;
  const nameRange = c.stringRange();
  const name = utf8.decode(c.bytes.subarray(nameRange[0], nameRange[1]));
  const fail = (field: string, message: string, offset = c.pos): never => {
    c.field = field;
    return c.fail(message, offset, name);
  };
  if (nameRange[1] - nameRange[0] > GGUF_MAX_NAME_BYTES) {
    fail("name", `Tensor name is ${nameRange[1] - nameRange[0]} bytes, more than ggml's 63`, at);
  }
  c.field = "n_dims";
  const nDimsAt = c.pos;
  const nDims = c.u32();
  if (nDims < 1 || nDims > GGUF_MAX_DIMS) {
    fail("n_dims", `Tensor has ${nDims} dimensions, not 1..${GGUF_MAX_DIMS}`, nDimsAt);
  }
  const dims: number[] = [];
  let elements = 1;
  for (let d = 0; d < nDims; d++) {
    c.field = `ne[${d}]`;
    const dimAt = c.pos;
    const ne = c.u64(`dimension ${d}`);
    if (ne === 0) fail(`ne[${d}]`, `Dimension ${d} is 0`, dimAt);
    elements *= ne;
    if (elements > Number.MAX_SAFE_INTEGER) {
      fail(`ne[${d}]`, `Element count overflows 2^53 at dimension ${d}`, dimAt);
    }
    dims.push(ne);
  }
  c.field = "type";
  const typeAt = c.pos;
  const typeId = c.u32();
  const type = ggmlTypeInfo(typeId);
  if (type === undefined) return fail("type", `Unknown ggml type id ${typeId}`, typeAt);
  if (dims[0] % type.blockElements !== 0) {
    fail(
      "ne[0]",
      `Row length ${
        dims[0]
      } is not a multiple of ${type.name}'s ${type.blockElements}-element block`,
      typeAt,
    );
  }
  c.field = "offset";
  const relOffset = c.u64("a tensor offset");
  return { name, type, dims, relOffset, at };
}

/** Checks offsets, sizes, alignment, overlap and duplicates, and makes absolute offsets. */
function placeTensors(
  raw: RawTensor[],
  dataOffset: number,
  alignment: number,
  fileSize: number,
): Map<string, GgufTensorInfo> {
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of raw) {
    const where = { tensor: t.name, offset: t.at };
    if (tensors.has(t.name)) {
      throw new GgufError(`Tensor name appears twice`, { ...where, field: "name" });
    }
    if (t.relOffset % alignment !== 0) {
      throw new GgufError(
        `Tensor data offset ${t.relOffset} is not a multiple of the alignment ${alignment}`,
        { ...where, field: "offset" },
      );
    }
    const elements = t.dims.reduce((a, b) => a * b, 1);
    const byteSize = (elements / t.type.blockElements) * t.type.blockBytes;
    const offset = dataOffset + t.relOffset;
    if (offset + byteSize > fileSize) {
      throw new GgufError(
        `Tensor data [${offset}, ${
          offset + byteSize
        }) runs past the end of the file (${fileSize} bytes)`,
        { ...where, field: "offset" },
      );
    }
    tensors.set(t.name, { name: t.name, type: t.type, dims: t.dims, offset, byteSize, elements });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.byteSize) {
      throw new GgufError(`Tensor data overlaps tensor "${prev.name}"`, {
        tensor: sorted[i].name,
        field: "offset",
        offset: raw.find((t) => t.name === sorted[i].name)?.at,
      });
    }
  }
  return tensors;
}

/**
 * Parses the header from `bytes`, the first bytes of a file of `fileSize` bytes (the whole
 * file, or at least everything up to the data section).
 *
 * @param bytes The start of the file.
 * @param fileSize Total size of the file, to check tensor data against.
 * @param source Set `closed` when `bytes` stops being valid (an unmapped file): arrays not yet
 *   decoded then throw instead of reading freed memory.
 * @returns The validated header.
 *
 * @example
 * ```ts
 * import { parseGgufHeader } from "./header.ts";
 * const bytes = Deno.readFileSync("../shared/data/vocab/ggml-vocab-deepseek-llm.gguf");
 * const header = parseGgufHeader(bytes, bytes.length);
 * console.log(header.metadata.size);
 * ```
 */
export function parseGgufHeader(
  bytes: Uint8Array,
  fileSize: number,
  source: { closed: boolean } = { closed: false },
): GgufHeader {
  const c = new Cursor(bytes);
  c.source = source;
  const magic = c.u32();
  if (magic !== GGUF_MAGIC) {
    c.fail(`File does not start with the GGUF magic (found 0x${magic.toString(16)})`, 0);
  }
  c.field = "version";
  const version = c.u32();
  if (version === 0x03000000 || version === 0x02000000) {
    c.fail(`Big-endian GGUF files are not supported`, 4);
  }
  if (version !== 2 && version !== 3) c.fail(`GGUF version ${version} is not 2 or 3`, 4);
  c.field = "n_tensors";
  const nTensors = c.u64("the tensor count");
  c.field = "n_kv";
  const nKv = c.u64("the metadata count");
  // The smallest metadata entry is 13 bytes (empty key, type, u8) and the smallest tensor
  // info 32 bytes (empty name, 1 dim, type, offset): counts beyond that cannot be real.
  if (nKv * 13 > bytes.length - c.pos) {
    c.field = "n_kv";
    c.fail(`Metadata count ${nKv} cannot fit in ${bytes.length - c.pos} bytes`, 16);
  }
  if (nTensors * 32 > bytes.length - c.pos) {
    c.field = "n_tensors";
    c.fail(`Tensor count ${nTensors} cannot fit in ${bytes.length - c.pos} bytes`, 8);
  }
  const metadata = readMetadata(c, nKv);
  const alignment = readAlignment(c, metadata);
  const raw: RawTensor[] = [];
  for (let i = 0; i < nTensors; i++) raw.push(readTensorInfo(c, i));
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (nTensors > 0 && dataOffset > fileSize) {
    c.field = "data";
    c.fail(`Data section at ${dataOffset} starts past the end of the file (${fileSize} bytes)`);
  }
  const tensors = placeTensors(raw, dataOffset, alignment, fileSize);
  return { version, alignment, dataOffset, metadata, tensors };
}
