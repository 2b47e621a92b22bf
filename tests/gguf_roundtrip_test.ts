import { existsSync } from "node:fs";
import assert from "node:assert/strict";
import { GgufError } from "../src/errors.ts";
import { GGML_TYPES } from "../src/ggml_types.ts";
import { GgufFile } from "../src/gguf/reader.ts";
import { gguf, type GgufValue } from "../src/gguf/values.ts";
import { encodeGguf, type GgufTensorSource, writeGguf } from "../src/gguf/writer.ts";

const VOCAB = new URL("../../shared/data/vocab/ggml-vocab-deepseek-llm.gguf", import.meta.url)
  .pathname;

/** One value of every type, including arrays of strings and arrays of arrays. */
const EVERY_VALUE: [string, GgufValue][] = [
  ["t.u8", gguf.u8(255)],
  ["t.i8", gguf.i8(-128)],
  ["t.u16", gguf.u16(65535)],
  ["t.i16", gguf.i16(-32768)],
  ["t.u32", gguf.u32(0xffffffff)],
  ["t.i32", gguf.i32(-0x80000000)],
  ["t.f32", gguf.f32(0.0707)],
  ["t.f64", gguf.f64(Math.PI)],
  ["t.u64", gguf.u64(2n ** 64n - 1n)],
  ["t.i64", gguf.i64(-(2n ** 63n))],
  ["t.bool", gguf.bool(true)],
  ["t.string", gguf.string("héllo ▁ wörld\0 end")],
  ["t.empty_string", gguf.string("")],
  ["t.strings", gguf.strings(["a b", "", "Ġ Ġ", "<｜begin▁of▁sentence｜>", "nul\0inside"])],
  ["t.i32s", gguf.numbers("i32", [1, -2, 3])],
  ["t.f32s", gguf.numbers("f32", [0.5, -1.25])],
  ["t.u8s", gguf.numbers("u8", [0, 1, 255])],
  ["t.bools", { type: "array", itemType: "bool", value: [true, false, true] }],
  ["t.u64s", { type: "array", itemType: "u64", value: [0n, 2n ** 60n] }],
  ["t.empty", gguf.strings([])],
  ["t.nested", {
    type: "array",
    itemType: "array",
    value: [
      { type: "array", itemType: "string", value: ["x", "yz"] },
      { type: "array", itemType: "i16", value: [-7] },
      {
        type: "array",
        itemType: "array",
        value: [{ type: "array", itemType: "f64", value: [1e300] }],
      },
    ],
  }],
];

function plain(v: GgufValue): unknown {
  if (v.type !== "array") return { type: v.type, value: v.value };
  if (v.itemType === "array") return { itemType: "array", value: v.value.map(plain) };
  return { itemType: v.itemType, value: [...v.value] };
}

function tensorsOfEveryType(): GgufTensorSource[] {
  return GGML_TYPES.map((type, i) => {
    const dims = [type.blockElements * 2, 3, i % 2 === 0 ? 1 : 2];
    const bytes = new Uint8Array(
      (dims[0] * dims[1] * dims[2] / type.blockElements) * type.blockBytes,
    );
    for (let j = 0; j < bytes.length; j++) bytes[j] = (j * 31 + i) & 0xff;
    return { name: `tensor.${type.name}`, type, dims, data: () => bytes };
  });
}

Deno.test("GgufFile.fromBytes reads back every value type the writer wrote", () => {
  const file = GgufFile.fromBytes(encodeGguf({ metadata: EVERY_VALUE, tensors: [] }));
  assert.equal(file.version, 3);
  assert.deepEqual([...file.metadata.keys()], EVERY_VALUE.map(([k]) => k));
  for (const [key, value] of EVERY_VALUE) {
    const expected = plain(value) as { type?: string; value: unknown };
    if (value.type === "f32") expected.value = Math.fround(value.value);
    assert.deepEqual(plain(file.get(key)), expected, key);
  }
});

Deno.test("encodeGguf grows its header buffer past 64 KiB without losing values", () => {
  const words = Array.from({ length: 20000 }, (_, i) => `token${i}`);
  const big = Array.from({ length: 9000 }, (_, i) => i * 3);
  const file = GgufFile.fromBytes(encodeGguf({
    metadata: [["a.words", gguf.strings(words)], ["a.ints", gguf.numbers("u32", big)], [
      "a.last",
      gguf.u64(2n ** 63n + 5n),
    ]],
    tensors: [],
  }));
  assert.deepEqual(file.getStringArray("a.words"), words);
  assert.deepEqual(file.getNumberArray("a.ints"), big);
  assert.equal(file.getU64("a.last"), 2n ** 63n + 5n);
});

Deno.test("GgufFile tensors of every ggml type round-trip with aligned offsets", () => {
  const tensors = tensorsOfEveryType();
  for (const alignment of [32, 64]) {
    const bytes = encodeGguf({
      metadata: [["general.alignment", gguf.u32(alignment)]],
      tensors,
    });
    const file = GgufFile.fromBytes(bytes);
    assert.equal(file.alignment, alignment);
    assert.equal(file.dataOffset % alignment, 0);
    for (const source of tensors) {
      const info = file.tensor(source.name);
      assert.deepEqual(info.dims, source.dims);
      assert.equal(info.offset % alignment, 0);
      assert.equal(info.elements, source.dims.reduce((a, b) => a * b));
      assert.deepEqual(file.tensorBytes(source.name), source.data());
    }
  }
});

Deno.test("GgufFile.open maps a streamed file and views tensors without copying", async () => {
  const path = await Deno.makeTempFile({ suffix: ".gguf" });
  try {
    const tensors = tensorsOfEveryType();
    // Split every tensor into two chunks, async, to exercise the streaming path.
    const streamed = tensors.map((t) => ({
      ...t,
      data: async function* () {
        const bytes = t.data() as Uint8Array;
        yield bytes.subarray(0, 5);
        yield bytes.subarray(5);
      },
    }));
    let progressCalls = 0;
    const size = await writeGguf(path, { metadata: EVERY_VALUE, tensors: streamed }, {
      onProgress: () => progressCalls++,
    });
    assert.equal(size, Deno.statSync(path).size);
    assert.ok(progressCalls > tensors.length);
    assert.deepEqual(Deno.readFileSync(path), encodeGguf({ metadata: EVERY_VALUE, tensors }));
    const file = GgufFile.open(path);
    assert.equal(file.fileSize, size);
    for (const t of tensors) assert.deepEqual(file.tensorBytes(t.name), t.data());
    assert.ok(file.tensorAddress("tensor.F32") > 0n);
    assert.equal(file.getString("t.string"), "héllo ▁ wörld\0 end");
    void file.getStringArray("t.strings");
    file.close();
    file.close();
    assert.throws(() => file.tensorBytes("tensor.F32"), GgufError);
    // Decoded before closing: still readable. Never decoded: refused, not read from freed memory.
    assert.equal(file.getStringArray("t.strings").length, 5);
    assert.throws(() => file.getNumberArray("t.i32s"), /closed file/);
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("GgufFile typed accessors widen integers and name both types on a mismatch", () => {
  const file = GgufFile.fromBytes(encodeGguf({
    metadata: [
      ["u8", gguf.u8(7)],
      ["neg", gguf.i32(-1)],
      ["big", gguf.u64(2n ** 40n)],
      ["s", gguf.string("x")],
      ["f", gguf.f32(1.5)],
    ],
    tensors: [],
  }));
  assert.equal(file.getU32("u8"), 7);
  assert.equal(file.getI32("neg"), -1);
  assert.equal(file.getU64("big"), 2n ** 40n);
  assert.equal(file.getF32("f"), 1.5);
  assert.equal(file.getU32Or("absent", 9), 9);
  assert.equal(file.getStringOr("s", "y"), "x");
  assert.throws(() => file.getU32("neg"), /"neg" = -1 does not fit a u32/);
  assert.throws(() => file.getU32("big"), /does not fit a u32/);
  assert.throws(() => file.getU32("s"), /"s" is a string, not u32/);
  assert.throws(() => file.getString("u8"), /"u8" is a u8, not string/);
  assert.throws(() => file.getBool("f"), GgufError);
  assert.throws(() => file.getStringArray("s"), /is a string, not array<string>/);
  assert.throws(() => file.getU32("absent"), /Metadata key "absent" is missing/);
  assert.throws(() => file.tensor("nope"), /Tensor "nope" is not in/);
  assert.throws(() => file.tensorAddress("nope"), GgufError);
});

// Reads ../shared when present (every developer and CI machine has it); says so when it is not.
const vocabPresent = existsSync(VOCAB);
if (!vocabPresent) console.warn(`SKIPPED gguf vocabulary test: ${VOCAB} is absent`);

// Load speed is measured in bench/tokenizer_bench.ts, not asserted here (the machine is noisy).
Deno.test({
  name: "GgufFile.open reads and decodes the DeepSeek vocabulary",
  ignore: !vocabPresent,
  fn() {
    using file = GgufFile.open(VOCAB);
    const tokens = file.getStringArray("tokenizer.ggml.tokens");
    const merges = file.getStringArray("tokenizer.ggml.merges");
    const types = file.getNumberArray("tokenizer.ggml.token_type");
    assert.equal(tokens.length, 102400);
    assert.equal(merges.length, 99757);
    assert.equal(types.length, 102400);
    assert.equal(tokens[100000], "<｜begin▁of▁sentence｜>");
    assert.equal(file.getU32("tokenizer.ggml.bos_token_id"), 100000);
    assert.equal(file.getString("tokenizer.ggml.pre"), "deepseek-llm");
    assert.equal(file.tensors.size, 0);
  },
});

Deno.test("GgufFile.open refuses a missing or empty file or a directory with a GgufError", () => {
  assert.throws(() => GgufFile.open("/nonexistent/model.gguf"), /does not exist/);
  assert.throws(() => GgufFile.open(Deno.cwd()), GgufError);
  const empty = Deno.makeTempFileSync();
  try {
    assert.throws(() => GgufFile.open(empty), /is empty/);
  } finally {
    Deno.removeSync(empty);
  }
});

Deno.test("encodeGguf refuses values that do not fit, bad specs and wrong data sizes", () => {
  const encode = (metadata: [string, GgufValue][], tensors: GgufTensorSource[] = []) => () =>
    encodeGguf({ metadata, tensors });
  assert.throws(encode([["a", gguf.u8(256)]]), /u8 value 256: outside 0..255/);
  assert.throws(encode([["a", gguf.i32(1.5)]]), /not an integer/);
  assert.throws(encode([["a", gguf.u64(-1n)]]), /outside/);
  assert.throws(encode([["a", gguf.u32(1)], ["a", gguf.u32(2)]]), /appears twice/);
  assert.throws(encode([["general.alignment", gguf.u32(24)]]), /power of two/);
  const w = (dims: number[], type = "Q8_0", bytes = 34): GgufTensorSource => ({
    name: "w",
    type,
    dims,
    data: () => new Uint8Array(bytes),
  });
  assert.throws(encode([], [w([32]), w([32])]), /Tensor name appears twice/);
  assert.throws(encode([], [w([48])]), /48 is not a multiple of Q8_0's 32/);
  assert.throws(encode([], [w([32, 1, 1, 1, 1])]), /1..4 dimensions/);
  assert.throws(encode([], [w([32, 0])]), /Dimension 1 is 0/);
  assert.throws(encode([], [w([32], "Q9_9")]), /Unknown ggml type "Q9_9"/);
  assert.throws(encode([], [w([32], "Q8_0", 33)]), /produced 33 bytes, expected 34/);
  assert.throws(encode([], [{ ...w([32]), name: "n".repeat(64) }]), /1..63 bytes/);
});

Deno.test("GgufFile.open parses a header longer than its first 16 MiB view", async () => {
  const path = await Deno.makeTempFile({ suffix: ".gguf" });
  try {
    const long = "x".repeat(17 << 20);
    await writeGguf(path, {
      metadata: [["a.long", gguf.string(long)], ["a.after", gguf.u32(5)]],
      tensors: [{ name: "w", type: "F32", dims: [2], data: () => new Uint8Array(8).fill(1) }],
    });
    using file = GgufFile.open(path);
    assert.equal(file.getString("a.long").length, long.length);
    assert.equal(file.getU32("a.after"), 5);
    assert.deepEqual(file.tensorBytes("w"), new Uint8Array(8).fill(1));
  } finally {
    Deno.removeSync(path);
  }
});

Deno.test("writeGguf removes the partial file when a tensor's data is the wrong size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/bad.gguf`;
    await assert.rejects(
      writeGguf(path, {
        metadata: [],
        tensors: [{ name: "w", type: "F32", dims: [4], data: () => new Uint8Array(12) }],
      }),
      /produced 12 bytes, expected 16/,
    );
    assert.throws(() => Deno.statSync(path), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
