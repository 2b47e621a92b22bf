/**
 * Shapes of synthetic DeepSeek2 models: the `v2-lite` preset (DeepSeek-V2-Lite's exact
 * geometry, MLA_SPEC §1.1) and the `tiny` preset (same attention geometry, small everything
 * else), plus the plan of every tensor — name, dims, type and weight scale — for a layout.
 * @module
 */
import { OptionError } from "../errors.ts";
import { ggmlTypeByName, type GgmlTypeInfo } from "../ggml_types.ts";

/** Preset names. */
export const SYNTH_PRESETS = ["v2-lite", "tiny"] as const;
/** A preset name. */
export type SynthPreset = typeof SYNTH_PRESETS[number];

/** Attention tensor layouts (MLA_SPEC §1.3): mainline split k_b/v_b, or legacy kv_b. */
export const SYNTH_LAYOUTS = ["kb-vb", "kvb"] as const;
/** An attention layout. */
export type SynthLayout = typeof SYNTH_LAYOUTS[number];

/** Weight types `synth` writes for the big matrices. */
export const SYNTH_WEIGHT_TYPES = [
  "IQ4_NL",
  "IQ4_XS",
  "Q4_0",
  "Q4_1",
  "Q5_1",
  "Q8_0",
  "Q4_K",
  "Q6_K",
  "F16",
  "BF16",
] as const;
/** A weight type name. */
export type SynthWeightType = typeof SYNTH_WEIGHT_TYPES[number];

/** Every size of a DeepSeek2 model (names follow llama.cpp's hparams). */
export interface SynthGeometry {
  /** `general.name`. */
  readonly name: string;
  /** Transformer layers. */
  readonly nLayer: number;
  /** Hidden size. */
  readonly nEmbd: number;
  /** Attention heads. */
  readonly nHead: number;
  /** Leading layers with a dense FFN instead of experts. */
  readonly nLeadingDense: number;
  /** Dense FFN width. */
  readonly nFf: number;
  /** Routed experts. */
  readonly nExpert: number;
  /** Experts used per token. */
  readonly nExpertUsed: number;
  /** Shared experts. */
  readonly nExpertShared: number;
  /** Expert FFN width. */
  readonly nFfExp: number;
  /** Latent (compressed KV) rank. */
  readonly kvLoraRank: number;
  /** q LoRA rank, 0 for none (Lite). */
  readonly qLoraRank: number;
  /** Rope dims per head. */
  readonly nRot: number;
  /** Non-rope q/k dims per head. */
  readonly nEmbdHeadQkNope: number;
  /** Value dims per head. */
  readonly nEmbdHeadV: number;
  /** Vocabulary size (set from the tokenizer). */
  readonly nVocab: number;
  /** Training context length. */
  readonly nCtxTrain: number;
  /** Output head weight std in units of 1/sqrt(nEmbd): bigger spreads logits wider. */
  readonly outputStdScale: number;
}

/** DeepSeek-V2-Lite (MLA_SPEC §1.1). */
export const V2_LITE: SynthGeometry = {
  name: "DeepSeek-V2-Lite (synthetic)",
  nLayer: 27,
  nEmbd: 2048,
  nHead: 16,
  nLeadingDense: 1,
  nFf: 10944,
  nExpert: 64,
  nExpertUsed: 6,
  nExpertShared: 2,
  nFfExp: 1408,
  kvLoraRank: 512,
  qLoraRank: 0,
  nRot: 64,
  nEmbdHeadQkNope: 128,
  nEmbdHeadV: 128,
  nVocab: 102400,
  nCtxTrain: 163840,
  outputStdScale: 3,
};

/** A few-MB model (beyond its vocabulary) with V2-Lite's attention geometry. */
export const TINY: SynthGeometry = {
  ...V2_LITE,
  name: "DeepSeek2 tiny (synthetic)",
  nLayer: 3,
  nEmbd: 256,
  nFf: 768,
  nExpert: 8,
  nExpertUsed: 2,
  nFfExp: 256,
  outputStdScale: 6,
};

/** A planned tensor: what to write and how to draw its values. */
export interface PlannedTensor {
  /** GGUF tensor name. */
  readonly name: string;
  /** Dims, ne0 first. */
  readonly dims: readonly number[];
  /** Storage type. */
  readonly type: GgmlTypeInfo;
  /** Standard deviation of the Gaussian values. */
  readonly std: number;
  /** Mean of the values (1 for norm weights, else 0). */
  readonly mean: number;
  /**
   * For `attn_k_b`/`attn_v_b`: the values are the K or V rows of the layer's `attn_kv_b`
   * (as the kvb layout would hold them) rearranged, so both layouts describe one model.
   */
  readonly splitOf?: { readonly kvB: string; readonly part: "k" | "v" };
}

/** Options that change the tensor set. */
export interface PlanOptions {
  /** Weight type of the matrices. */
  readonly wtype: SynthWeightType;
  /** Attention layout. */
  readonly layout: SynthLayout;
}

const F32 = ggmlTypeByName("F32")!;
const Q8_0 = ggmlTypeByName("Q8_0")!;
const Q5_0 = ggmlTypeByName("Q5_0")!;
const IQ4_NL = ggmlTypeByName("IQ4_NL")!;

/**
 * The type a matrix gets: the chosen weight type when its rows are whole blocks, else
 * llama.cpp's fallback for rows that are not whole 256-blocks (llama-quant.cpp): Q4_K → Q5_0,
 * IQ4_XS → IQ4_NL, Q6_K → Q8_0. In a V2-Lite file that is every `ffn_down_exps` (rows of 1408)
 * and `attn_k_b` (rows of 128), as in the Q4_K_M and IQ4_XS files people download.
 */
function matrixType(wtype: GgmlTypeInfo, ne0: number): GgmlTypeInfo {
  if (ne0 % wtype.blockElements === 0) return wtype;
  if (wtype.name === "Q4_K") return Q5_0;
  return wtype.name === "IQ4_XS" ? IQ4_NL : Q8_0;
}

/**
 * Every tensor of a model in file order, with types and weight scales chosen so that
 * activations stay O(1) through every layer: matrices have std 1/sqrt(fan_in), norms ≈ 1,
 * embeddings std 1, and the output head `outputStdScale`/sqrt(nEmbd) for a wide logit spread.
 *
 * @param g Geometry.
 * @param options Weight type and layout.
 * @returns The planned tensors.
 *
 * @example
 * ```ts
 * import { planTensors, TINY } from "./geometry.ts";
 * const plan = planTensors(TINY, { wtype: "Q8_0", layout: "kb-vb" });
 * console.log(plan.length, plan[0].name);
 * ```
 */
export function planTensors(g: SynthGeometry, options: PlanOptions): PlannedTensor[] {
  const wtype = ggmlTypeByName(options.wtype);
  if (wtype === undefined) throw new OptionError(`Unknown weight type "${options.wtype}"`);
  const out: PlannedTensor[] = [];
  const matrix = (name: string, dims: number[], std = 1 / Math.sqrt(dims[0])) =>
    out.push({ name, dims, type: matrixType(wtype, dims[0]), std, mean: 0 });
  const norm = (name: string, n: number) =>
    out.push({ name, dims: [n], type: F32, std: 0.1, mean: 1 });
  const E = g.nEmbd;
  const H = g.nHead;
  const R = g.kvLoraRank;
  const qkWidth = g.nEmbdHeadQkNope + g.nRot;
  matrix("token_embd.weight", [E, g.nVocab], 1);
  for (let i = 0; i < g.nLayer; i++) {
    const p = `blk.${i}.`;
    norm(`${p}attn_norm.weight`, E);
    if (g.qLoraRank > 0) {
      matrix(`${p}attn_q_a.weight`, [E, g.qLoraRank]);
      norm(`${p}attn_q_a_norm.weight`, g.qLoraRank);
      matrix(`${p}attn_q_b.weight`, [g.qLoraRank, H * qkWidth]);
    } else {
      matrix(`${p}attn_q.weight`, [E, H * qkWidth]);
    }
    matrix(`${p}attn_kv_a_mqa.weight`, [E, R + g.nRot]);
    norm(`${p}attn_kv_a_norm.weight`, R);
    // k_b/v_b hold kv_b's numbers rearranged, so both keep kv_b's fan-in R.
    if (options.layout === "kb-vb") {
      const kvB = `${p}attn_kv_b.weight`;
      for (const [part, dims] of [["k", [g.nEmbdHeadQkNope, R, H]], ["v", [R, g.nEmbdHeadV, H]]]) {
        out.push({
          name: `${p}attn_${part}_b.weight`,
          dims: dims as number[],
          type: matrixType(wtype, (dims as number[])[0]),
          std: 1 / Math.sqrt(R),
          mean: 0,
          splitOf: { kvB, part: part as "k" | "v" },
        });
      }
    } else {
      matrix(`${p}attn_kv_b.weight`, [R, H * (g.nEmbdHeadQkNope + g.nEmbdHeadV)]);
    }
    matrix(`${p}attn_output.weight`, [H * g.nEmbdHeadV, E]);
    norm(`${p}ffn_norm.weight`, E);
    if (i < g.nLeadingDense) {
      matrix(`${p}ffn_gate.weight`, [E, g.nFf]);
      matrix(`${p}ffn_up.weight`, [E, g.nFf]);
      matrix(`${p}ffn_down.weight`, [g.nFf, E]);
      continue;
    }
    // The router stays F32, as llama.cpp never quantizes ffn_gate_inp.
    out.push({
      name: `${p}ffn_gate_inp.weight`,
      dims: [E, g.nExpert],
      type: F32,
      std: 1 / Math.sqrt(E),
      mean: 0,
    });
    matrix(`${p}ffn_gate_exps.weight`, [E, g.nFfExp, g.nExpert]);
    matrix(`${p}ffn_up_exps.weight`, [E, g.nFfExp, g.nExpert]);
    matrix(`${p}ffn_down_exps.weight`, [g.nFfExp, E, g.nExpert]);
    const shared = g.nFfExp * g.nExpertShared;
    matrix(`${p}ffn_gate_shexp.weight`, [E, shared]);
    matrix(`${p}ffn_up_shexp.weight`, [E, shared]);
    matrix(`${p}ffn_down_shexp.weight`, [shared, E]);
  }
  norm("output_norm.weight", E);
  matrix("output.weight", [E, g.nVocab], g.outputStdScale / Math.sqrt(E));
  return out;
}
