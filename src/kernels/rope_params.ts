/**
 * DeepSeek2's RoPE parameters and attention scale from GGUF metadata values (MLA_SPEC §1.5-1.6),
 * following ik_llama.cpp / llama.cpp: the whole YaRN mscale² goes into kq_scale, and RoPE gets an
 * attn_factor that cancels the magnitude the ggml kernel adds, so cos/sin keep magnitude 1 for
 * V2 / V2-Lite. For V2-Lite this gives kq_scale = 0.1147214 and rope attn_factor = 0.7305200.
 * @module
 */
import { OptionError } from "../errors.ts";
import type { RopeParams } from "./ops.ts";

/** The metadata values the rope setup reads, by their `deepseek2.*` keys. */
export interface Deepseek2RopeMetadata {
  /** `rope.dimension_count` (64). */
  nRot: number;
  /** Query/key head width that sets the softmax scale: qk_nope + qk_rope (192, not 576). */
  keyLength: number;
  /** `rope.freq_base`; default 10000. */
  freqBase?: number;
  /** `rope.scaling.type`: "none", "linear" or "yarn"; default "yarn" when a factor is given, else "none". */
  scalingType?: string;
  /** `rope.scaling.factor` (40); default 1. */
  scalingFactor?: number;
  /** `rope.scaling.original_context_length` (4096); default `contextLength`, else 4096. */
  nCtxOrig?: number;
  /** `context_length`, the fallback for `nCtxOrig`. */
  contextLength?: number;
  /** `rope.scaling.yarn_log_multiplier` as stored (0.0707); default 0. */
  yarnLogMultiplier?: number;
  /** `rope.scaling.attn_factor`; default 1. */
  attnFactor?: number;
}

/** What the graph needs: the RoPE parameters and the attention softmax scale. */
export interface Deepseek2Rope {
  /** Parameters for the rope op (q rope dims and the kv rope dims alike). */
  params: RopeParams;
  /** Softmax scale of q·k: mscale² / sqrt(keyLength). */
  kqScale: number;
  /** The YaRN attention magnitude mscale = attn_factor·(1 + yarnLogMultiplier·ln factor). */
  mscale: number;
  /** cos/sin magnitude the kernel ends up applying (1 for V2 / V2-Lite with YaRN). */
  ropeMagnitude: number;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new OptionError(`Metadata "${name}" must be a finite number > 0, got ${value}`);
  }
  return value;
}

/**
 * Computes DeepSeek2's RoPE parameters and kq_scale from metadata values (ik_llama.cpp's
 * bookkeeping; newer mainline reaches the same numbers for V2/V2-Lite).
 *
 * @param meta Metadata values; absent keys take llama.cpp's defaults.
 * @returns RoPE parameters, kq_scale, mscale and the effective cos/sin magnitude.
 * @example
 * ```ts
 * const lite = deepseek2Rope({
 *   nRot: 64, keyLength: 192, freqBase: 10000, scalingType: "yarn", scalingFactor: 40,
 *   nCtxOrig: 4096, yarnLogMultiplier: 0.0707,
 * });
 * lite.kqScale.toFixed(7); // "0.1147214"
 * ```
 */
export function deepseek2Rope(meta: Deepseek2RopeMetadata): Deepseek2Rope {
  const nDims = meta.nRot;
  if (!Number.isInteger(nDims) || nDims < 2 || nDims % 2 !== 0 || nDims > 256) {
    throw new OptionError(`Metadata "rope.dimension_count" must be even in 2..256, got ${nDims}`);
  }
  const keyLength = positive("attention.key_length", meta.keyLength);
  const freqBase = positive("rope.freq_base", meta.freqBase ?? 10000);
  const factor = positive("rope.scaling.factor", meta.scalingFactor ?? 1);
  const scalingType = meta.scalingType ?? (meta.scalingFactor !== undefined ? "yarn" : "none");
  if (!["none", "linear", "yarn"].includes(scalingType)) {
    throw new OptionError(
      `Metadata "rope.scaling.type" must be none, linear or yarn, got "${scalingType}"`,
    );
  }
  const nCtxOrig = meta.nCtxOrig ?? meta.contextLength ?? 4096;
  if (!Number.isInteger(nCtxOrig) || nCtxOrig < 1) {
    throw new OptionError(
      `Metadata "rope.scaling.original_context_length" must be a positive integer, got ${nCtxOrig}`,
    );
  }
  const attnFactor = positive("rope.scaling.attn_factor", meta.attnFactor ?? 1);
  const logMultiplier = meta.yarnLogMultiplier ?? 0;
  const freqScale = scalingType === "none" ? 1 : 1 / factor;
  const yarn = scalingType === "yarn";
  // ik build_deepseek2: mscale = attn_factor·(1 + log_mul·ln(1/freq_scale)), kq_scale = mscale²/√d.
  const mscale = attnFactor * (1 + logMultiplier * Math.log(1 / freqScale));
  const kqScale = (mscale * mscale) / Math.sqrt(keyLength);
  // With YaRN the kernel multiplies cos/sin by 1 + 0.1·ln(1/freq_scale); pass its inverse so the
  // magnitude stays 1 (mscale lives in kq_scale instead). Without YaRN the kernel adds nothing.
  const kernelGain = yarn ? 1 + 0.1 * Math.log(1 / freqScale) : 1;
  const ropeAttnFactor = Math.fround(1 / kernelGain);
  return {
    params: {
      nDims,
      freqBase,
      freqScale,
      extFactor: yarn ? 1 : 0,
      attnFactor: ropeAttnFactor,
      betaFast: 32,
      betaSlow: 1,
      nCtxOrig,
    },
    kqScale,
    mscale,
    ropeMagnitude: ropeAttnFactor * kernelGain,
  };
}
