import assert from "node:assert/strict";
import { main } from "../cli/main.ts";
import { readHparams } from "../src/deepseek2/hparams.ts";
import { OptionError } from "../src/errors.ts";
import { GgufFile } from "../src/gguf/reader.ts";
import type { ModelSummary } from "../src/gguf/summary.ts";
import { f16BitsToF32 } from "../src/synth/block_encoders.ts";
import { planModel, plannedFileSize, synthesizeModel } from "../src/synth/synthesize.ts";
import { builtinVocab } from "../src/synth/vocab.ts";
import { SYNTH_WEIGHT_TYPES } from "../src/synth/geometry.ts";
import { dequantizeReference } from "../src/quants/reference.ts";
import { tinyModelPath } from "./helpers/tiny_model.ts";
import { referenceForward } from "./reference/deepseek2_f64.ts";

const BUILTIN = builtinVocab();

function dimsOf(plan: ReturnType<typeof planModel>): Map<string, string> {
  return new Map(plan.tensors.map((t) => [t.name, `${t.type.name} ${t.dims.join("x")}`]));
}

Deno.test("planModel v2-lite has DeepSeek-V2-Lite's exact tensor shapes (MLA_SPEC §1.3)", () => {
  const plan = planModel({ preset: "v2-lite", wtype: "IQ4_NL" }, BUILTIN);
  const t = dimsOf(plan);
  // 3 outside the layers, 11 in dense layer 0, 15 in each of the 26 MoE layers.
  assert.equal(plan.tensors.length, 3 + 11 + 26 * 15);
  const v = BUILTIN.nVocab;
  assert.equal(t.get("token_embd.weight"), `IQ4_NL 2048x${v}`);
  assert.equal(t.get("output.weight"), `IQ4_NL 2048x${v}`);
  assert.equal(t.get("output_norm.weight"), "F32 2048");
  assert.equal(t.get("blk.0.attn_q.weight"), "IQ4_NL 2048x3072");
  assert.equal(t.get("blk.0.attn_kv_a_mqa.weight"), "IQ4_NL 2048x576");
  assert.equal(t.get("blk.0.attn_kv_a_norm.weight"), "F32 512");
  assert.equal(t.get("blk.0.attn_k_b.weight"), "IQ4_NL 128x512x16");
  assert.equal(t.get("blk.0.attn_v_b.weight"), "IQ4_NL 512x128x16");
  assert.equal(t.get("blk.0.attn_output.weight"), "IQ4_NL 2048x2048");
  assert.equal(t.get("blk.0.ffn_gate.weight"), "IQ4_NL 2048x10944");
  assert.equal(t.get("blk.0.ffn_down.weight"), "IQ4_NL 10944x2048");
  assert.equal(t.get("blk.26.ffn_gate_inp.weight"), "F32 2048x64");
  assert.equal(t.get("blk.26.ffn_up_exps.weight"), "IQ4_NL 2048x1408x64");
  assert.equal(t.get("blk.26.ffn_down_exps.weight"), "IQ4_NL 1408x2048x64");
  assert.equal(t.get("blk.26.ffn_gate_shexp.weight"), "IQ4_NL 2048x2816");
  assert.equal(t.get("blk.26.ffn_down_shexp.weight"), "IQ4_NL 2816x2048");
  assert.equal(t.has("blk.0.attn_kv_b.weight") || t.has("blk.1.ffn_gate.weight"), false);
  // With the DeepSeek vocabulary the file is DeepSeek-V2-Lite's ~8.9 GB in IQ4_NL.
  const size = plannedFileSize({ preset: "v2-lite", wtype: "IQ4_NL" });
  assert.ok(size > 8.8e9 && size < 8.9e9, `${size}`);
});

Deno.test("planModel falls back as llama.cpp does for rows that are not whole K-quant blocks", () => {
  // llama-quant.cpp: Q4_K → Q5_0, Q6_K → Q8_0 (what real Q4_K_M V2-Lite files hold).
  const t = dimsOf(planModel({ preset: "v2-lite", wtype: "Q4_K", layout: "kvb" }, BUILTIN));
  assert.equal(t.get("blk.1.ffn_down_exps.weight"), "Q5_0 1408x2048x64"); // 1408 = 5.5 × 256
  assert.equal(t.get("blk.1.ffn_up_exps.weight"), "Q4_K 2048x1408x64");
  assert.equal(t.get("blk.0.attn_kv_b.weight"), "Q4_K 512x4096");
  assert.equal(t.has("blk.0.attn_k_b.weight"), false);
  const kb = dimsOf(planModel({ preset: "tiny", wtype: "Q6_K", qLoraRank: 96 }, BUILTIN));
  assert.equal(kb.get("blk.0.attn_k_b.weight"), "Q8_0 128x512x16");
  assert.equal(kb.get("blk.0.attn_q_a.weight"), "Q6_K 256x96");
  assert.equal(kb.get("blk.0.attn_q_b.weight"), "Q8_0 96x3072");
  assert.equal(kb.get("blk.0.attn_q_a_norm.weight"), "F32 96");
  assert.equal(kb.has("blk.0.attn_q.weight"), false);
});

Deno.test("planModel refuses bad options with an OptionError naming them", () => {
  const bad = (options: Parameters<typeof planModel>[0], message: RegExp) =>
    assert.throws(
      () => planModel(options, BUILTIN),
      (e) => e instanceof OptionError && message.test(e.message),
    );
  bad({ preset: "v3" as "tiny" }, /"preset" must be one of v2-lite, tiny, got "v3"/);
  bad({ wtype: "Q5_K" as "Q4_K" }, /"wtype" must be one of/);
  bad({ layout: "ik" as "kvb" }, /"layout"/);
  bad({ layers: 0 }, /"layers" must be an integer from 1/);
  bad({ qLoraRank: 100 }, /"q-lora" must be a multiple of 32/);
});

Deno.test("synthesizeModel writes metadata that the DeepSeek2 hparams reader accepts", async () => {
  for (const layout of ["kb-vb", "kvb"] as const) {
    using file = GgufFile.open(
      await tinyModelPath({ layout, qLora: 256, wtype: "F16", vocab: "builtin" }),
    );
    const hp = readHparams(file);
    assert.equal(hp.layout, layout);
    assert.equal(hp.nLayer, 3);
    assert.equal(hp.nEmbd, 256);
    assert.equal(hp.nHead, 16);
    assert.equal(hp.qLoraRank, 256);
    assert.equal(hp.kvLoraRank, 512);
    assert.equal(hp.nRot, 64);
    assert.equal(hp.nEmbdHeadQkNope, 128);
    assert.equal(hp.nEmbdHeadV, 128);
    assert.equal(hp.nExpert, 8);
    assert.equal(hp.nExpertUsed, 2);
    assert.equal(hp.nExpertShared, 2);
    assert.equal(hp.nVocab, BUILTIN.nVocab);
    assert.equal(hp.expertGating, "softmax");
    assert.equal(hp.yarn, true);
    assert.equal(hp.ropeFreqScale, 1 / 40);
    assert.equal(file.getU32("deepseek2.attention.head_count_kv"), layout === "kb-vb" ? 1 : 16);
    assert.equal(file.getU32("deepseek2.attention.key_length"), layout === "kb-vb" ? 576 : 192);
    assert.equal(file.getU32("deepseek2.attention.value_length"), layout === "kb-vb" ? 512 : 128);
    assert.equal(file.has("deepseek2.attention.key_length_mla"), layout === "kb-vb");
    assert.equal(file.getU32("general.file_type"), 1);
    assert.equal(file.getString("tokenizer.ggml.model"), "gpt2");
  }
});

Deno.test("synthesizeModel writes attn_k_b/attn_v_b as attn_kv_b rearranged (MLA_SPEC §1.3)", async () => {
  using mla = GgufFile.open(
    await tinyModelPath({ layout: "kb-vb", qLora: 256, wtype: "F16", vocab: "builtin" }),
  );
  using legacy = GgufFile.open(
    await tinyModelPath({ layout: "kvb", qLora: 256, wtype: "F16", vocab: "builtin" }),
  );
  const f16 = (bytes: Uint8Array, i: number) =>
    f16BitsToF32(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  for (const layer of [0, 2]) {
    const kvB = legacy.tensorBytes(`blk.${layer}.attn_kv_b.weight`);
    const kB = mla.tensorBytes(`blk.${layer}.attn_k_b.weight`);
    const vB = mla.tensorBytes(`blk.${layer}.attn_v_b.weight`);
    for (const [h, d, c] of [[0, 0, 0], [3, 17, 200], [15, 127, 511], [9, 64, 1]]) {
      // W_UK,h[d][c] = kv_b row h·256+d col c = k_b element (d, c, h).
      assert.equal(f16(kB, (h * 512 + c) * 128 + d), f16(kvB, (h * 256 + d) * 512 + c));
      // W_UV,h[j][c] = kv_b row h·256+128+j col c = v_b element (c, j, h).
      assert.equal(f16(vB, (h * 128 + d) * 512 + c), f16(kvB, (h * 256 + 128 + d) * 512 + c));
    }
    assert.notEqual(f16(kB, 1), f16(kB, 2));
  }
  // Everything else is the same bytes in both files.
  assert.deepEqual(
    mla.tensorBytes("blk.1.attn_q_b.weight"),
    legacy.tensorBytes("blk.1.attn_q_b.weight"),
  );
});

Deno.test("synthesized weights keep activations O(1) and spread the logits widely", async () => {
  using file = GgufFile.open(
    await tinyModelPath({ layout: "kb-vb", qLora: 256, wtype: "F16", vocab: "builtin" }),
  );
  const rms: number[] = [];
  const [logits] = referenceForward(file, [1, 50, 100, 200], [3], (_, x) => {
    const v = x[x.length - 1];
    rms.push(Math.sqrt(v.reduce((s, a) => s + a * a, 0) / v.length));
  });
  // Embeddings have std 1 and each sub-layer adds an O(1) update, so the residual RMS starts
  // near 1 and grows like sqrt(sub-layers) (≈ 2 after 6); outside [0.5, 4] a scale is wrong.
  assert.ok(rms.length >= 3 && rms.every((r) => r > 0.5 && r < 4), rms.join(" "));
  // logit_j = Σ_i W_ji·n_i with W std 6/sqrt(E) and RMS(n) ≈ RMS(norm weight) ≈ 1.005, so the
  // logits' std is ≈ 6.0; sampling error over ~300 tokens is ≈ 0.25.
  const mean = logits.reduce((s, a) => s + a, 0) / logits.length;
  const std = Math.sqrt(logits.reduce((s, a) => s + (a - mean) ** 2, 0) / logits.length);
  assert.ok(std > 5 && std < 7, `logit std ${std}`);
});

Deno.test("synthesizeModel is deterministic in its seed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const options = { preset: "tiny", layers: 1, vocab: "builtin", wtype: "Q4_0" } as const;
    await synthesizeModel(`${dir}/a.gguf`, { ...options, seed: 1 });
    await synthesizeModel(`${dir}/b.gguf`, { ...options, seed: 1 });
    await synthesizeModel(`${dir}/c.gguf`, { ...options, seed: 2 });
    const [a, b, c] = ["a", "b", "c"].map((n) => Deno.readFileSync(`${dir}/${n}.gguf`));
    assert.deepEqual(a, b);
    assert.equal(a.length, c.length);
    assert.notDeepEqual(a, c);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("builtinVocab is a consistent byte-level BPE vocabulary", () => {
  const tokens = BUILTIN.metadata.find(([k]) => k === "tokenizer.ggml.tokens")![1]
    .value as string[];
  const merges = BUILTIN.metadata.find(([k]) => k === "tokenizer.ggml.merges")![1]
    .value as string[];
  assert.equal(new Set(tokens).size, tokens.length, "token texts are unique");
  assert.equal(tokens.length, BUILTIN.nVocab);
  assert.ok(merges.length > 20);
  const known = new Set(tokens);
  for (const merge of merges) {
    const [left, right] = merge.split(" ");
    assert.ok(known.has(left) && known.has(right) && known.has(left + right), merge);
  }
});

async function capture(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const log = console.log;
  const error = console.error;
  let out = "";
  let err = "";
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  console.error = (...a: unknown[]) => void (err += a.join(" ") + "\n");
  try {
    return { code: await main(args), out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

Deno.test("cli synth then info --json describe the written model", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.gguf`;
    const synth = await capture([
      "synth",
      path,
      "--preset",
      "tiny",
      "--layers",
      "2",
      "--q-lora",
      "128",
      "--wtype",
      "q4_k",
      "--layout",
      "kvb",
      "--vocab",
      "builtin",
    ]);
    assert.equal(synth.code, 0, synth.err);
    assert.match(synth.out, /wrote .*m\.gguf: .* tiny, Q4_K, kvb, 2 layers, q-lora 128/);
    const info = await capture(["info", path, "--json"]);
    assert.equal(info.code, 0, info.err);
    const s = JSON.parse(info.out) as ModelSummary;
    assert.equal(s.architecture, "deepseek2");
    assert.equal(s.hyperparameters.block_count, 2);
    assert.equal(s.hyperparameters["attention.q_lora_rank"], 128);
    assert.equal(s.hyperparameters["attention.layer_norm_rms_epsilon"], 1e-6);
    assert.equal(s.layers.length, 2);
    // kvb with q-LoRA: layer 0 = 12 tensors (dense FFN), layer 1 = 16 (MoE).
    assert.equal(s.tensorCount, 3 + 12 + 16);
    assert.equal(s.fileBytes, Deno.statSync(path).size);
    assert.equal(
      s.types.reduce((n, t) => n + t.tensors, 0),
      s.tensorCount,
    );
    assert.deepEqual(s.types.map((t) => t.type).sort(), ["F32", "Q4_K", "Q5_0"]);
    assert.equal(s.tokenizer?.tokens, BUILTIN.nVocab);
    const text = await capture(["info", path]);
    assert.match(text.out, /tensors {7}31, /);
    assert.match(text.out, /blk\.0 .*\(12 tensors\)/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli synth and info report bad usage (exit 2) and bad files (exit 1)", async () => {
  assert.equal((await capture(["synth"])).code, 2);
  const badType = await capture(["synth", "/tmp/x.gguf", "--wtype", "Q5_K"]);
  assert.equal(badType.code, 2);
  assert.match(badType.err, /--wtype must be one of/);
  assert.equal((await capture(["info"])).code, 2);
  const missing = await capture(["info", "/nonexistent/model.gguf"]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /does not exist/);
});

Deno.test("synthesizeModel's pooled path writes finite, distinct rows of the planned scale", async () => {
  // exactElementsMax 0 forces every tensor through the block pool used for V2-Lite's big ones.
  const dir = await Deno.makeTempDir();
  try {
    for (const wtype of SYNTH_WEIGHT_TYPES) {
      const path = `${dir}/${wtype}.gguf`;
      const plan = await synthesizeModel(path, {
        preset: "tiny",
        layers: 1,
        vocab: "builtin",
        wtype,
        exactElementsMax: 0,
      });
      using file = GgufFile.open(path);
      for (const name of ["output.weight", "blk.0.ffn_down.weight", "blk.0.attn_norm.weight"]) {
        const info = file.tensor(name);
        const planned = plan.tensors.find((t) => t.name === name)!;
        const x = dequantizeReference(info.type.id, file.tensorBytes(name), info.elements);
        assert.ok(x.every(Number.isFinite), `${wtype} ${name}`);
        const mean = x.reduce((s, v) => s + v, 0) / x.length;
        const std = Math.sqrt(x.reduce((s, v) => s + (v - mean) ** 2, 0) / x.length);
        // Quantization keeps the std within a few percent; 15% allows Q4_0's clipping.
        assert.ok(Math.abs(std / planned.std - 1) < 0.15, `${wtype} ${name}: std ${std}`);
        assert.ok(Math.abs(mean - planned.mean) < 0.05 * planned.std + 0.02, `${wtype} ${name}`);
        const rowBytes = info.byteSize / (info.elements / info.dims[0]);
        const bytes = file.tensorBytes(name);
        const rows = new Set<string>();
        for (let r = 0; r < info.elements / info.dims[0]; r++) {
          rows.add(bytes.subarray(r * rowBytes, (r + 1) * rowBytes).join(","));
        }
        assert.equal(rows.size, info.elements / info.dims[0], `${wtype} ${name}: repeated rows`);
      }
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
