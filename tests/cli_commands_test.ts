import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type {
  ContextLike,
  ContextOptionsLike,
  GenerateOptionsLike,
  ModelLike,
} from "../cli/engine.ts";
import { main } from "../cli/main.ts";
import { parseBenchArgs } from "../cli/commands/bench.ts";
import { chatLoop, turnDelta } from "../cli/commands/chat.ts";
import { depthTable } from "../cli/commands/demo.ts";
import { generateToStream } from "../cli/commands/run.ts";
import { contextLengthFor, planTests, runBench } from "../cli/bench/runner.ts";
import { generationOptions, timingLine } from "../cli/generation_flags.ts";
import { UsageError } from "../cli/usage.ts";

const root = fileURLToPath(new URL("../", import.meta.url));

function busyWaitMs(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin: the fake's "compute" */ }
}

/** A fake engine that records calls; evaluating costs 0.2 ms per token, filling 30 ms. */
class FakeContext implements ContextLike {
  nPast = 0;
  calls: string[] = [];
  prompts: (string | number[])[] = [];
  stats = { promptTokens: 3, promptMs: 30, generatedTokens: 4, generateMs: 200 };
  constructor(readonly options: ContextOptionsLike) {}
  reset(): void {
    this.nPast = 0;
    this.calls.push("reset");
  }
  evalLogits(tokens: number[]): Float32Array {
    busyWaitMs(0.2 * tokens.length);
    this.nPast += tokens.length;
    this.calls.push(`eval ${tokens.length}`);
    return new Float32Array(8);
  }
  async *generate(prompt: string | number[], opts: GenerateOptionsLike = {}) {
    this.prompts.push(prompt);
    opts.onPrefillProgress?.(1, 1);
    for (const piece of ["Hel", "lo", " world"].slice(0, opts.maxTokens ?? 3)) {
      if (opts.signal?.aborted) return;
      await Promise.resolve();
      yield piece;
    }
  }
  fillSynthetic(n: number): void {
    busyWaitMs(30);
    this.nPast += n;
    this.calls.push(`fill ${n}`);
  }
  close(): void {
    this.calls.push("close");
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

class FakeModel implements ModelLike {
  contexts: FakeContext[] = [];
  info = {
    name: "fake",
    nLayer: 2,
    vocabSize: 100,
    weightType: "Q8_0",
    fileBytes: 50 * 1024 ** 2,
    paramCount: 52e6,
  };
  tokenize(text: string): number[] {
    return [...text].map((c) => c.charCodeAt(0) % 100);
  }
  detokenize(ids: number[]): string {
    return ids.join(" ");
  }
  createContext(opts: ContextOptionsLike = {}): FakeContext {
    const ctx = new FakeContext(opts);
    this.contexts.push(ctx);
    return ctx;
  }
  close(): void {}
  [Symbol.dispose](): void {}
}

function sink(): { writeSync(b: Uint8Array): number; text(): string } {
  let text = "";
  const decoder = new TextDecoder();
  return {
    writeSync: (b) => {
      text += decoder.decode(b);
      return b.length;
    },
    text: () => text,
  };
}

Deno.test("parseBenchArgs reads llama-bench flags, comma lists and -ctk", () => {
  const { plan, models, output } = parseBenchArgs([
    "-m",
    "a.gguf",
    "-p",
    "512",
    "-n",
    "64",
    "-d",
    "0,4096",
    "--gp",
    "16384,64",
    "-ctk",
    "f16,q8_KV",
    "--attn",
    "heads,kvsplit",
    "-t",
    "2",
    "-r",
    "3",
    "-o",
    "json",
    "--fill",
    "synthetic",
  ]);
  assert.deepEqual(models, ["a.gguf"]);
  assert.equal(output, "json");
  assert.deepEqual(plan.cacheTypes, ["f16", "q8_KV"]);
  assert.deepEqual(plan.attentions, ["heads", "kvsplit"]);
  assert.deepEqual(plan.threads, [2]);
  assert.equal(plan.repetitions, 3);
  assert.equal(plan.fill, "synthetic");
  assert.deepEqual(plan.tests, [
    { nPrompt: 512, nGen: 0, depth: 0 },
    { nPrompt: 0, nGen: 64, depth: 0 },
    { nPrompt: 512, nGen: 0, depth: 4096 },
    { nPrompt: 0, nGen: 64, depth: 4096 },
    { nPrompt: 0, nGen: 64, depth: 16384 },
  ]);
  // llama.cpp's -pg spelling and the defaults.
  const defaults = parseBenchArgs(["-m", "a.gguf", "-pg", "1024,32"]).plan;
  assert.equal(defaults.repetitions, 5);
  assert.deepEqual(defaults.cacheTypes, ["f16"]);
  assert.deepEqual(defaults.tests.at(-1), { nPrompt: 0, nGen: 32, depth: 1024 });
});

Deno.test("parseBenchArgs names the flag and value of every mistake", () => {
  const cases: [string[], RegExp][] = [
    [[], /-m MODEL is required/],
    [["-m", "a", "-ctk", "q4_0"], /-ctk must be one of f16, q8_0, q8_KV, got "q4_0"/],
    [["-m", "a", "--attn", "fast"], /--attn must be one of auto, heads, kvsplit/],
    [["-m", "a", "-d", "0,-5"], /-d must be an integer from 0/],
    [["-m", "a", "--gp", "512"], /--gp must be DEPTH,N, got "512"/],
    [["-m", "a", "-r", "0"], /-r must be an integer from 1 to 1000, got "0"/],
    [["-m", "a", "-o", "xml"], /-o must be one of md, json, jsonl, csv/],
    [["-m", "a", "--plot", "x.png"], /--plot must name an .svg file/],
    [["-m", "a", "-p", "0", "-n", "0"], /Nothing to run/],
    [["-m", "a", "--bogus"], /bogus/],
    [["-m", "a", "-ngl", "99"], /Unknown flag "-ngl"/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseBenchArgs(args), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
      assert.match(e.message, message);
      return true;
    });
  }
});

Deno.test("runBench times only the test part, one context per configuration", async () => {
  const model = new FakeModel();
  const tests = planTests([16], [4], [0, 1000], []);
  const rows = await runBench(model, {
    tests,
    threads: [1, 2],
    cacheTypes: ["f16"],
    attentions: ["heads", "kvsplit"],
    repetitions: 2,
    fill: "synthetic",
    batchSize: 512,
    warmup: true,
  }, { modelFilename: "fake.gguf", buildCommit: "abc", cpuInfo: "cpu" });
  assert.equal(rows.length, 2 * 2 * tests.length);
  assert.equal(model.contexts.length, 4);
  assert.deepEqual(model.contexts[0].options, {
    ctxLen: contextLengthFor(tests),
    threads: 1,
    cacheType: "f16",
    attention: "heads",
    batchSize: 512,
  });
  // Every repetition resets, fills depth synthetically, then evaluates the test tokens.
  const calls = model.contexts[0].calls;
  // Warm-up (a 32-token batch and one decode), then each repetition resets and evaluates.
  assert.deepEqual(calls.slice(0, 7), [
    "reset",
    "eval 32",
    "eval 1",
    "reset",
    "eval 16",
    "reset",
    "eval 16",
  ]);
  assert.ok(calls.includes("fill 1000"));
  assert.equal(calls.at(-1), "close");
  for (const row of rows) {
    // The 30 ms fill is excluded: pp16 costs ~3.2 ms, tg4 ~0.8 ms.
    assert.ok(row.avg_ns < 25e6, `${row.n_depth} ${row.avg_ns}`);
    assert.equal(row.samples_ns.length, 2);
    assert.equal(row.fill, row.n_depth > 0 ? "synthetic" : "prefill");
    assert.equal(row.model_type, "deepseek2 52M Q8_0");
  }
  const pp = rows.find((r) => r.n_prompt === 16 && r.n_depth === 0)!;
  assert.ok(pp.avg_ts > 16 / 0.025 && pp.avg_ts < 16 / 0.0032 * 1.01, String(pp.avg_ts));
  const table = depthTable(rows.filter((r) => r.n_gen > 0 && r.n_threads === 1));
  assert.match(table, /^\| depth \| heads t\/s \| kvsplit t\/s \| kvsplit \/ heads \|/);
  assert.equal(table.split("\n").length, 4);
});

Deno.test("generateToStream streams pieces and returns the timing line", async () => {
  const model = new FakeModel();
  const out = sink();
  const line = await generateToStream(
    model,
    "Say hi",
    { chat: false, stop: ["\n"], values: { "n-predict": "3", temp: "0", seed: "7" } },
    out,
  );
  assert.equal(out.text(), "Hello world");
  assert.equal(line, timingLine(model.contexts[0].stats));
  assert.match(line, /^prompt 3 tokens 0\.03 s \(100\.00 t\/s\) \| generation 4 tokens 0\.20 s/);
  assert.deepEqual(model.contexts[0].prompts, ["Say hi"]);
});

Deno.test("generateToStream with --chat wraps the prompt in the chat template", async () => {
  const model = new FakeModel();
  await generateToStream(model, "Hi", { chat: true, stop: [], values: {} }, sink());
  const prompt = model.contexts[0].prompts[0] as string;
  assert.ok(prompt.includes("Hi") && prompt.trimEnd().endsWith("Assistant:"), prompt);
});

Deno.test("chatLoop evaluates only each new turn on top of the cached conversation", async () => {
  const model = new FakeModel();
  const input = ["first question", "", "second question", "/reset", "third", "/exit", "never"];
  const out = sink();
  const replies = await chatLoop(model, { system: "Be brief." }, {
    lines: { next: () => Promise.resolve(input.shift() ?? null) },
    out,
  });
  assert.equal(replies, 3);
  const ctx = model.contexts[0];
  const prompts = ctx.prompts as string[];
  assert.equal(prompts.length, 3);
  // Turn 1: the whole conversation from an empty cache.
  assert.ok(prompts[0].startsWith("Be brief.") && prompts[0].includes("User: first question"));
  assert.ok(prompts[0].endsWith("Assistant:"), prompts[0]);
  // Turn 2: only what closes reply 1, the new question and the opener.
  assert.equal(prompts[1], "<｜end▁of▁sentence｜>User: second question\n\nAssistant:");
  // After /reset: a fresh conversation again, from an empty cache.
  assert.ok(!prompts[2].includes("first question") && prompts[2].includes("User: third"));
  assert.deepEqual(ctx.calls.filter((c) => c === "reset").length, 2);
  assert.ok(out.text().includes("(new conversation)"));
  assert.deepEqual(input, ["never"], "nothing is read after /exit");
});

Deno.test("turnDelta is the text between the cached reply and the new opener", () => {
  const past = "User: a\n\nAssistant: b<eos>";
  assert.equal(turnDelta(past, `${past}User: c\n\nAssistant:`, "zz"), undefined);
  assert.equal(turnDelta(past, `${past}User: c\n\nAssistant:`, "b"), "<eos>User: c\n\nAssistant:");
  assert.equal(turnDelta(past, "something else", "b"), undefined);
  assert.equal(turnDelta("x", "xy", ""), "y");
});

Deno.test("generationOptions applies llama-cli defaults and refuses bad values", () => {
  const { context, generate } = generationOptions({ seed: "5" }, 128);
  assert.equal(context.ctxLen, 4096);
  assert.equal(context.cacheType, "f16");
  assert.equal(generate.maxTokens, 128);
  assert.equal(generate.temperature, 0.8);
  assert.equal(generate.seed, 5);
  assert.throws(() => generationOptions({ "top-p": "1.5" }, 1), /--top-p must be a number/);
  assert.throws(() => generationOptions({ threads: "0" }, 1), /-t must be an integer from 1/);
  assert.throws(() => generationOptions({ ctk: "q4" }, 1), /-ctk must be one of/);
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}cli/main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

Deno.test("main: --help exits 0, usage mistakes exit 2 and name the problem", async () => {
  const log = console.log, error = console.error;
  const printed: string[] = [];
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  console.error = (...a: unknown[]) => printed.push(a.join(" "));
  try {
    for (const name of ["run", "chat", "bench", "demo"]) {
      printed.length = 0;
      assert.equal(await main([name, "--help"]), 0);
      assert.match(printed.join("\n"), new RegExp(`flashmla ${name} `));
    }
    printed.length = 0;
    assert.equal(await main(["run", "-m", "/no/such/model.gguf", "-p", "x"]), 2);
    assert.match(printed.join("\n"), /Model file "\/no\/such\/model\.gguf" does not exist/);
    printed.length = 0;
    assert.equal(await main(["bench", "-m", "/no/such.gguf"]), 2);
    assert.match(printed.join("\n"), /"\/no\/such\.gguf" does not exist/);
    assert.equal(await main(["run", "-m", "x", "--temp", "hot", "-p", "x"]), 2);
    assert.equal(await main(["run", "-m", "x"]), 2);
    assert.equal(await main(["chat", "--nope"]), 2);
    assert.equal(await main(["demo", "--preset", "huge"]), 2);
    assert.match(printed.join("\n"), /--preset must be one of tiny, v2-lite, got "huge"/);
  } finally {
    console.log = log;
    console.error = error;
  }
});

Deno.test("the CLI process exits 2 with a message for a bad flag", async () => {
  const result = await cli(["bench", "-m", "a.gguf", "-ctk", "f32"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /error: -ctk must be one of f16, q8_0, q8_KV, got "f32"/);
  const help = await cli(["run", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /-ctk, --cache-type-k/);
});
