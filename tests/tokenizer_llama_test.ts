/**
 * The tokenizer against llama.cpp itself (node-llama-cpp loading the vocabulary-only GGUFs):
 * a few hundred generated strings, with and without special-token parsing, plus the
 * round-trip property decode(encode(s)) === s. Skips, saying why, when the vocab files or
 * node-llama-cpp are absent.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GgufFile } from "../src/gguf/reader.ts";
import { gguf } from "../src/gguf/values.ts";
import { writeGguf } from "../src/gguf/writer.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { findNodeLlamaCpp, REPO_ROOT, runNodeJson } from "./helpers/node_llama_cpp.ts";
import { tokenizerCorpus } from "./tokenizer_llama/corpus.ts";

const VOCAB_DIR = join(REPO_ROOT, "..", "shared", "data", "vocab");
const VOCABS = ["deepseek-llm", "deepseek-coder"].map((name) => ({
  name,
  path: join(VOCAB_DIR, `ggml-vocab-${name}.gguf`),
}));
const haveVocabs = VOCABS.every((v) => existsSync(v.path));

/**
 * There is no DeepSeek-V3 vocab file here, so the deepseek-v3 regex list is checked on the
 * deepseek-llm vocabulary with `tokenizer.ggml.pre` rewritten: llama.cpp then splits with the
 * v3 regexes and merges with the same BPE, which is all this comparison needs.
 */
async function writeV3Variant(): Promise<string> {
  using source = GgufFile.open(VOCABS[0].path);
  const metadata = [...source.metadata].map(([key, value]) =>
    [key, key === "tokenizer.ggml.pre" ? gguf.string("deepseek-v3") : value] as const
  );
  // Under the gitignored .cache/ so repeated runs overwrite one file instead of leaking temp dirs.
  const dir = join(REPO_ROOT, ".cache", "tokenizer");
  Deno.mkdirSync(dir, { recursive: true });
  const path = join(dir, "ggml-vocab-deepseek-v3-from-llm.gguf");
  await writeGguf(path, { metadata, tensors: [] });
  return path;
}
if (haveVocabs) VOCABS.push({ name: "deepseek-v3 (llm vocab)", path: await writeV3Variant() });
const reference = findNodeLlamaCpp();
const skipReason = !haveVocabs
  ? `vocab files not found in ${VOCAB_DIR}`
  : "missing" in reference
  ? reference.missing
  : undefined;
if (skipReason !== undefined) {
  console.warn(`SKIPPED tokenizer_llama_test: ${skipReason}`);
}

const CORPUS = tokenizerCorpus(320);
/** Every 4th string is also tokenized with special-token parsing on. */
const SPECIAL_STRIDE = 4;

function loadTokenizer(path: string): Tokenizer {
  using file = GgufFile.open(path);
  return Tokenizer.fromGguf(file);
}

/**
 * Every code point of the BMP and the SMP, plus every 7th of planes 2-3 and the tag and
 * variation-selector block, 128 per string, each in a context where its category decides the
 * split (after a space, before a letter, a digit and punctuation): a category that differs
 * between V8's Unicode tables and llama.cpp's changes the ids.
 */
function codePointChunks(): string[] {
  const ranges: [number, number, number][] = [
    [0x20, 0xd7ff, 1],
    [0xe000, 0xfffd, 1],
    [0x10000, 0x1ffff, 1],
    [0x20000, 0x3ffff, 7],
    [0xe0000, 0xe01ef, 1],
  ];
  const chunks: string[] = [];
  let chunk = "", count = 0;
  for (const [first, last, step] of ranges) {
    for (let cp = first; cp <= last; cp += step) {
      const ch = String.fromCodePoint(cp);
      chunk += ` ${ch}a${ch}1${ch}!\n`;
      if (++count % 128 === 0) {
        chunks.push(chunk);
        chunk = "";
      }
    }
  }
  if (chunk !== "") chunks.push(chunk);
  return chunks;
}

interface Job {
  model: string;
  items: { text: string; special: boolean }[];
  detokenize: number[][];
}

interface Reference {
  tokenizers: Tokenizer[];
  jobs: Job[];
  results: { ids: number[][]; texts: string[] }[];
  /** Index in `items` where the code point chunks start. */
  chunkStart: number;
}

let referenceRun: Promise<Reference> | undefined;

/** One node-llama-cpp process tokenizes everything both tests need, for all vocabs. */
function runReference(): Promise<Reference> {
  referenceRun ??= (async () => {
    const tokenizers = VOCABS.map((v) => loadTokenizer(v.path));
    const chunks = codePointChunks();
    let chunkStart = 0;
    const jobs: Job[] = VOCABS.map((v, k) => {
      const items = CORPUS.map((text) => ({ text, special: false }));
      CORPUS.forEach((text, i) => {
        if (i % SPECIAL_STRIDE === 0) items.push({ text, special: true });
      });
      chunkStart = items.length;
      for (const text of chunks) items.push({ text, special: false });
      // Detokenize our own ids of each string: llama.cpp's text must equal ours.
      const detokenize = CORPUS.map((text) => tokenizers[k].encode(text, { addBos: false }));
      return { model: v.path, items, detokenize };
    });
    const entry = (reference as { entry: string }).entry;
    const { results } = await runNodeJson<{ results: Reference["results"] }>(
      join(REPO_ROOT, "tests", "tokenizer_llama", "tokenize.mjs"),
      { entry, jobs },
    );
    return { tokenizers, jobs, results, chunkStart };
  })();
  return referenceRun;
}

function compare(ref: Reference, from: number, to: number): string[] {
  const failures: string[] = [];
  VOCABS.forEach((v, k) => {
    ref.jobs[k].items.slice(from, to).forEach((item, j) => {
      const ours = ref.tokenizers[k].encode(item.text, { addBos: false, special: item.special });
      const theirs = ref.results[k].ids[from + j];
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) {
        // Show the ids around the first difference and the text that produced them.
        let at = 0;
        while (ours[at] === theirs[at]) at++;
        const from = Math.max(0, at - 4);
        const text = ref.tokenizers[k].decode(theirs.slice(from, at + 8));
        failures.push(
          `${v.name} special=${item.special} at id ${at} near ${JSON.stringify(text)}\n` +
            `  ours:      ${ours.slice(from, at + 8).join(" ")}\n` +
            `  llama.cpp: ${theirs.slice(from, at + 8).join(" ")}`,
        );
      }
    });
  });
  return failures;
}

Deno.test({
  name: "Tokenizer.encode matches llama.cpp on 357 strings for deepseek-llm, -coder and -v3",
  ignore: skipReason !== undefined,
  sanitizeResources: false,
  fn: async () => {
    const ref = await runReference();
    const failures = compare(ref, 0, ref.chunkStart);
    VOCABS.forEach((v, k) => {
      ref.results[k].texts.forEach((text, i) => {
        const ours = ref.tokenizers[k].decode(ref.jobs[k].detokenize[i]);
        if (ours !== text) {
          failures.push(`${v.name} decode ${JSON.stringify(ours)} vs ${JSON.stringify(text)}`);
        }
      });
    });
    assert.ok(ref.chunkStart > 400, "the corpus holds several hundred strings");
    assert.equal(failures.length, 0, failures.slice(0, 10).join("\n"));
  },
});

Deno.test({
  name: "Tokenizer.encode matches llama.cpp for every BMP and SMP code point in context",
  ignore: skipReason !== undefined,
  sanitizeResources: false,
  fn: async () => {
    const ref = await runReference();
    const failures = compare(ref, ref.chunkStart, Infinity);
    assert.equal(failures.length, 0, failures.slice(0, 5).join("\n"));
  },
});

Deno.test({
  name: "Tokenizer decode(encode(s)) === s over the generated corpus, with BOS and with streaming",
  ignore: !haveVocabs,
  fn: () => {
    for (const v of VOCABS) {
      const tokenizer = loadTokenizer(v.path);
      for (const text of CORPUS) {
        const ids = tokenizer.encode(text);
        assert.equal(ids[0], tokenizer.bos);
        assert.equal(tokenizer.decode(ids), text, `${v.name} ${JSON.stringify(text)}`);
        const stream = tokenizer.createStreamDecoder();
        let streamed = "";
        for (const id of ids) {
          const chunk = stream.push(id);
          // Every chunk is whole characters: no lone surrogate halves, no U+FFFD.
          assert.ok(!chunk.includes("\ufffd") || text.includes("\ufffd"), "chunk holds U+FFFD");
          assert.ok(chunk.isWellFormed(), "chunk is well-formed UTF-16");
          streamed += chunk;
        }
        streamed += stream.flush();
        assert.equal(streamed, text, `${v.name} streamed ${JSON.stringify(text)}`);
      }
    }
  },
});
