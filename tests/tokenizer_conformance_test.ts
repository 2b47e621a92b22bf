/**
 * llama.cpp's own tokenizer test vectors (`ggml-vocab-*.gguf.inp/.out`, ids without BOS) for
 * the DeepSeek vocabularies, plus special-token parsing, BOS/EOS and EOG behaviour on the real
 * vocab files. Skips, saying why, when `<repo>/../shared/data/vocab` is absent.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GgufFile } from "../src/gguf/reader.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { REPO_ROOT } from "./helpers/node_llama_cpp.ts";

const VOCAB_DIR = join(REPO_ROOT, "..", "shared", "data", "vocab");
const vocabPath = (name: string) => join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
const present = ["deepseek-llm", "deepseek-coder"].every((n) =>
  existsSync(vocabPath(n)) && existsSync(`${vocabPath(n)}.inp`) && existsSync(`${vocabPath(n)}.out`)
);
if (!present) console.warn(`SKIPPED tokenizer_conformance_test: no vocab files in ${VOCAB_DIR}`);

function load(name: string): Tokenizer {
  using file = GgufFile.open(vocabPath(name));
  return Tokenizer.fromGguf(file);
}

/** The test cases: .inp holds texts separated by "\n__ggml_vocab_test__\n", .out one id line each. */
function readCases(name: string): { text: string; ids: number[] }[] {
  const inputs = Deno.readTextFileSync(`${vocabPath(name)}.inp`).split("\n__ggml_vocab_test__\n");
  // The file ends with a separator, leaving one empty element after the last case.
  if (inputs.at(-1) === "") inputs.pop();
  const lines = Deno.readTextFileSync(`${vocabPath(name)}.out`).split("\n");
  assert.ok(lines.length >= inputs.length, `${name}: fewer .out lines than .inp cases`);
  return inputs.map((text, i) => ({
    text,
    ids: lines[i].trim() === "" ? [] : lines[i].trim().split(/\s+/).map(Number),
  }));
}

for (const name of ["deepseek-llm", "deepseek-coder"]) {
  Deno.test({
    name: `Tokenizer.encode matches every llama.cpp test vector of ggml-vocab-${name}`,
    ignore: !present,
    fn: () => {
      const tokenizer = load(name);
      const cases = readCases(name);
      assert.equal(cases.length, 46);
      for (const { text, ids } of cases) {
        assert.deepEqual(tokenizer.encode(text, { addBos: false }), ids, JSON.stringify(text));
        assert.equal(tokenizer.decode(ids), text, `decode ${JSON.stringify(text)}`);
      }
    },
  });
}

Deno.test({
  name: "Tokenizer deepseek-llm reproduces the MLA_SPEC §5.2 examples and adds BOS 100000",
  ignore: !present,
  fn: () => {
    const t = load("deepseek-llm");
    assert.equal(t.vocabSize, 102400);
    assert.equal(t.pre, "deepseek-llm");
    assert.equal(t.bos, 100000);
    assert.equal(t.eos, 100001);
    assert.equal(t.addBos, true);
    const cases: [string, number[]][] = [
      ["Hello world", [17464, 1843]],
      [" Hello world", [37727, 1843]],
      ["Hello, world!", [17464, 11, 1843, 0]],
      ["333", [18, 18, 18]],
      ["\n\n", [185, 185]],
      [" ", [207]],
      ["   Hello", [243, 37727]],
    ];
    for (const [text, ids] of cases) assert.deepEqual(t.encode(text, { addBos: false }), ids);
    assert.deepEqual(t.encode("Hello world"), [100000, 17464, 1843]);
    assert.deepEqual(t.encode(""), [100000]);
    assert.deepEqual(t.encode("", { addBos: false }), []);
  },
});

Deno.test({
  name: "Tokenizer parses control tokens only with special: true, user-defined ones always",
  ignore: !present,
  fn: () => {
    const t = load("deepseek-llm");
    const text = "<｜begin▁of▁sentence｜>Hi<｜end▁of▁sentence｜>";
    assert.deepEqual(t.encode(text, { addBos: false, special: true }), [100000, 11007, 100001]);
    const plain = t.encode(text, { addBos: false });
    assert.ok(!plain.includes(100000) && !plain.includes(100001), "no control ids without special");
    assert.equal(t.decode(plain), text);
    // "ü" (100014) is a user-defined token: llama.cpp splits it out even without special.
    assert.deepEqual(t.encode("Führer", { addBos: false }), [37, 100014, 71, 6245]);
    // Control tokens render as text only when asked.
    assert.equal(t.decode([100000, 17464]), "Hello");
    assert.equal(t.decode([100000, 17464], { special: true }), "<｜begin▁of▁sentence｜>Hello");
    assert.equal(
      new TextDecoder().decode(t.tokenPiece(100001, { special: true })),
      "<｜end▁of▁sentence｜>",
    );
    assert.equal(t.tokenPiece(100001).length, 0);
  },
});

Deno.test({
  name: "Tokenizer.isEog covers EOS; FIM markers become control tokens as in llama.cpp",
  ignore: !present,
  fn: () => {
    const llm = load("deepseek-llm");
    assert.ok(llm.isEog(100001));
    assert.ok(!llm.isEog(100000));
    assert.deepEqual(llm.eogIds, [100001]);
    const coder = load("deepseek-coder");
    assert.equal(coder.bos, 32013);
    assert.deepEqual(coder.eogIds, [32014]);
    // llama.cpp promotes the FIM markers (user-defined in the file) to control tokens, so they
    // are plain text unless special parsing is on.
    const fim = "<｜fim▁begin｜>";
    assert.deepEqual(coder.encode(fim, { addBos: false, special: true }), [32016]);
    assert.notDeepEqual(coder.encode(fim, { addBos: false }), [32016]);
    assert.equal(coder.tokenType(32016), 3);
    // "<|EOT|>" stays user-defined: parsed even without special.
    assert.deepEqual(coder.encode("<|EOT|>", { addBos: false }), [32021]);
  },
});
