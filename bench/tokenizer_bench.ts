/**
 * Tokenizer speed: loading the 102,400-token DeepSeek vocabulary and tokenizing 1 MB of mixed
 * text (source code, prose, and generated multi-script text with emoji, CJK and digits).
 * Needs `<repo>/../shared/data/vocab/`; skips with a message otherwise.
 *
 * Run: `deno bench -A bench/tokenizer_bench.ts`
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { GgufFile } from "../src/gguf/reader.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { tokenizerCorpus } from "../tests/tokenizer_llama/corpus.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const VOCAB = join(ROOT, "..", "shared", "data", "vocab", "ggml-vocab-deepseek-llm.gguf");
const TEXT_BYTES = 1_000_000;

/** ~1 MB: one third each of repository TypeScript, markdown prose and generated mixed text. */
function mixedText(): string {
  const encoder = new TextEncoder();
  const take = (text: string, bytes: number) => {
    let out = text;
    while (encoder.encode(out).length < bytes) out += "\n" + text;
    return out.slice(0, Math.floor(out.length * bytes / encoder.encode(out).length));
  };
  const code: string[] = [];
  for (const dir of ["src/tokenizer", "src/gguf", "cli"]) {
    for (const entry of Deno.readDirSync(join(ROOT, dir))) {
      if (entry.isFile && entry.name.endsWith(".ts")) {
        code.push(Deno.readTextFileSync(join(ROOT, dir, entry.name)));
      }
    }
  }
  const docs = ["README.md", "../shared/docs/MLA_SPEC.md", "../shared/docs/STYLE.md"]
    .map((p) => join(ROOT, p)).filter(existsSync).map((p) => Deno.readTextFileSync(p));
  const third = TEXT_BYTES / 3;
  return take(code.join("\n"), third) + take(docs.join("\n"), third) +
    take(tokenizerCorpus(20000, 5).join("\n"), third);
}

function load(): Tokenizer {
  using file = GgufFile.open(VOCAB);
  return Tokenizer.fromGguf(file);
}

if (!existsSync(VOCAB)) {
  console.warn(`SKIPPED tokenizer_bench: ${VOCAB} not found`);
} else {
  const text = mixedText();
  const warm = load();
  warm.encode(text);
  const ids = warm.encode(text);
  console.log(
    `mixed text: ${new TextEncoder().encode(text).length} bytes, ${ids.length} tokens`,
  );

  Deno.bench({
    name: "load deepseek-llm vocab: GGUF open + Tokenizer.fromGguf",
    group: "load",
    baseline: true,
    n: 20,
    fn: () => {
      load();
    },
  });
  Deno.bench({
    name: "load deepseek-llm vocab + encode one short string",
    group: "load",
    n: 20,
    fn: () => {
      load().encode("x");
    },
  });
  Deno.bench({
    name: "encode 1 MB mixed text, fresh tokenizer (cold word cache)",
    group: "encode",
    baseline: true,
    n: 5,
    warmup: 1,
    fn: (b) => {
      const tokenizer = load();
      tokenizer.encode("x");
      b.start();
      tokenizer.encode(text);
      b.end();
    },
  });
  Deno.bench({
    name: "encode 1 MB mixed text, warm word cache",
    group: "encode",
    n: 5,
    warmup: 1,
    fn: () => {
      warm.encode(text);
    },
  });
  Deno.bench({
    name: "decode the 1 MB text's ids",
    group: "decode",
    n: 5,
    warmup: 1,
    fn: () => {
      warm.decode(ids);
    },
  });
  Deno.bench({
    name: "stream-decode the 1 MB text's ids one by one",
    group: "decode",
    n: 5,
    warmup: 1,
    fn: () => {
      const stream = warm.createStreamDecoder();
      for (const id of ids) stream.push(id);
      stream.flush();
    },
  });
}
