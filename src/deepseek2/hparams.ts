/**
 * DeepSeek2 hyper-parameters read from GGUF metadata (MLA_SPEC §1.1–1.3, §1.5, §1.9), with the
 * attention-tensor layout detected from the tensor names and every value checked, so the
 * graph builder can trust them.
 * @module
 */
import { GgufError } from "../errors.ts";

/** What hparams need from a GGUF file (structurally a subset of `GgufFile`). */
export interface GgufMetadataSource {
  has(key: string): boolean;
  getU32(key: string): number;
  getF32(key: string): number;
  getBool(key: string): boolean;
  getString(key: string): string;
  getNumberArray(key: string): number[];
  getStringArray(key: string): string[];
  readonly tensors: ReadonlyMap<string, { readonly dims: readonly number[] }>;
}

/** On-disk attention layout: split `attn_k_b`/`attn_v_b` (mainline MLA) or `attn_kv_b` (legacy). */
export type AttentionLayout = "kb-vb" | "kvb";

/** How router logits become expert probabilities (MLA_SPEC §1.9). */
export type ExpertGating = "softmax" | "sigmoid";

/** Every number the DeepSeek2 forward pass needs; names follow llama.cpp's hparams. */
export interface DeepSeek2Hparams {
  /** `general.name` or the empty string. */
  readonly name: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly nVocab: number;
  readonly nCtxTrain: number;
  /** Layers 0..nLeadingDense-1 use the dense FFN. */
  readonly nLeadingDense: number;
  /** Dense FFN width. */
  readonly nFf: number;
  readonly nExpert: number;
  readonly nExpertUsed: number;
  readonly nExpertShared: number;
  /** Width of one routed expert (shared experts: nFfExp × nExpertShared). */
  readonly nFfExp: number;
  readonly expertWeightsScale: number;
  readonly expertWeightsNorm: boolean;
  readonly expertGating: ExpertGating;
  /** 0 = plain `attn_q` (Lite); else the q-LoRA rank (`attn_q_a` → norm → `attn_q_b`). */
  readonly qLoraRank: number;
  /** Latent width R (512): the cache row is R + nRot wide. */
  readonly kvLoraRank: number;
  /** RoPE dims per head P (64). */
  readonly nRot: number;
  /** Non-rope query/key dims per head N (128). */
  readonly nEmbdHeadQkNope: number;
  /** Value dims per head V (128). */
  readonly nEmbdHeadV: number;
  readonly rmsEps: number;
  readonly ropeFreqBase: number;
  /** 1 / rope.scaling.factor when YaRN is on, else 1. */
  readonly ropeFreqScale: number;
  /** True when rope.scaling.type is "yarn". */
  readonly yarn: boolean;
  readonly nCtxOrig: number;
  /** `rope.scaling.yarn_log_multiplier` as stored (0.0707 for V2-Lite). */
  readonly yarnLogMultiplier: number;
  /** `rope.scaling.attn_factor` (default 1). */
  readonly ropeAttnFactor: number;
  readonly layout: AttentionLayout;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
}

const ARCH = "deepseek2";

function key(name: string): string {
  return `${ARCH}.${name}`;
}

function u32(file: GgufMetadataSource, name: string, fallback?: number): number {
  if (!file.has(name)) {
    if (fallback !== undefined) return fallback;
    throw new GgufError(`Metadata key "${name}" is missing`, { field: name });
  }
  return file.getU32(name);
}

/** A key llama.cpp accepts as a scalar or a per-layer array; an array must be uniform on `layers`. */
function u32PerLayer(
  file: GgufMetadataSource,
  name: string,
  layers: number[],
  fallback?: number,
): number {
  if (!file.has(name)) return u32(file, name, fallback);
  try {
    return file.getU32(name);
  } catch {
    const values = file.getNumberArray(name);
    const picked = layers.map((i) => values[i]);
    if (picked.some((v) => v !== picked[0] || !Number.isInteger(v))) {
      throw new GgufError(`Per-layer values of "${name}" differ across layers`, { field: name });
    }
    return picked[0];
  }
}

function f32(file: GgufMetadataSource, name: string, fallback?: number): number {
  if (!file.has(name)) {
    if (fallback !== undefined) return fallback;
    throw new GgufError(`Metadata key "${name}" is missing`, { field: name });
  }
  return file.getF32(name);
}

function positive(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new GgufError(`Metadata key "${name}" must be a positive integer, got ${value}`, {
      field: name,
    });
  }
}

/**
 * Reads and checks the DeepSeek2 hyper-parameters of a GGUF file.
 *
 * @param file An open GGUF file (or anything with its metadata and tensor map).
 * @returns The hyper-parameters.
 * @throws {GgufError} When the architecture is not deepseek2, a key is missing or a value is
 * inconsistent (the message names the key).
 * @example
 * ```ts ignore
 * import { GgufFile } from "../gguf/reader.ts";
 * import { readHparams } from "./hparams.ts";
 * using file = GgufFile.open("tiny.gguf");
 * console.log(readHparams(file).layout);
 * ```
 */
export function readHparams(file: GgufMetadataSource): DeepSeek2Hparams {
  const arch = file.getString("general.architecture");
  if (arch !== ARCH) {
    throw new GgufError(`Architecture "${arch}" is not supported; only "${ARCH}" is`, {
      field: "general.architecture",
    });
  }
  const nLayer = u32(file, key("block_count"));
  positive(key("block_count"), nLayer);
  const nEmbd = u32(file, key("embedding_length"));
  const nLeadingDense = u32(file, key("leading_dense_block_count"), 0);
  const denseLayers = Array.from({ length: Math.min(nLeadingDense, nLayer) }, (_, i) => i);
  const allLayers = Array.from({ length: nLayer }, (_, i) => i);
  const nHead = u32PerLayer(file, key("attention.head_count"), allLayers);
  const nFf = nLeadingDense > 0 ? u32PerLayer(file, key("feed_forward_length"), denseLayers) : 0;
  const nRot = u32(file, key("rope.dimension_count"));
  const kvLoraRank = u32(file, key("attention.kv_lora_rank"));
  const layout = detectLayout(file);
  const { nope, v } = headGeometry(file, layout, nRot);
  const nExpert = u32(file, key("expert_count"), 0);
  const nExpertUsed = u32(file, key("expert_used_count"), 0);
  const qLoraRank = detectQLora(file);
  const nVocab = file.has(key("vocab_size"))
    ? u32(file, key("vocab_size"))
    : file.getStringArray("tokenizer.ggml.tokens").length;
  const scalingType = file.has(key("rope.scaling.type"))
    ? file.getString(key("rope.scaling.type"))
    : "none";
  const yarn = scalingType === "yarn";
  const factor = f32(file, key("rope.scaling.factor"), 1);
  const nCtxTrain = u32(file, key("context_length"));
  const hp: DeepSeek2Hparams = {
    name: file.has("general.name") ? file.getString("general.name") : "",
    nLayer,
    nEmbd,
    nHead,
    nVocab,
    nCtxTrain,
    nLeadingDense,
    nFf,
    nExpert,
    nExpertUsed,
    nExpertShared: u32(file, key("expert_shared_count"), 0),
    nFfExp: nExpert > 0 ? u32(file, key("expert_feed_forward_length")) : 0,
    expertWeightsScale: f32(file, key("expert_weights_scale"), 1),
    expertWeightsNorm: file.has(key("expert_weights_norm"))
      ? file.getBool(key("expert_weights_norm"))
      : false,
    expertGating: gating(file),
    qLoraRank,
    kvLoraRank,
    nRot,
    nEmbdHeadQkNope: nope,
    nEmbdHeadV: v,
    rmsEps: f32(file, key("attention.layer_norm_rms_epsilon")),
    ropeFreqBase: f32(file, key("rope.freq_base"), 10000),
    ropeFreqScale: yarn || scalingType === "linear" ? 1 / factor : 1,
    yarn,
    nCtxOrig: u32(file, key("rope.scaling.original_context_length"), nCtxTrain),
    yarnLogMultiplier: f32(file, key("rope.scaling.yarn_log_multiplier"), 0),
    ropeAttnFactor: f32(file, key("rope.scaling.attn_factor"), 1),
    layout,
    bosTokenId: u32(file, "tokenizer.ggml.bos_token_id", 100000),
    eosTokenId: u32(file, "tokenizer.ggml.eos_token_id", 100001),
  };
  checkHparams(hp);
  return hp;
}

function gating(file: GgufMetadataSource): ExpertGating {
  const name = key("expert_gating_func");
  const id = u32(file, name, 1);
  if (id === 1) return "softmax";
  if (id === 2) return "sigmoid";
  throw new GgufError(`Expert gating function ${id} is not supported (1 softmax, 2 sigmoid)`, {
    field: name,
  });
}

/** Layout from the tensors present in layer 0 (MLA_SPEC §1.3); attn_k_b wins when both exist. */
function detectLayout(file: GgufMetadataSource): AttentionLayout {
  if (file.tensors.has("blk.0.attn_k_b.weight") && file.tensors.has("blk.0.attn_v_b.weight")) {
    return "kb-vb";
  }
  if (file.tensors.has("blk.0.attn_kv_b.weight")) return "kvb";
  throw new GgufError(
    'Layer 0 has neither "attn_k_b"+"attn_v_b" nor "attn_kv_b"; cannot tell the MLA layout',
    { tensor: "blk.0.attn_kv_b.weight" },
  );
}

/**
 * Per-head nope and value widths. Mainline MLA files store the true sizes in the `*_mla` keys
 * (key_length/value_length there describe the 576/512 "one big head"); legacy files store them
 * in key_length/value_length directly.
 */
function headGeometry(
  file: GgufMetadataSource,
  layout: AttentionLayout,
  nRot: number,
): { nope: number; v: number } {
  const kMla = key("attention.key_length_mla");
  const vMla = key("attention.value_length_mla");
  if (file.has(kMla) && file.has(vMla)) {
    return { nope: u32(file, kMla) - nRot, v: u32(file, vMla) };
  }
  if (layout === "kb-vb" && u32(file, key("attention.head_count_kv"), 0) === 1) {
    throw new GgufError(`MLA file with head_count_kv = 1 lacks "${kMla}"/"${vMla}"`, {
      field: kMla,
    });
  }
  return {
    nope: u32(file, key("attention.key_length")) - nRot,
    v: u32(file, key("attention.value_length")),
  };
}

/**
 * q-LoRA is decided by the tensors (newer mainline's rule): `attn_q_a` present → q-LoRA with the
 * rank from metadata; `attn_q` present → none. ik's older rule (26/27 layers ⇒ Lite) agrees on
 * every real file and is not needed once tensors are looked at.
 */
function detectQLora(file: GgufMetadataSource): number {
  const hasQa = file.tensors.has("blk.0.attn_q_a.weight");
  const hasQ = file.tensors.has("blk.0.attn_q.weight");
  if (hasQa === hasQ) {
    throw new GgufError(
      'Layer 0 must have exactly one of "attn_q" (Lite) and "attn_q_a" (q-LoRA)',
      { tensor: "blk.0.attn_q.weight" },
    );
  }
  if (!hasQa) return 0;
  const rank = u32(file, key("attention.q_lora_rank"));
  positive(key("attention.q_lora_rank"), rank);
  return rank;
}

function checkHparams(hp: DeepSeek2Hparams): void {
  const checks: [string, boolean, string][] = [
    ["embedding_length", hp.nEmbd > 0 && hp.nEmbd % 32 === 0, "a positive multiple of 32"],
    ["attention.head_count", hp.nHead > 0 && hp.nHead <= 256, "from 1 to 256"],
    ["rope.dimension_count", hp.nRot > 0 && hp.nRot % 2 === 0, "a positive even number"],
    ["attention.kv_lora_rank", hp.kvLoraRank > 0 && hp.kvLoraRank % 32 === 0, "a multiple of 32"],
    ["key_length", hp.nEmbdHeadQkNope > 0, "larger than rope.dimension_count"],
    ["value_length", hp.nEmbdHeadV > 0, "positive"],
    ["leading_dense_block_count", hp.nLeadingDense <= hp.nLayer, "at most block_count"],
    ["expert_used_count", hp.nExpertUsed <= hp.nExpert, "at most expert_count"],
    [
      "expert_count",
      hp.nLeadingDense >= hp.nLayer || (hp.nExpert > 0 && hp.nExpertUsed > 0),
      "positive when a layer uses experts",
    ],
    ["vocab_size", hp.nVocab > 0, "positive"],
    ["attention.layer_norm_rms_epsilon", hp.rmsEps > 0 && hp.rmsEps < 1, "in (0, 1)"],
    ["rope.freq_base", hp.ropeFreqBase > 0, "positive"],
    ["rope.scaling.factor", hp.ropeFreqScale > 0 && hp.ropeFreqScale <= 1, "at least 1"],
  ];
  for (const [name, ok, want] of checks) {
    if (!ok) throw new GgufError(`Metadata "${key(name)}" must be ${want}`, { field: key(name) });
  }
}

/** Width of one cache row: latent ‖ rope key (576 for V2). */
export function cacheRowWidth(hp: DeepSeek2Hparams): number {
  return hp.kvLoraRank + hp.nRot;
}

/** Query/key head width used for the softmax scale: nope + rope (192 for V2). */
export function qkHeadWidth(hp: DeepSeek2Hparams): number {
  return hp.nEmbdHeadQkNope + hp.nRot;
}
