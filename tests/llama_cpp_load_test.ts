/**
 * Mainline llama.cpp (node-llama-cpp, pinned in toolchain.json) loads the files `synth` writes
 * and generates from them. node-llama-cpp is installed on first use into .cache/node-llama-cpp
 * with npm; when that is impossible the test fails, naming what is missing.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { builtinVocab, DEFAULT_VOCAB_PATH } from "../src/synth/vocab.ts";
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
