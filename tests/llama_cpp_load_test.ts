/**
 * Mainline llama.cpp (node-llama-cpp, pinned in toolchain.json) loads the files `synth` writes
 * and generates from them. node-llama-cpp is installed on first use into .cache/node-llama-cpp
 * with npm; when that is impossible the test fails, naming what is missing.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { GgufFile } from "../src/gguf/reader.ts";
import { SYNTH_WEIGHT_TYPES } from "../src/synth/geometry.ts";
import { builtinVocab, DEFAULT_VOCAB_PATH } from "../src/synth/vocab.ts";
import { referenceForward } from "./reference/deepseek2_f64.ts";
import { findNodeLlamaCpp, NODE_LLAMA_CPP_PREFIX, runNodeJson } from "./helpers/node_llama_cpp.ts";
import { tinyModelPath } from "./helpers/tiny_model.ts";

const SCRIPT = fileURLToPath(new URL("./helpers/llama_next_token.mjs", import.meta.url));
const INSTALLER = fileURLToPath(new URL("./helpers/node_llama_cpp.ts", import.meta.url));

interface NextToken {
  path: string;
  promptTokens: number[];
  token: number;
  text: string;
  nVocab: number;
  top: [number, number][];
  probabilitySum: number;
  probabilities?: number[];
}

/** node-llama-cpp's entry module, installing the pinned version first when it is missing. */
async function nodeLlamaCppEntry(): Promise<string> {
  let found = findNodeLlamaCpp();
  if ("missing" in found) {
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", INSTALLER, "--install"],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    found = findNodeLlamaCpp();
    if (!install.success || "missing" in found) {
      throw new Error(
        `Cannot install node-llama-cpp into ${NODE_LLAMA_CPP_PREFIX} (npm and network needed): ${
          "missing" in found ? found.missing : "npm install failed"
        }`,
      );
    }
  }
  return found.entry;
}

async function nextTokens(models: string[], prompt: string): Promise<NextToken[]> {
  const entry = await nodeLlamaCppEntry();
  return await runNodeJson<NextToken[]>(SCRIPT, { entry, prompt, contextSize: 128, models });
}

function assertSaneDistribution(r: NextToken, nVocab: number): void {
  assert.equal(r.nVocab, nVocab, r.path);
  assert.ok(Number.isInteger(r.token) && r.token >= 0 && r.token < nVocab, r.path);
  // Finite weights give a proper distribution; NaN/Inf blocks would not.
  assert.ok(Math.abs(r.probabilitySum - 1) < 1e-3, `${r.path}: sum ${r.probabilitySum}`);
  assert.equal(r.top[0][0], r.token, "temperature 0 picks the most probable token");
}

Deno.test("llama.cpp loads tiny q-LoRA models of both layouts and generates a token", async () => {
  // K-quants here also check llama.cpp accepts our Q4_K/Q6_K blocks and the Q8_0 fallback
  // of attn_k_b (rows of 128).
  const models = [
    await tinyModelPath({ layout: "kb-vb", qLora: 256, wtype: "Q4_K" }),
    await tinyModelPath({ layout: "kvb", qLora: 256, wtype: "Q6_K" }),
  ];
  const results = await nextTokens(models, "Hello world");
  assert.equal(results.length, 2);
  const deepseek = existsSync(DEFAULT_VOCAB_PATH);
  for (const r of results) {
    assertSaneDistribution(r, deepseek ? 102400 : builtinVocab().nVocab);
    if (deepseek) assert.deepEqual(r.promptTokens, [17464, 1843], "DeepSeek tokenization");
    assert.equal(typeof r.text, "string");
  }
});

Deno.test("llama.cpp predicts the same next token from kb-vb and kvb files of one model", async () => {
  // Same seed and F16 weights: attn_k_b/attn_v_b are attn_kv_b's numbers rearranged, so the two
  // files describe one model, run by llama.cpp as MLA (kb-vb) and as plain MHA (kvb).
  const models = [
    await tinyModelPath({ layout: "kb-vb", qLora: 256, wtype: "F16", vocab: "builtin" }),
    await tinyModelPath({ layout: "kvb", qLora: 256, wtype: "F16", vocab: "builtin" }),
  ];
  const [mla, mha] = await nextTokens(models, "the quick brown fox");
  assertSaneDistribution(mla, mla.nVocab);
  assertSaneDistribution(mha, mla.nVocab);
  assert.deepEqual(mla.promptTokens, mha.promptTokens);
  assert.equal(mla.token, mha.token);
  // F16 weights and activations in both paths, differing only in summation order and the F16
  // cache contents: probabilities agree to ~1e-3; 0.01 leaves room without hiding a bad layout
  // (a wrong k_b/v_b permutation changes them by O(0.1)).
  for (let i = 0; i < 5; i++) {
    assert.equal(mla.top[i][0], mha.top[i][0], `rank ${i}`);
    assert.ok(Math.abs(mla.top[i][1] - mha.top[i][1]) < 0.01, `rank ${i}`);
  }
});

Deno.test("llama.cpp loads a 27-layer Lite model without q-LoRA in IQ4_NL", async () => {
  // llama.cpp 3.21.1 treats a q-LoRA-less deepseek2 file as V2-Lite only at 27 layers.
  const path = await tinyModelPath({ qLora: 0, layers: 27, wtype: "IQ4_NL", vocab: "builtin" });
  const [r] = await nextTokens([path], "hello");
  assertSaneDistribution(r, r.nVocab);
  assert.ok(r.nVocab > 256);
});

Deno.test("llama.cpp reads every weight type as the float64 reference dequantizes it", async () => {
  // Same model (seed 0) in each weight type; llama.cpp and the float64 reference forward
  // (tests/reference, plain MHA from MLA_SPEC) must agree on the next-token distribution of the
  // same file. A mis-packed block would make llama.cpp see other weights, and unrelated weights
  // (seed 1) differ by total variation ≈ 1. Observed at 2 layers: F16 1e-4, BF16 vs F16 2e-4,
  // Q8_0/Q4_0/Q6_K ~0.002, Q4_K 0.006, IQ4_NL 0.012 (llama.cpp quantizes activations to Q8_0,
  // or Q8_K for K-quants); the bound 0.05 leaves 4x. Two layers (one dense, one MoE) keep the
  // float64 forward short and still cover every kind of weight, 3-D experts included.
  const tokens = [32, 279, 108];
  const tiny = { layout: "kb-vb", qLora: 256, vocab: "builtin", layers: 2 } as const;
  const paths: string[] = [];
  for (const wtype of SYNTH_WEIGHT_TYPES) paths.push(await tinyModelPath({ ...tiny, wtype }));
  const other = await tinyModelPath({ ...tiny, wtype: "F16", seed: 1 });
  const results = await runNodeJson<NextToken[]>(SCRIPT, {
    entry: await nodeLlamaCppEntry(),
    prompt: "",
    tokens,
    contextSize: 128,
    models: [...paths, other],
    full: true,
  });
  const softmax = (logits: Float64Array) => {
    const max = Math.max(...logits);
    const e = Array.from(logits, (v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  };
  const totalVariation = (p: number[], q: number[]) =>
    p.reduce((s, v, i) => s + Math.abs(v - q[i]), 0) / 2;
  const reference = (wtype: string) => {
    using file = GgufFile.open(paths[SYNTH_WEIGHT_TYPES.indexOf(wtype as "F16")]);
    return softmax(referenceForward(file, tokens, [tokens.length - 1])[0]);
  };
  const f16 = reference("F16");
  for (const [i, wtype] of SYNTH_WEIGHT_TYPES.entries()) {
    // The reference's BF16 dequantizer takes ~15 s here; BF16 rounds F16's values to 8 bits,
    // so the F16 reference stands in for it within the same bound.
    const expected = wtype === "F16" || wtype === "BF16" ? f16 : reference(wtype);
    const tv = totalVariation(expected, results[i].probabilities!);
    assert.ok(tv < 0.05, `${wtype}: total variation ${tv.toFixed(4)}`);
  }
  const unrelated = totalVariation(f16, results[paths.length].probabilities!);
  assert.ok(unrelated > 0.5, `a different seed differs by only ${unrelated}`);
});
