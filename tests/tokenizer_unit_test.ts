/**
 * Tokenizer parts on synthetic vocabularies (no files needed): the GPT-2 byte map, the
 * pre-tokenizer regex lists, BPE against a naive string reference, special-token priority,
 * streaming decode, chat templates and error reporting.
 */
import assert from "node:assert/strict";
import { GgufError, OptionError } from "../src/errors.ts";
import { BpeModel } from "../src/tokenizer/bpe.ts";
import { byteEncode, byteToChar, charCodeToByte } from "../src/tokenizer/byte_encoder.ts";
import { applyChatTemplate, detectChatTemplate } from "../src/tokenizer/chat_template.ts";
import { MergeTable } from "../src/tokenizer/merge_table.ts";
import {
  PreTokenizer,
  REGEX_SOURCES,
  splitByScan,
  splitEachFragment,
} from "../src/tokenizer/pre_tokenizer.ts";
import { SpecialTokenSplitter } from "../src/tokenizer/special_tokens.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { TokenType } from "../src/tokenizer/vocab.ts";

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("byteToChar is a bijection onto 256 characters that round-trips through charCodeToByte", () => {
  const seen = new Set<string>();
  for (let b = 0; b < 256; b++) {
    const ch = byteToChar(b);
    assert.equal(ch.length, 1);
    assert.equal(charCodeToByte(ch.charCodeAt(0)), b);
    seen.add(ch);
  }
  assert.equal(seen.size, 256);
  assert.equal(byteToChar(0x20), "Ġ");
  assert.equal(byteToChar(0x0a), "Ċ");
  assert.equal(byteToChar(0x41), "A");
  assert.equal(charCodeToByte(0x4e00), -1);
  assert.equal(byteEncode(" é\n"), "ĠÃ©Ċ");
  assert.equal(byteEncode("\ud800").length, 3); // lone surrogate → U+FFFD, 3 bytes
});

Deno.test("PreTokenizer deepseek-llm splits letters, punctuation, trailing spaces, CJK and digits", () => {
  const pre = PreTokenizer.create("deepseek-llm");
  assert.deepEqual(pre.split("Hello, world!"), ["Hello", ",", " world", "!"]);
  assert.deepEqual(pre.split("   Hello"), ["  ", " Hello"]);
  assert.deepEqual(pre.split("a  "), ["a", "  "]);
  assert.deepEqual(pre.split("\n\n"), ["\n", "\n"]);
  assert.deepEqual(pre.split("我想在apple工作1314"), ["我想在", "apple", "工作", "1314"]);
  assert.deepEqual(pre.split("안녕 세계"), ["안녕", " ", "세계"]);
  // U+3000 is whitespace to llama.cpp, so the U+3000..U+3002 punctuation range skips it.
  assert.deepEqual(pre.split("a\u3000b"), ["a", "\u3000b"]);
  assert.deepEqual(pre.split("٣٤٥"), ["٣٤٥"]);
  assert.deepEqual(pre.split(""), []);
});

Deno.test("PreTokenizer deepseek-coder splits digits one by one; deepseek-v3 in groups of three", () => {
  assert.deepEqual(PreTokenizer.create("deepseek-coder").split("x 1234"), [
    "x",
    " ",
    "1",
    "2",
    "3",
    "4",
  ]);
  const v3 = PreTokenizer.create("deepseek-v3");
  assert.deepEqual(v3.split("1234567"), ["123", "456", "7"]);
  assert.deepEqual(v3.split("Hello world"), ["Hello", " world"]);
  assert.deepEqual(v3.split(".net ~~ x\n\n"), [".net", " ~~", " x", "\n\n"]);
  assert.deepEqual(v3.split("カタカナ漢字"), ["カタカナ漢字"]);
});

Deno.test("PreTokenizer words always concatenate back to the input", () => {
  const random = prng(7);
  const alphabet = [
    "a",
    "Z",
    " ",
    "\n",
    "\t",
    "1",
    "٣",
    ".",
    "~",
    "中",
    "가",
    "é",
    "\u0301",
    "😀",
    "\u3000",
    "\u00a0",
    "'",
    "\r",
  ];
  for (const name of ["deepseek-llm", "deepseek-coder", "deepseek-v3"]) {
    const pre = PreTokenizer.create(name);
    for (let i = 0; i < 300; i++) {
      let s = "";
      const n = Math.floor(random() * 30);
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(random() * alphabet.length)];
      const words = pre.split(s);
      assert.equal(words.join(""), s);
      assert.ok(words.every((w) => w.length > 0));
    }
  }
});

Deno.test("PreTokenizer.create rejects an unknown pre-tokenizer with a GgufError naming the field", () => {
  assert.throws(() => PreTokenizer.create("llama3"), (e: unknown) => {
    assert.ok(e instanceof GgufError);
    assert.equal(e.field, "tokenizer.ggml.pre");
    assert.match(e.message, /"llama3" is not supported/);
    return true;
  });
});

Deno.test("MergeTable finds added pairs, keeps the first of duplicates, misses others and grows", () => {
  const table = new MergeTable(1000);
  for (let i = 0; i < 1000; i++) assert.ok(table.add(i, 999 - i, i, 5000 + i));
  assert.ok(!table.add(3, 996, 77, 1));
  assert.equal(table.size, 1000);
  for (let i = 0; i < 1000; i++) {
    const slot = table.find(i, 999 - i);
    assert.equal(table.rank(slot), i);
    assert.equal(table.result(slot), 5000 + i);
  }
  assert.equal(table.find(1, 1), -1);
  const grown = new MergeTable(1);
  for (let i = 0; i < 5000; i++) grown.add(i, i + 1, i, -1);
  assert.equal(grown.size, 5000);
  for (let i = 0; i < 5000; i++) assert.equal(grown.rank(grown.find(i, i + 1)), i);
});

/** llama.cpp's BPE word loop on strings: merge the lowest-rank, leftmost pair until none. */
function referenceBpe(symbols: string[], ranks: Map<string, number>): string[] {
  const s = [...symbols];
  while (true) {
    let best = -1, bestRank = Infinity;
    for (let i = 0; i + 1 < s.length; i++) {
      const rank = ranks.get(`${s[i]} ${s[i + 1]}`);
      if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
    }
    if (best < 0) return s;
    s.splice(best, 2, s[best] + s[best + 1]);
  }
}

/**
 * Random merges over a 4-letter alphabet so that long words merge in many orders. `layout`
 * lists each merge's result as token `256 + rank` (the HF layout BpeModel's fast path uses);
 * otherwise results are appended only when new, which defeats that layout.
 */
function randomMerges(
  random: () => number,
  layout: boolean,
): { tokens: string[]; merges: string[] } {
  const tokens = Array.from({ length: 256 }, (_, b) => byteToChar(b));
  const merges: string[] = [];
  const known = new Set(tokens);
  while (merges.length < 300) {
    const pool = [...known].filter((t) => [...t].every((c) => "abcd".includes(c)));
    const a = pool[Math.floor(random() * pool.length)],
      b = pool[Math.floor(random() * pool.length)];
    if (a.length + b.length > 8 || merges.includes(`${a} ${b}`)) continue;
    if (layout && known.has(a + b)) continue;
    merges.push(`${a} ${b}`);
    if (!known.has(a + b)) {
      known.add(a + b);
      tokens.push(a + b);
    }
  }
  return { tokens, merges };
}

for (const layout of [false, true]) {
  Deno.test(`BpeModel matches a naive reference BPE on random words (scan and heap paths, HF layout ${layout})`, () => {
    const random = prng(layout ? 12 : 11);
    const { tokens, merges } = randomMerges(random, layout);
    const model = new BpeModel(tokens, merges);
    const ranks = new Map(merges.map((m, i) => [m, i]));
    const idOf = new Map(tokens.map((t, i) => [t, i]));
    for (let i = 0; i < 400; i++) {
      const length = 1 + Math.floor(random() * (i % 2 === 0 ? 40 : 200));
      let word = "";
      for (let j = 0; j < length; j++) word += "abcd"[Math.floor(random() * 4)];
      const out: number[] = [];
      model.encodeWord(word, out);
      const expected = referenceBpe([...word], ranks).map((p) => idOf.get(p)!);
      assert.deepEqual(out, expected, word);
    }
  });
}

Deno.test("SpecialTokenSplitter tries longer tokens first across the whole text, as llama.cpp", () => {
  const tokens = ["x", "xa", "abcd", "<c>", "u"];
  const types = new Uint8Array([1, 4, 4, 3, 4]);
  const splitter = new SpecialTokenSplitter(tokens, types);
  // "abcd" (longer) wins over the earlier-starting "xa".
  assert.deepEqual(splitter.split("xabcd", false), ["x", 2]);
  assert.deepEqual(splitter.split("xaxa u", false), [1, 1, " ", 4]);
  assert.deepEqual(splitter.split("a<c>b", false), ["a<c>b"]);
  assert.deepEqual(splitter.split("a<c>b<c>", true), ["a", 3, "b", 3]);
  assert.deepEqual(splitter.split("", true), []);
});

/** A tiny byte-level vocab: the 256 bytes, "Ġa", "<s>", "</s>" and a user-defined "ü". */
function tinyTokenizer(pre = "deepseek-llm"): Tokenizer {
  const tokens = [
    ...Array.from({ length: 256 }, (_, b) => byteToChar(b)),
    "Ġa",
    "<s>",
    "</s>",
    "ü",
  ];
  const types = tokens.map((
    _,
    i,
  ) => (i === 257 || i === 258
    ? TokenType.control
    : i === 259
    ? TokenType.userDefined
    : TokenType.normal)
  );
  return new Tokenizer({
    tokens,
    merges: ["Ġ a"],
    tokenTypes: types,
    pre,
    bos: 257,
    eos: 258,
    addBos: true,
  });
}

Deno.test("Tokenizer stream decoder holds back split UTF-8 and joins to the full decode", () => {
  const t = tinyTokenizer();
  const ids = t.encode("é😀 a", { addBos: false });
  // Each byte of é (2) and 😀 (4) is its own token; " a" merges into one.
  assert.deepEqual(ids, [0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, 256]);
  const stream = t.createStreamDecoder();
  assert.deepEqual(ids.map((id) => stream.push(id)), ["", "é", "", "", "", "😀", " a"]);
  assert.equal(stream.flush(), "");
  const cut = t.createStreamDecoder();
  assert.equal(cut.push(0xf0), "");
  assert.equal(cut.flush(), "\ufffd");
  assert.equal(t.decode([0xf0]), "\ufffd");
});

Deno.test("Tokenizer encodes user-defined tokens always, control tokens only with special", () => {
  const t = tinyTokenizer();
  assert.deepEqual(t.encode("ü<s>", { addBos: false }), [259, 0x3c, 0x73, 0x3e]);
  assert.deepEqual(t.encode("ü<s>", { addBos: false, special: true }), [259, 257]);
  assert.deepEqual(t.encode("a"), [257, 0x61]);
  assert.equal(t.decode([257, 259, 256]), "ü a");
  assert.ok(t.isEog(258) && !t.isEog(257));
});

Deno.test("Tokenizer rejects bad ids and inconsistent vocabularies with typed errors", () => {
  const t = tinyTokenizer();
  assert.throws(() => t.decode([260]), OptionError);
  assert.throws(() => t.decode([-1]), OptionError);
  assert.throws(() => t.tokenPiece(1.5), OptionError);
  assert.throws(
    () =>
      new Tokenizer({
        tokens: ["a"],
        merges: [],
        tokenTypes: [1, 1],
        pre: "deepseek-llm",
        bos: 0,
        eos: 0,
        addBos: true,
      }),
    (e: unknown) => e instanceof GgufError && e.field === "tokenizer.ggml.token_type",
  );
  assert.throws(
    () =>
      new Tokenizer({
        tokens: ["a"],
        merges: [],
        pre: "deepseek-llm",
        bos: 5,
        eos: 0,
        addBos: true,
      }),
    (e: unknown) => e instanceof GgufError && e.field === "tokenizer.ggml.bos_token_id",
  );
  assert.throws(() => tinyTokenizer("gpt2"), GgufError);
  assert.throws(
    () =>
      new Tokenizer({
        tokens: ["a"],
        merges: ["ab"],
        pre: "deepseek-llm",
        bos: 0,
        eos: 0,
        addBos: true,
      }).encode("a"),
    (e: unknown) => e instanceof GgufError && e.field === "tokenizer.ggml.merges",
  );
});

const CONVERSATION = [
  { role: "system", content: "You are a helpful assistant" },
  { role: "user", content: "Hello" },
  { role: "assistant", content: "Hi there" },
  { role: "user", content: "Who are you" },
  { role: "assistant", content: "   I am an assistant   " },
  { role: "user", content: "Another question" },
] as const;

Deno.test("applyChatTemplate deepseek2 reproduces llama.cpp's test-chat-template output", () => {
  assert.equal(
    applyChatTemplate(CONVERSATION, { template: "deepseek2", addGenerationPrompt: true }),
    "You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there<｜end▁of▁sentence｜>" +
      "User: Who are you\n\nAssistant:    I am an assistant   <｜end▁of▁sentence｜>" +
      "User: Another question\n\nAssistant:",
  );
  assert.equal(
    applyChatTemplate([{ role: "user", content: "Hi" }], { addGenerationPrompt: false }),
    "User: Hi\n\n",
  );
});

Deno.test("applyChatTemplate deepseek3 and deepseek (coder) render llama.cpp's formats", () => {
  assert.equal(
    applyChatTemplate(CONVERSATION, { template: "deepseek3" }),
    "You are a helpful assistant\n\n<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜>" +
      "<｜User｜>Who are you<｜Assistant｜>   I am an assistant   <｜end▁of▁sentence｜>" +
      "<｜User｜>Another question<｜Assistant｜>",
  );
  assert.equal(
    applyChatTemplate(CONVERSATION.slice(0, 3), { template: "deepseek" }),
    "You are a helpful assistant### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n### Response:\n",
  );
});

Deno.test("detectChatTemplate recognises DeepSeek Jinja templates and applyChatTemplate rejects others", () => {
  const v2 =
    "{% if message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}";
  const v3 = "{{'<｜User｜>' + content}}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}";
  const coder = "### Instruction:\n{{ content }}\n<|EOT|>";
  assert.equal(detectChatTemplate(v2), "deepseek2");
  assert.equal(detectChatTemplate(v3), "deepseek3");
  assert.equal(detectChatTemplate(coder), "deepseek");
  assert.equal(detectChatTemplate("{{ '<|im_start|>' }}"), undefined);
  assert.equal(
    applyChatTemplate([{ role: "user", content: "x" }], { template: v2 }),
    "User: x\n\nAssistant:",
  );
  assert.throws(() => applyChatTemplate([], { template: "chatml" }), OptionError);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => applyChatTemplate([{ role: "tool" as any, content: "x" }], {}),
    /Message 0 has role "tool"/,
  );
});

Deno.test("splitByScan equals per-fragment splitting for every anchor-free regex on random text", () => {
  const random = prng(23);
  const alphabet = [
    "a",
    "Z",
    " ",
    "\n",
    "\t",
    "\v",
    "1",
    "٣",
    ".",
    "!",
    "~",
    "中",
    "가",
    "é",
    "Ⴀ",
    "\u0301",
    "😀",
    "'",
    "\r",
    "ｶ",
    "”",
  ];
  for (const [name, sources] of Object.entries(REGEX_SOURCES)) {
    for (const source of sources.filter((s) => !s.includes("$") && !s.includes("(?"))) {
      const regex = new RegExp(source, "gv");
      for (let i = 0; i < 200; i++) {
        let text = "";
        const n = 1 + Math.floor(random() * 40);
        for (let j = 0; j < n; j++) text += alphabet[Math.floor(random() * alphabet.length)];
        // Random existing fragmentation, cut only between code points.
        const ends = new Set<number>([text.length]);
        for (let j = 0; j < 4; j++) {
          const at = Math.floor(random() * text.length);
          if (at > 0 && !(text.charCodeAt(at) >= 0xdc00 && text.charCodeAt(at) <= 0xdfff)) {
            ends.add(at);
          }
        }
        const sorted = [...ends].sort((a, b) => a - b);
        assert.deepEqual(
          splitByScan(text, sorted, regex),
          splitEachFragment(text, sorted, regex),
          `${name} ${source.slice(0, 30)} ${JSON.stringify(text)} ${sorted}`,
        );
      }
    }
  }
});

Deno.test("Tokenizer stream decoder equals one-shot decoding on random, partly invalid byte pieces", () => {
  const random = prng(31);
  // Byte tokens plus pieces of 1..4 random bytes biased towards UTF-8 lead/continuation bytes.
  const interesting = [
    0x41,
    0x7f,
    0x80,
    0x9f,
    0xa0,
    0xbf,
    0xc2,
    0xc3,
    0xdf,
    0xe0,
    0xed,
    0xef,
    0xf0,
    0xf4,
    0xf5,
    0xff,
  ];
  const tokens = Array.from({ length: 256 }, (_, b) => byteToChar(b));
  const known = new Set(tokens);
  while (tokens.length < 600) {
    const n = 1 + Math.floor(random() * 4);
    let piece = "";
    for (let i = 0; i < n; i++) {
      piece += byteToChar(interesting[Math.floor(random() * interesting.length)]);
    }
    if (!known.has(piece)) {
      known.add(piece);
      tokens.push(piece);
    }
  }
  tokens.push("<s>");
  const types = tokens.map((
    _,
    i,
  ) => (i === tokens.length - 1 ? TokenType.control : TokenType.normal));
  const t = new Tokenizer({
    tokens,
    merges: [],
    tokenTypes: types,
    pre: "deepseek-llm",
    bos: 600,
    eos: 600,
    addBos: false,
  });
  for (let round = 0; round < 500; round++) {
    const ids = Array.from(
      { length: 1 + Math.floor(random() * 12) },
      () => Math.floor(random() * tokens.length),
    );
    const stream = t.createStreamDecoder();
    let streamed = "";
    for (const id of ids) streamed += stream.push(id);
    streamed += stream.flush();
    assert.equal(streamed, t.decode(ids), JSON.stringify(ids));
    // The decoder is reusable after flush.
    assert.equal(stream.push(0x41) + stream.flush(), "A");
  }
});
