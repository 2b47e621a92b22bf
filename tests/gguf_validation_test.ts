import assert from "node:assert/strict";
import { GgufError } from "../src/errors.ts";
import { GgufFile } from "../src/gguf/reader.ts";
import { gguf, type GgufValue } from "../src/gguf/values.ts";
import { encodeGguf, type GgufTensorSource, layoutGguf } from "../src/gguf/writer.ts";

const encoder = new TextEncoder();

/** A valid small file: three metadata keys and three tensors of different types. */
function validFile(): Uint8Array {
  const tensor = (name: string, type: string, dims: number[], bytes: number): GgufTensorSource => ({
    name,
    type,
    dims,
    data: () => new Uint8Array(bytes).fill(7),
  });
  const metadata: [string, GgufValue][] = [
    ["general.alignment", gguf.u32(32)],
    ["k.one", gguf.u32(1)],
    ["k.two", gguf.bool(true)],
    ["k.list", gguf.strings(["a", "bc"])],
  ];
  return encodeGguf({
    metadata,
    tensors: [
      tensor("t.f32", "F32", [4, 2], 32),
      tensor("t.q8", "Q8_0", [64, 2], 136),
      tensor("t.bbb", "F16", [8], 16),
    ],
  });
}

/** Byte offset of the first occurrence of gguf string `text` (its u64 length prefix). */
function stringAt(bytes: Uint8Array, text: string): number {
  const needle = encoder.encode(text);
  outer: for (let i = 8; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i - 8;
  }
  throw new Error(`"${text}" not found`);
}

/** Offsets of a tensor info's fields. */
function tensorFields(bytes: Uint8Array, name: string) {
  const start = stringAt(bytes, name);
  const nDims = start + 8 + encoder.encode(name).length;
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const dims = view.getUint32(nDims, true);
  return { start, nDims, ne: (d: number) => nDims + 4 + 8 * d, type: nDims + 4 + 8 * dims };
}

function patched(edit: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const bytes = validFile();
  edit(new DataView(bytes.buffer), bytes);
  return bytes;
}

function rejects(bytes: Uint8Array, message: RegExp, where: Partial<GgufError> = {}): void {
  assert.throws(() => GgufFile.fromBytes(bytes), (e: unknown) => {
    assert.ok(e instanceof GgufError, `expected GgufError, got ${e}`);
    assert.match(e.message, message);
    for (const [k, v] of Object.entries(where)) assert.equal(e[k as keyof GgufError], v, k);
    return true;
  });
}

/** Raw little-endian header builder for files the writer refuses to make. */
class Raw {
  parts: number[] = [];
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number): this {
    return this.u32(v % 2 ** 32).u32(Math.floor(v / 2 ** 32));
  }
  str(s: string): this {
    const b = encoder.encode(s);
    this.u64(b.length);
    this.parts.push(...b);
    return this;
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}

Deno.test("GgufFile accepts the untouched fixture", () => {
  const file = GgufFile.fromBytes(validFile());
  assert.equal(file.tensors.size, 3);
  assert.equal(file.tensor("t.q8").byteSize, 136);
});

Deno.test("GgufFile rejects a bad magic at offset 0", () => {
  rejects(patched((_, b) => (b[0] = 0x47 + 1)), /GGUF magic/, { field: "magic", offset: 0 });
});

Deno.test("GgufFile rejects version 1 and big-endian files", () => {
  rejects(patched((v) => v.setUint32(4, 1, true)), /version 1 is not 2 or 3/, {
    field: "version",
  });
  rejects(patched((v) => v.setUint32(4, 3, false)), /Big-endian/);
  assert.equal(GgufFile.fromBytes(patched((v) => v.setUint32(4, 2, true))).version, 2);
});

Deno.test("GgufFile rejects tensor and metadata counts that cannot fit the file", () => {
  rejects(patched((v) => v.setUint32(8, 1e9, true)), /Tensor count 1000000000 cannot fit/, {
    field: "n_tensors",
  });
  rejects(patched((v) => v.setUint32(16, 1e9, true)), /Metadata count 1000000000 cannot fit/, {
    field: "n_kv",
  });
  rejects(patched((v) => v.setUint32(20, 0x7fffffff, true)), /is too large/);
});

Deno.test("GgufFile rejects a string length running past the header", () => {
  const bytes = patched((v, b) => v.setUint32(stringAt(b, "k.one"), 1e6, true));
  rejects(bytes, /String length 1000000 runs past the end/, { field: "metadata[1].key" });
});

Deno.test("GgufFile rejects an unknown value type and a bad boolean byte", () => {
  const one = stringAt(validFile(), "k.one") + 8 + 5;
  rejects(patched((v) => v.setUint32(one, 13, true)), /Unknown value type id 13/, {
    field: "k.one",
    offset: one,
  });
  const two = stringAt(validFile(), "k.two") + 8 + 5 + 4;
  rejects(patched((_, b) => (b[two] = 2)), /Boolean byte is 2/, { field: "k.two", offset: two });
});

Deno.test("GgufFile rejects an array count that cannot fit and too-deep nesting", () => {
  const count = stringAt(validFile(), "k.list") + 8 + 6 + 4 + 4;
  rejects(patched((v) => v.setUint32(count, 1e7, true)), /Array of 10000000 string items/, {
    field: "k.list",
  });
  const raw = new Raw().u32(0x46554747).u32(3).u64(0).u64(1).str("deep").u32(9);
  for (let i = 0; i < 9; i++) raw.u32(9).u64(1);
  raw.u32(4).u64(0);
  rejects(raw.bytes(), /nested deeper than 8/, { field: "deep" });
});

Deno.test("GgufFile rejects a duplicate metadata key", () => {
  const bytes = patched((_, b) => b.set(encoder.encode("k.one"), stringAt(b, "k.two") + 8));
  rejects(bytes, /Metadata key "k.one" appears twice/);
});

Deno.test("GgufFile rejects an alignment that is not a u32 power of two", () => {
  const value = stringAt(validFile(), "general.alignment") + 8 + 17;
  rejects(patched((v) => v.setUint32(value + 4, 48, true)), /Alignment 48 is not a power of two/, {
    field: "general.alignment",
  });
  rejects(patched((v) => v.setUint32(value, 5, true)), /Alignment must be a u32, not i32/);
});

Deno.test("GgufFile rejects n_dims outside 1..4 and a zero dimension", () => {
  const f = tensorFields(validFile(), "t.f32");
  rejects(patched((v) => v.setUint32(f.nDims, 5, true)), /5 dimensions, not 1..4/, {
    tensor: "t.f32",
    field: "n_dims",
    offset: f.nDims,
  });
  rejects(patched((v) => v.setUint32(f.nDims, 0, true)), /0 dimensions/);
  rejects(patched((v) => v.setUint32(f.ne(1), 0, true)), /Dimension 1 is 0/, {
    tensor: "t.f32",
    field: "ne[1]",
  });
});

Deno.test("GgufFile rejects element counts that overflow 2^53", () => {
  const raw = new Raw().u32(0x46554747).u32(3).u64(1).u64(0);
  raw.str("huge").u32(3).u64(2 ** 30).u64(2 ** 20).u64(2 ** 10).u32(0).u64(0);
  rejects(raw.bytes(), /Element count overflows 2\^53 at dimension 2/, {
    tensor: "huge",
    field: "ne[2]",
  });
});

Deno.test("GgufFile rejects unknown ggml types and rows that are not whole blocks", () => {
  const f = tensorFields(validFile(), "t.q8");
  rejects(patched((v) => v.setUint32(f.type, 99, true)), /Unknown ggml type id 99/, {
    tensor: "t.q8",
    field: "type",
    offset: f.type,
  });
  rejects(patched((v) => v.setUint32(f.ne(0), 48, true)), /48 is not a multiple of Q8_0's 32/, {
    tensor: "t.q8",
  });
});

Deno.test("GgufFile rejects misaligned, out-of-file and overlapping tensor data", () => {
  const q8 = tensorFields(validFile(), "t.q8");
  const offsetField = q8.type + 4;
  rejects(patched((v) => v.setUint32(offsetField, 8, true)), /not a multiple of the alignment 32/, {
    tensor: "t.q8",
    field: "offset",
  });
  rejects(patched((v) => v.setUint32(offsetField, 1 << 20, true)), /runs past the end of the file/);
  rejects(patched((v) => v.setUint32(offsetField, 0, true)), /overlaps tensor "t.f32"/, {
    tensor: "t.q8",
  });
  // The last tensor (16 bytes) is followed by 16 bytes of padding, which may be missing.
  const whole = validFile();
  assert.equal(GgufFile.fromBytes(whole.subarray(0, whole.length - 16)).tensors.size, 3);
  rejects(whole.subarray(0, whole.length - 17), /runs past the end of the file/, {
    tensor: "t.bbb",
  });
});

Deno.test("GgufFile rejects duplicate and over-long tensor names", () => {
  const bytes = patched((_, b) => b.set(encoder.encode("t.f32"), stringAt(b, "t.bbb") + 8));
  rejects(bytes, /Tensor name appears twice/, { tensor: "t.f32" });
  const long = "x".repeat(64);
  const raw = new Raw().u32(0x46554747).u32(3).u64(1).u64(0);
  raw.str(long).u32(1).u64(4).u32(0).u64(0);
  rejects(raw.bytes(), /64 bytes, more than ggml's 63/, { tensor: long });
});

Deno.test("GgufFile rejects a data section that starts past the end of the file", () => {
  const layout = layoutGguf({ metadata: [], tensors: [{ name: "w", type: "F32", dims: [4] }] });
  rejects(layout.header.subarray(0, layout.header.length - 1), /starts past the end/);
});

Deno.test("GgufFile.open names the file when it is malformed", () => {
  const path = Deno.makeTempFileSync({ suffix: ".gguf" });
  try {
    Deno.writeFileSync(path, patched((_, b) => (b[1] = 0)));
    assert.throws(() => GgufFile.open(path), (e: unknown) => {
      assert.ok(e instanceof GgufError);
      assert.ok(e.message.includes(path) && /magic/.test(e.message), e.message);
      return true;
    });
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("GgufFile throws only GgufError on random truncations and byte flips", () => {
  const good = validFile();
  // A seeded generator keeps failures reproducible.
  let seed = 0x9e3779b9;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const tryParse = (bytes: Uint8Array, what: string) => {
    try {
      const file = GgufFile.fromBytes(bytes);
      for (const value of file.metadata.values()) void value.value;
      for (const name of file.tensors.keys()) void file.tensorBytes(name);
    } catch (e) {
      if (!(e instanceof GgufError)) throw new Error(`${what} threw ${e}`, { cause: e });
    }
  };
  for (let length = 0; length < good.length; length++) {
    tryParse(good.subarray(0, length), `truncation to ${length}`);
  }
  for (let i = 0; i < 3000; i++) {
    const bytes = good.slice();
    const flips = 1 + Math.floor(random() * 4);
    for (let f = 0; f < flips; f++) {
      const at = Math.floor(random() * 400);
      bytes[at] = random() < 0.5 ? bytes[at] ^ (1 << Math.floor(random() * 8)) : random() * 256;
    }
    tryParse(bytes, `flip run ${i}`);
  }
});
