/**
 * The model tests' fixtures: synthetic tiny DeepSeek2 models through the shared fixture helper
 * (tests/helpers/tiny_model.ts), with the small built-in vocabulary by default so the float64
 * reference's output head stays cheap.
 * @module
 */
import { tinyModelPath } from "../helpers/tiny_model.ts";
import type { SynthWeightType } from "../../src/synth/geometry.ts";

/** What distinguishes the fixtures. */
export interface TinyModelSpec {
  layout: "kb-vb" | "kvb";
  qLoraRank: number;
  wtype: SynthWeightType;
  layers?: number;
  /** "builtin" (default, ~380 tokens) or "deepseek" (the real 102400-token vocabulary). */
  vocab?: "builtin" | "deepseek";
}

/**
 * Path of a tiny model with `spec`, synthesizing it on first use.
 *
 * @param spec Layout, q-LoRA rank, weight type, layers, vocabulary.
 * @returns Absolute path of the GGUF file.
 */
export function tinyModel(spec: TinyModelSpec): Promise<string> {
  return tinyModelPath({
    layout: spec.layout,
    qLora: spec.qLoraRank,
    wtype: spec.wtype,
    layers: spec.layers ?? 3,
    vocab: spec.vocab ?? "builtin",
    seed: 5,
  });
}
