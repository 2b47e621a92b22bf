import { gguf } from "../src/gguf/values.ts";
import { encodeGguf } from "../src/gguf/writer.ts";
import assert from "node:assert/strict";
import { Model } from "../src/model.ts";
import { ContextOverflowError, GgufError, OptionError } from "../src/errors.ts";
import { setSimd } from "../src/kernels/quants.ts";
import { tinyModel } from "./reference/tiny_models.ts";

const SPEC = { layout: "kb-vb", qLoraRank: 0, wtype: "F16", layers: 2 } as const;
const PROMPT = "The quick brown fox jumps over the lazy dog again and again.";

/** max |a − b| / max |b|. */
function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

Deno.test("Model.load names a missing file and refuses non-deepseek2 files", async () => {
  await assert.rejects(() => Model.load("/nonexistent/model.gguf"), GgufError);
  const llama = await Deno.makeTempFile({ suffix: ".gguf" });
  try {
    await Deno.writeFile(
      llama,
      encodeGguf({ metadata: [["general.architecture", gguf.string("llama")]], tensors: [] }),
    );
    await assert.rejects(() => Model.load(llama), /deepseek2|architecture/i);
  } finally {
    await Deno.remove(llama);
  }
});

Deno.test("Model.load refuses a matrix of a type without kernels, naming the tensor", async () => {
  // An F16 model whose last tensor (output.weight, 2 bytes per element) is relabelled Q8_K
  // (292 bytes per 256, the K-quants' activation format, never a weight): the file stays
  // well-formed (the data only gets shorter), so the reader accepts it and the model loader
  // must be the one to refuse it.
  const source = await tinyModel(SPEC);
  const bytes = await Deno.readFile(source);
  const name = new TextEncoder().encode("output.weight");
  let at = -1;
  for (let i = bytes.length - name.length; i >= 0 && at < 0; i--) {
    if (name.every((b, j) => bytes[i + j] === b) && bytes[i - 8] === name.length) at = i;
  }
  assert.ok(at > 0, "tensor info of output.weight found");
  const view = new DataView(bytes.buffer);
  const typeAt = at + name.length + 4 + 8 * view.getUint32(at + name.length, true);
  assert.equal(view.getUint32(typeAt, true), 1, "output.weight is F16");
  view.setUint32(typeAt, 15, true); // Q8_K
  const path = await Deno.makeTempFile({ suffix: ".gguf" });
  try {
    await Deno.writeFile(path, bytes);
    await assert.rejects(
      () => Model.load(path),
      (e) => e instanceof GgufError && /"output\.weight" is Q8_K.*no kernels/.test(e.message),
    );
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("Model info, tokenize/detokenize and close-once semantics", async () => {
  const model = await Model.load(await tinyModel(SPEC));
  assert.equal(model.info.layout, "kb-vb");
  assert.equal(model.info.nLayer, 2);
  assert.equal(model.info.weightType, "F16");
  const ids = model.tokenize(PROMPT);
  assert.equal(model.detokenize(ids), PROMPT);
  const ctx = model.createContext({ ctxLen: 64, threads: 1 });
  model.close();
  model.close();
  assert.throws(() => ctx.evalLogits([1]), OptionError); // contexts close with their model
  assert.throws(() => model.createContext(), OptionError);
});

Deno.test("ModelContext prefill in one batch, in small batches and token by token agree", async () => {
  using model = await Model.load(await tinyModel(SPEC));
  const ids = model.tokenize(PROMPT).slice(0, 20);
  const V = model.info.vocabSize;
  const whole = (() => {
    using ctx = model.createContext({ ctxLen: 64, threads: 2 });
    return ctx.evalLogits(ids, { allLogits: true });
  })();
  using small = model.createContext({ ctxLen: 64, threads: 2, batchSize: 3 });
  const progress: number[] = [];
  const batched = small.evalLogits(ids, { allLogits: true, onProgress: (d) => progress.push(d) });
  assert.deepEqual(progress, [3, 6, 9, 12, 15, 18, 20]);
  // Last-token-only prefill: earlier batches run the head on zero rows.
  using lastOnly = model.createContext({ ctxLen: 64, threads: 2, batchSize: 3 });
  const last = lastOnly.evalLogits(ids);
  assert.equal(last.length, V);
  assert.ok(relDiff(last, whole.subarray((ids.length - 1) * V)) < 1e-4);
  using single = model.createContext({ ctxLen: 64, threads: 1, attention: "heads" });
  for (let t = 0; t < ids.length; t++) {
    const row = single.evalLogits([ids[t]]);
    // Same math in a different order (tiles, thread splits, strategies): f32 rounding only.
    assert.ok(relDiff(row, whole.subarray(t * V, (t + 1) * V)) < 1e-4, `position ${t}`);
    assert.ok(
      relDiff(batched.subarray(t * V, (t + 1) * V), whole.subarray(t * V, (t + 1) * V)) < 1e-4,
    );
  }
  assert.equal(single.nPast, ids.length);
  single.reset();
  assert.equal(single.nPast, 0);
  const again = single.evalLogits(ids.slice(0, 1));
  assert.ok(relDiff(again, whole.subarray(0, V)) < 1e-4);
});

Deno.test("ModelContext SIMD and scalar kernels give the same logits", async () => {
  const run = (model: Model, cacheType: "f16" | "q8_KV", ids: number[]) => {
    using ctx = model.createContext({ ctxLen: 32, threads: 2, cacheType });
    return ctx.evalLogits(ids, { allLogits: true });
  };
  const both = (model: Model, cacheType: "f16" | "q8_KV", ids: number[]) => {
    const simd = run(model, cacheType, ids);
    setSimd(false);
    try {
      return { simd, scalar: run(model, cacheType, ids) };
    } finally {
      setSimd(true);
    }
  };
  // F16 weights, f16 cache: nothing is re-quantized between products, so the SIMD kernels
  // (GEMM tiles, FlashMLA) and their scalar twins differ only by f32 summation order, ~1e-6.
  {
    using model = await Model.load(await tinyModel(SPEC));
    const ids = model.tokenize(PROMPT).slice(0, 6);
    const { simd, scalar } = both(model, "f16", ids);
    assert.ok(relDiff(simd, scalar) < 1e-4, `F16: ${relDiff(simd, scalar)}`);
  }
  // Q8_0 weights, q8_KV cache: every product rounds its activations to 8 bits, so an ulp of
  // summation-order difference can flip one rounding (d/2 ≈ 0.4% of a block's range) and that
  // propagates; the paths then agree to the q8 activation regime's bound (conformance tests:
  // max-rel ≤ 8e-2 against float64), not to 1e-4. A broken twin differs by O(1).
  {
    using model = await Model.load(await tinyModel({ ...SPEC, wtype: "Q8_0" }));
    const ids = model.tokenize(PROMPT).slice(0, 6);
    const { simd, scalar } = both(model, "q8_KV", ids);
    assert.ok(relDiff(simd, scalar) < 8e-2, `Q8_0/q8_KV: ${relDiff(simd, scalar)}`);
  }
});

Deno.test("ModelContext refuses bad tokens and context overflow, and fills synthetic rows", async () => {
  using model = await Model.load(await tinyModel(SPEC));
  using ctx = model.createContext({ ctxLen: 8, threads: 1 });
  assert.throws(() => ctx.evalLogits([model.info.vocabSize]), /outside the vocabulary/);
  assert.throws(() => ctx.evalLogits([-1]), OptionError);
  assert.throws(() => ctx.evalLogits([]), OptionError);
  assert.throws(() => ctx.evalLogits(new Array(9).fill(1)), ContextOverflowError);
  ctx.evalLogits([1, 2, 3]);
  assert.throws(() => ctx.evalLogits(new Array(6).fill(1)), ContextOverflowError);
  assert.equal(ctx.nPast, 3);
  ctx.fillSynthetic(7, 3);
  assert.equal(ctx.nPast, 7);
  assert.equal(ctx.evalLogits([5]).length, model.info.vocabSize);
  assert.throws(() => ctx.evalLogits([5]), ContextOverflowError);
  assert.throws(() => model.createContext({ cacheType: "q4" as "f16" }), /cacheType/);
  assert.throws(() => model.createContext({ threads: 0 }), /threads/);
  assert.throws(() => model.createContext({ batchSize: 0 }), /batchSize/);
});

Deno.test("ModelContext.generate stops on maxTokens, stop strings, abort and a full context", async () => {
  using model = await Model.load(await tinyModel(SPEC));
  const collect = async (it: AsyncGenerator<string>) => {
    let s = "";
    for await (const p of it) s += p;
    return s;
  };
  using ctx = model.createContext({ ctxLen: 64, threads: 2 });
  const greedy = await collect(ctx.generate(PROMPT, { maxTokens: 12 }));
  assert.ok(ctx.stats.generatedTokens <= 12 && ctx.stats.promptTokens > 0);
  ctx.reset();
  assert.equal(
    await collect(ctx.generate(PROMPT, { maxTokens: 12 })),
    greedy,
    "greedy is deterministic",
  );
  if (greedy.length > 3) {
    ctx.reset();
    const stop = greedy.slice(2, 4);
    const cut = await collect(ctx.generate(PROMPT, { maxTokens: 12, stop: [stop] }));
    assert.equal(cut, greedy.slice(0, greedy.indexOf(stop)));
  }
  ctx.reset();
  const sampled = (seed: number) => {
    ctx.reset();
    return collect(ctx.generate(PROMPT, { maxTokens: 8, temperature: 1, seed }));
  };
  assert.equal(await sampled(7), await sampled(7));
  ctx.reset();
  const controller = new AbortController();
  controller.abort();
  assert.equal(await collect(ctx.generate(PROMPT, { signal: controller.signal })), "");
  const n = model.tokenize(PROMPT).length;
  using tight = model.createContext({ ctxLen: n + 5, threads: 1 });
  await assert.rejects(
    () => collect(tight.generate(PROMPT, { maxTokens: 100 })),
    ContextOverflowError,
  );
  tight.reset();
  await collect(tight.generate(PROMPT, { maxTokens: 100, onContextFull: "stop" }));
  assert.equal(tight.nPast, n + 5);
  tight.reset();
  await assert.rejects(() => collect(tight.generate(PROMPT + PROMPT)), ContextOverflowError);
  // A prompt that does not fit is an error even when the caller asked to stop at a full context.
  await assert.rejects(
    () => collect(tight.generate(PROMPT + PROMPT, { onContextFull: "stop" })),
    /does not fit/,
  );
});

Deno.test("ModelContext profile splits step time by node kind", async () => {
  using model = await Model.load(await tinyModel(SPEC));
  using ctx = model.createContext({ ctxLen: 32, threads: 2 });
  ctx.setProfiling(true);
  for (let i = 0; i < 3; i++) ctx.evalLogits([10 + i]);
  const p = ctx.profile()!;
  assert.equal(p.steps, 3);
  for (const kind of ["matmul", "moe", "attention", "other"] as const) {
    assert.ok(p.msByKind[kind] > 0, kind);
  }
  const nodeMs = Object.values(p.msByKind).reduce((a, b) => a + b, 0);
  assert.ok(nodeMs <= p.wallMs * 1.01, `${nodeMs} vs ${p.wallMs}`);
  assert.ok(p.topNodes.length > 0);
  // Roles merge the layers: one flash_mla role, whose time is the sum of every layer's node.
  const flash = p.byRole.filter((r) => r.role === "flash_mla");
  assert.equal(flash.length, 1);
  assert.equal(flash[0].kind, "attention");
  const roleMs = p.byRole.reduce((a, r) => a + r.ms, 0);
  assert.ok(Math.abs(roleMs - nodeMs) < 1e-6 * Math.max(1, nodeMs), `${roleMs} vs ${nodeMs}`);
});
