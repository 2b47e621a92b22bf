/**
 * The `tokenize` command end to end, on a small vocabulary-only GGUF written by the test
 * (byte tokens, one merge, BOS/EOS, an unusual architecture name).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { gguf } from "../src/gguf/values.ts";
import { writeGguf } from "../src/gguf/writer.ts";
import { byteToChar } from "../src/tokenizer/byte_encoder.ts";
import { REPO_ROOT } from "./helpers/node_llama_cpp.ts";

async function writeVocab(): Promise<string> {
  const tokens = [...Array.from({ length: 256 }, (_, b) => byteToChar(b)), "Ġa", "<s>", "</s>"];
  const types = tokens.map((_, i) => (i >= 257 ? 3 : 1));
  const dir = await Deno.makeTempDir();
  globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
  const path = join(dir, "vocab-only.gguf");
  await writeGguf(path, {
    metadata: [
      ["general.architecture", gguf.string("no-such-arch")],
      ["tokenizer.ggml.model", gguf.string("gpt2")],
      ["tokenizer.ggml.pre", gguf.string("deepseek-llm")],
      ["tokenizer.ggml.tokens", gguf.strings(tokens)],
      ["tokenizer.ggml.token_type", gguf.numbers("i32", types)],
      ["tokenizer.ggml.merges", gguf.strings(["Ġ a"])],
      ["tokenizer.ggml.bos_token_id", gguf.u32(257)],
      ["tokenizer.ggml.eos_token_id", gguf.u32(258)],
      ["tokenizer.ggml.add_bos_token", gguf.bool(true)],
    ],
    tensors: [],
  });
  return path;
}

async function cli(
  args: string[],
  stdin = "",
): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "cli", "main.ts"), "tokenize", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, out: decode(stdout), err: decode(stderr) };
}

const vocab = await writeVocab();

Deno.test("tokenize --ids prints the id list with BOS, and --no-bos drops it", async () => {
  const withBos = await cli(["-m", vocab, "-p", "b a", "--ids"]);
  assert.equal(withBos.code, 0, withBos.err);
  assert.equal(withBos.out, "[257, 98, 256]\n");
  const noBos = await cli(["-m", vocab, "-p", "b a", "--ids", "--no-bos"]);
  assert.equal(noBos.out, "[98, 256]\n");
});

Deno.test("tokenize prints id -> 'piece' lines and parses <s> only with --special", async () => {
  const plain = await cli(["-m", vocab, "-p", "<s>", "--no-bos"]);
  assert.equal(plain.out, "    60 -> '<'\n   115 -> 's'\n    62 -> '>'\n");
  const special = await cli(["-m", vocab, "--stdin", "--no-bos", "--special"], "<s> a");
  assert.equal(special.out, "   257 -> '<s>'\n   256 -> ' a'\n");
});

Deno.test("tokenize --stdin --jsonl prints one JSON id array per input string", async () => {
  const r = await cli(["-m", vocab, "--stdin", "--jsonl"], JSON.stringify(["a", "", " a a"]));
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(r.out.trimEnd().split("\n").map((l) => JSON.parse(l)), [
    [257, 97],
    [257],
    [257, 256, 256],
  ]);
});

Deno.test("tokenize reports usage errors with exit code 2", async () => {
  const missing = await cli(["-m", join(REPO_ROOT, "no-such.gguf"), "-p", "x"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /does not exist/);
  const both = await cli(["-m", vocab]);
  assert.equal(both.code, 2);
  assert.match(both.err, /exactly one of -p TEXT and --stdin/);
  const badJson = await cli(["-m", vocab, "--stdin", "--jsonl"], "[1, 2]");
  assert.equal(badJson.code, 2);
  assert.match(badJson.err, /JSON array of strings/);
});
