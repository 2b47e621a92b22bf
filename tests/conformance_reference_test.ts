/**
 * Conformance of the engine with the float64 reference forward (tests/reference/deepseek2_f64.ts)
 * on synthetic tiny models: every position of a 64-token prompt (one prefill batch, or two when
 * the batch is smaller) and 32 greedy-decoded tokens (single-token steps), for both attention
 * layouts, with and without q-LoRA, F16, Q8_0, Q4_K (+ Q5_0), IQ4_XS and IQ4_NL (repacked) weights, and
 * f16 / q8_0 / q8_KV caches.
 *
 * Tolerances and why (L = 2 layers; logits are O(20–30) by construction of the synthetic head):
 * - F16 weights + f16 cache: weights are exact in f32 and the engine keeps activations in f32,
 *   so the one rounding that matters is the cache: f16 rows carry a relative error ≤ 2^-11 per
 *   value. Attention outputs are convex combinations of cached latents and inherit it; each layer
 *   adds at most that much again: relative logit error ≲ 2·L·2^-11 ≈ 2e-3 (f32 accumulation,
 *   ~1e-6, is negligible). Bound: max-rel ≤ 3e-3; top-1 ≥ 99%.
 * - q8_0 cache: a value errs by ≤ amax/254 of its 32-block; for unit-RMS latents amax/RMS ≈ 3.3,
 *   so ≤ 1.3% of RMS per value; worst case per layer the same relative error: 2·L·1.3% ≈ 5e-2.
 *   Bound: max-rel ≤ 8e-2.
 * - q8_KV cache: one scale per 576-row shared by the latent and the (larger, un-normed) rope key,
 *   and FlashMLA also rounds each query row to int8, so amax/RMS reaches ~10: 2·L·(10/254)·(1+1)
 *   ≈ 0.3 worst case. Bound: max-rel ≤ 0.25 (measured 0.15).
 * - Quantized weights (Q8_0, Q4_K, Q5_0, IQ4_XS, IQ4_NL): the reference uses the same dequantized
 *   weights, so only the activations differ: every product first rounds them to 8-bit blocks
 *   (as llama.cpp does),
 *   ≤ 1.3% of RMS per value, through ~8 chained products per layer; MoE routing amplifies this
 *   discontinuously when two experts' router probabilities are within that error (a top-k flip
 *   swaps a whole expert's contribution). Bound: max-rel ≤ 0.25, with the distribution-level
 *   checks below carrying the weight.
 * - KL(p_ref ‖ p_engine) ≤ (max-abs)²/2 for a logit perturbation of max-abs size (second-order:
 *   KL ≈ Var_p(δ)/2 ≤ (2·max-abs)²/8), asserted per run; mean KL bounded per regime.
 * - Top-1: a flip needs the reference's top-two margin ≤ 2·max-abs (a "near tie", counted in
 *   the log); ≥ 99% agreement where the error is 1e-3-relative, ≥ 90–95% otherwise.
 * @module
 */
import assert from "node:assert/strict";
import { GgufFile } from "../src/gguf/reader.ts";
import { Model } from "../src/model.ts";
import type { KvCacheType } from "../src/kv_cache.ts";
import { argmax } from "../src/sampler.ts";
import { referenceForward } from "./reference/deepseek2_f64.ts";
import { compareLogits, formatStats } from "./reference/compare_logits.ts";
import { tinyModel, type TinyModelSpec } from "./reference/tiny_models.ts";

const PROMPT_TOKENS = 64;
const DECODE_TOKENS = 32;
const TEXT = "The quick brown fox jumps over the lazy dog. " +
  "DeepSeek-V2 compresses keys and values into a latent vector, so its cache is small; " +
  "mixture-of-experts layers route every token to a few experts out of many. " +
  "Numbers like 12345 and symbols like {}[]() are tokenized too, as are ünïcödé letters.";

/** Engine logits for the prompt (prefill) then teacher-forced single-token decode steps. */
function engineRows(
  model: Model,
  seq: number[],
  cacheType: KvCacheType,
  batchSize: number,
): Float32Array[] {
  using ctx = model.createContext({ ctxLen: 128, threads: 2, cacheType, batchSize });
  const V = model.info.vocabSize;
  const prefill = ctx.evalLogits(seq.slice(0, PROMPT_TOKENS), { allLogits: true });
  const rows: Float32Array[] = [];
  for (let t = 0; t < PROMPT_TOKENS; t++) rows.push(prefill.slice(t * V, (t + 1) * V));
  for (let i = PROMPT_TOKENS; i < seq.length; i++) rows.push(ctx.evalLogits([seq[i]]));
  return rows;
}

/** Prompt + greedy continuation decoded by the engine (f16 cache). */
function sequence(model: Model): number[] {
  const prompt = model.tokenize(TEXT).slice(0, PROMPT_TOKENS);
  assert.equal(prompt.length, PROMPT_TOKENS, "the test text must give 64 tokens");
  using ctx = model.createContext({ ctxLen: 128, threads: 2 });
  const seq = [...prompt];
  let logits = ctx.evalLogits(prompt);
  for (let i = 0; i < DECODE_TOKENS; i++) {
    seq.push(argmax(logits));
    if (i + 1 < DECODE_TOKENS) logits = ctx.evalLogits([seq[seq.length - 1]]);
  }
  return seq;
}

/** Bounds per quantization regime; the file comment derives them. */
const BOUNDS: Record<string, { maxRel: number; klMean: number; top1: number }> = {
  f16: { maxRel: 3e-3, klMean: 1e-5, top1: 0.99 },
  q8_0: { maxRel: 8e-2, klMean: 5e-3, top1: 0.95 },
  q8_KV: { maxRel: 0.25, klMean: 2e-2, top1: 0.9 },
  Q8_0: { maxRel: 0.25, klMean: 2e-2, top1: 0.9 },
};

interface Case {
  spec: TinyModelSpec;
  caches: KvCacheType[];
  batchSize: number;
}

// Two layers keep both FFN kinds (layer 0 dense, layer 1 MoE) and the test under its time budget.
const CASES: Case[] = [
  {
    spec: { layout: "kb-vb", qLoraRank: 0, wtype: "F16", layers: 2 },
    caches: ["f16", "q8_0", "q8_KV"],
    batchSize: 64,
  },
  {
    spec: { layout: "kvb", qLoraRank: 256, wtype: "F16", layers: 2 },
    caches: ["f16"],
    batchSize: 48,
  },
  {
    spec: { layout: "kb-vb", qLoraRank: 256, wtype: "Q8_0", layers: 2 },
    caches: ["q8_0", "q8_KV"],
    batchSize: 64,
  },
  // Q4_K matrices with llama.cpp's Q5_0 fallback for attn_k_b (rows of 128), as in real files.
  {
    spec: { layout: "kb-vb", qLoraRank: 0, wtype: "Q4_K", layers: 2 },
    caches: ["f16"],
    batchSize: 64,
  },
  // IQ4_XS matrices (and IQ4_NL attn_k_b, llama.cpp's fallback), as in IQ4_XS files.
  {
    spec: { layout: "kb-vb", qLoraRank: 256, wtype: "IQ4_XS", layers: 2 },
    caches: ["f16"],
    batchSize: 64,
  },
  // IQ4_NL matrices run in the repacked x4 layout (Model.load repacks by default).
  {
    spec: { layout: "kb-vb", qLoraRank: 256, wtype: "IQ4_NL", layers: 2 },
    caches: ["f16"],
    batchSize: 64,
  },
];

for (const c of CASES) {
  const name = `${c.spec.layout}, q-LoRA ${c.spec.qLoraRank}, ${c.spec.wtype} weights`;
  Deno.test(`Model logits match the float64 reference (${name}, caches ${c.caches.join("/")})`, async () => {
    const path = await tinyModel(c.spec);
    using model = await Model.load(path);
    const seq = sequence(model);
    using file = GgufFile.open(path);
    const ref = referenceForward(file, seq);
    for (const cacheType of c.caches) {
      const got = engineRows(model, seq, cacheType, c.batchSize);
      const stats = compareLogits(got, ref);
      console.log(formatStats(`  ${name}, ${cacheType} cache`, stats));
      const bound = BOUNDS[c.spec.wtype === "F16" ? cacheType : "Q8_0"];
      assert.ok(stats.maxRel <= bound.maxRel, `max-rel ${stats.maxRel} > ${bound.maxRel}`);
      // KL ≤ (max-abs)²/2 for the observed max-abs (second-order bound), and a mean bound.
      assert.ok(
        stats.klMax <= stats.maxAbs ** 2 / 2 + 1e-9,
        `KL ${stats.klMax} vs ${stats.maxAbs}`,
      );
      assert.ok(stats.klMean <= bound.klMean, `KL mean ${stats.klMean} > ${bound.klMean}`);
      assert.ok(stats.top1 >= bound.top1, `top-1 ${stats.top1} < ${bound.top1}`);
    }
  });
}
