/**
 * The `general.*` and `deepseek2.*` metadata of a synthetic model, with the keys and value
 * types llama.cpp's converter writes (MLA_SPEC §1.1–1.3).
 * @module
 */
import { gguf, type GgufValue } from "../gguf/values.ts";
import type { SynthGeometry, SynthLayout, SynthWeightType } from "./geometry.ts";

/** llama.cpp `llama_ftype` ids of the weight types (`general.file_type`). */
export const FILE_TYPES: Readonly<Record<SynthWeightType, number>> = {
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_1: 9,
  Q8_0: 7,
  Q4_K: 14, // MOSTLY_Q4_K_S: every matrix Q4_K
  Q6_K: 18,
  IQ4_NL: 25,
  IQ4_XS: 30,
  BF16: 32,
};

/**
 * Architecture metadata for a geometry and layout.
 *
 * @param g Geometry (its `nVocab` must already match the tokenizer).
 * @param layout Attention layout: `kb-vb` writes the `*_mla` keys and head_count_kv 1.
 * @param wtype Weight type, for `general.file_type`.
 * @returns Key/value pairs in converter order.
 *
 * @example
 * ```ts
 * import { architectureMetadata } from "./metadata.ts";
 * import { TINY } from "./geometry.ts";
 * const kv = architectureMetadata(TINY, "kb-vb", "Q8_0");
 * console.log(kv[0][0]); // "general.architecture"
 * ```
 */
export function architectureMetadata(
  g: SynthGeometry,
  layout: SynthLayout,
  wtype: SynthWeightType,
): [string, GgufValue][] {
  const a = "deepseek2";
  const mla = layout === "kb-vb";
  const qkWidth = g.nEmbdHeadQkNope + g.nRot;
  const kv: [string, GgufValue][] = [
    ["general.architecture", gguf.string(a)],
    ["general.name", gguf.string(g.name)],
    ["general.file_type", gguf.u32(FILE_TYPES[wtype])],
    ["general.quantization_version", gguf.u32(2)],
    [`${a}.block_count`, gguf.u32(g.nLayer)],
    [`${a}.context_length`, gguf.u32(g.nCtxTrain)],
    [`${a}.embedding_length`, gguf.u32(g.nEmbd)],
    [`${a}.feed_forward_length`, gguf.u32(g.nFf)],
    [`${a}.attention.head_count`, gguf.u32(g.nHead)],
    // MLA files describe the latent cache as one 576/512 "head" shared by all query heads.
    [`${a}.attention.head_count_kv`, gguf.u32(mla ? 1 : g.nHead)],
    [`${a}.attention.key_length`, gguf.u32(mla ? g.kvLoraRank + g.nRot : qkWidth)],
    [`${a}.attention.value_length`, gguf.u32(mla ? g.kvLoraRank : g.nEmbdHeadV)],
  ];
  if (mla) {
    kv.push([`${a}.attention.key_length_mla`, gguf.u32(qkWidth)]);
    kv.push([`${a}.attention.value_length_mla`, gguf.u32(g.nEmbdHeadV)]);
  }
  kv.push(
    [`${a}.rope.freq_base`, gguf.f32(10000)],
    [`${a}.attention.layer_norm_rms_epsilon`, gguf.f32(1e-6)],
    [`${a}.expert_used_count`, gguf.u32(g.nExpertUsed)],
    [`${a}.expert_count`, gguf.u32(g.nExpert)],
    [`${a}.leading_dense_block_count`, gguf.u32(g.nLeadingDense)],
    [`${a}.vocab_size`, gguf.u32(g.nVocab)],
  );
  if (g.qLoraRank > 0) kv.push([`${a}.attention.q_lora_rank`, gguf.u32(g.qLoraRank)]);
  kv.push(
    [`${a}.attention.kv_lora_rank`, gguf.u32(g.kvLoraRank)],
    [`${a}.expert_feed_forward_length`, gguf.u32(g.nFfExp)],
    [`${a}.expert_shared_count`, gguf.u32(g.nExpertShared)],
    [`${a}.expert_weights_scale`, gguf.f32(1.0)],
    [`${a}.expert_weights_norm`, gguf.bool(false)],
    [`${a}.expert_gating_func`, gguf.u32(1)],
    [`${a}.rope.dimension_count`, gguf.u32(g.nRot)],
    [`${a}.rope.scaling.type`, gguf.string("yarn")],
    [`${a}.rope.scaling.factor`, gguf.f32(40)],
    [`${a}.rope.scaling.original_context_length`, gguf.u32(4096)],
    [`${a}.rope.scaling.yarn_log_multiplier`, gguf.f32(0.0707)],
  );
  return kv;
}
