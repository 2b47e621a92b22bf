/**
 * Test fixture: tiny synthetic DeepSeek2 GGUF files, made once per option set in
 * `<repo>/.cache/test-models/` (gitignored) and reused by every test and run afterwards.
 * The file name encodes the options and `SYNTH_VERSION`, so a change to the generator makes
 * fresh files instead of reusing stale ones.
 *
 * @example
 * ```ts ignore
 * import { tinyModelPath } from "./helpers/tiny_model.ts";
 * const path = await tinyModelPath({ layout: "kb-vb", qLora: 256, wtype: "Q8_0" });
 * ```
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { SynthLayout, SynthWeightType } from "../../src/synth/geometry.ts";
import { SYNTH_VERSION, synthesizeModel } from "../../src/synth/synthesize.ts";
import { DEFAULT_VOCAB_PATH } from "../../src/synth/vocab.ts";

/** Where fixture models live. */
export const TEST_MODELS_DIR: string = fileURLToPath(
  new URL("../../.cache/test-models/", import.meta.url),
);

/** Options of a tiny fixture model (all optional). */
export interface TinyModelOptions {
  /** Attention layout; default "kb-vb". */
  layout?: SynthLayout;
  /** q LoRA rank; default 256 (mainline llama.cpp 3.21.1 needs it below 27 layers). */
  qLora?: number;
  /** Matrix weight type; default "Q8_0". */
  wtype?: SynthWeightType;
  /** "deepseek" (the real 102400-token vocabulary; the built-in one when the shared file is
   * absent) or "builtin" (296 tokens, files of a few MB); default "deepseek". */
  vocab?: "deepseek" | "builtin";
  /** Layers; default the tiny preset's 3. */
  layers?: number;
  /** Weight seed; default 0. */
  seed?: number;
}

/**
 * The path of a tiny model with these options, writing it first if it is not cached yet.
 * Concurrent test processes are safe: each writes a private temporary file and renames it.
 *
 * @param options Layout, q LoRA rank, weight type, vocabulary, layers, seed.
 * @returns Absolute path of the GGUF file.
 */
export async function tinyModelPath(options: TinyModelOptions = {}): Promise<string> {
  const layout = options.layout ?? "kb-vb";
  const qLora = options.qLora ?? 256;
  const wtype = options.wtype ?? "Q8_0";
  // Without the shared DeepSeek vocabulary (a bare checkout) the built-in one stands in.
  const vocab = (options.vocab ?? "deepseek") === "deepseek" && existsSync(DEFAULT_VOCAB_PATH)
    ? "deepseek"
    : "builtin";
  const layers = options.layers ?? 3;
  const seed = options.seed ?? 0;
  const name =
    `tiny-v${SYNTH_VERSION}-${layout}-q${qLora}-${wtype}-${vocab}-l${layers}-s${seed}.gguf`;
  const path = join(TEST_MODELS_DIR, name);
  try {
    Deno.statSync(path);
    return path;
  } catch {
    // Not made yet.
  }
  Deno.mkdirSync(TEST_MODELS_DIR, { recursive: true });
  const temporary = `${path}.${Deno.pid}.${crypto.randomUUID()}.tmp`;
  try {
    await synthesizeModel(temporary, {
      preset: "tiny",
      layout,
      qLoraRank: qLora,
      wtype,
      layers,
      seed,
      vocab: vocab === "builtin" ? "builtin" : DEFAULT_VOCAB_PATH,
    });
    Deno.renameSync(temporary, path);
  } finally {
    try {
      Deno.removeSync(temporary);
    } catch {
      // Renamed into place.
    }
  }
  return path;
}
