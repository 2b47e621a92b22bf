/**
 * Synthetic tiny DeepSeek2 models for the model tests, made once into `.cache/test-models/`
 * (written to a temporary name and renamed, so concurrent test files never see half a file).
 * @module
 */
import { fileURLToPath } from "node:url";
import { synthesizeModel } from "../../src/synth/synthesize.ts";

/** What distinguishes the fixtures. */
export interface TinyModelSpec {
  layout: "kb-vb" | "kvb";
  qLoraRank: number;
  wtype: "F16" | "Q8_0" | "IQ4_NL" | "Q4_K" | "Q4_0" | "Q6_K" | "BF16";
  layers?: number;
  /**
   * "builtin" (default): the synthesizer's small byte-level BPE vocabulary, which keeps the
   * float64 reference's output head cheap; "deepseek": the real 102400-token vocabulary.
   */
  vocab?: "builtin" | "deepseek";
}

const DIR = fileURLToPath(new URL("../../.cache/test-models/", import.meta.url));

/**
 * Path of a tiny model with `spec`, synthesizing it on first use.
 *
 * @param spec Layout, q-LoRA rank, weight type.
 * @returns Absolute path of the GGUF file.
 */
export async function tinyModel(spec: TinyModelSpec): Promise<string> {
  const layers = spec.layers ?? 3;
  const vocab = spec.vocab ?? "builtin";
  const name =
    `model-tiny-${spec.layout}-q${spec.qLoraRank}-${spec.wtype}-l${layers}-${vocab}.gguf`;
  const path = DIR + name;
  try {
    if (Deno.statSync(path).size > 0) return path;
  } catch {
    // Not made yet.
  }
  Deno.mkdirSync(DIR, { recursive: true });
  const tmp = `${path}.${Deno.pid}.tmp`;
  await synthesizeModel(tmp, {
    preset: "tiny",
    wtype: spec.wtype,
    layout: spec.layout,
    qLoraRank: spec.qLoraRank,
    layers,
    seed: 5,
    vocab: vocab === "builtin" ? "builtin" : undefined,
  });
  Deno.renameSync(tmp, path);
  return path;
}
