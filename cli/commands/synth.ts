/**
 * `synth OUT.gguf`: writes a synthetic DeepSeek2 model (real shapes, random weights).
 * @module
 */
import {
  SYNTH_LAYOUTS,
  SYNTH_PRESETS,
  SYNTH_WEIGHT_TYPES,
  type SynthPreset,
} from "../../src/synth/geometry.ts";
import { plannedFileSize, synthesizeModel } from "../../src/synth/synthesize.ts";
import { countProgress } from "../progress.ts";
import { choiceFlag, type Command, intFlag, parseFlags, UsageError } from "../usage.ts";

const usage = `Usage: synth OUT.gguf [flags]

Writes a DeepSeek2 GGUF with real shapes and random weights (valid quant blocks).

Flags:
  --preset v2-lite|tiny     geometry (default tiny): v2-lite is DeepSeek-V2-Lite exactly (27 layers,
                            hidden 2048, 64 experts top-6, ~8.9 GB as IQ4_NL); tiny keeps the
                            attention geometry (16 heads, 576/512 cache rows) with hidden 256,
                            8 experts top-2, 3 layers
  --wtype TYPE              matrix type: ${SYNTH_WEIGHT_TYPES.join("|")} (default IQ4_NL);
                            rows that are not whole blocks of TYPE (attn_k_b, 128) use Q8_0
  --layers N                number of layers (default: the preset's)
  --layout kb-vb|kvb        attention tensors: kb-vb = mainline MLA attn_k_b/attn_v_b (default),
                            kvb = legacy attn_kv_b; one seed gives the same model in both
  --q-lora RANK             add attn_q_a/attn_q_a_norm/attn_q_b with this rank (default 0 = none;
                            mainline llama.cpp needs it unless there are 27 layers)
  --vocab FILE|builtin      copy tokenizer.* from FILE (default: the DeepSeek vocabulary in
                            ../shared/data/vocab/ when present, else a small built-in BPE)
  --seed S                  weight seed (default 0)
  -h, --help                this text

Example: synth /tmp/tiny.gguf --preset tiny --q-lora 256 --wtype Q8_0`;

/** The `synth` command. */
export const command: Command = {
  summary: "write a synthetic DeepSeek2 GGUF (v2-lite or tiny) with random weights",
  usage,
  async run(args: string[]): Promise<number> {
    const { values, positionals } = parseFlags(args, {
      preset: { type: "string" },
      wtype: { type: "string" },
      layers: { type: "string" },
      layout: { type: "string" },
      "q-lora": { type: "string" },
      vocab: { type: "string" },
      seed: { type: "string" },
    }, true);
    if (positionals.length !== 1) {
      throw new UsageError(`synth takes one output path, got ${positionals.length} arguments`);
    }
    const preset: SynthPreset = choiceFlag("--preset", values.preset, SYNTH_PRESETS, "tiny");
    const options = {
      preset,
      wtype: choiceFlag("--wtype", values.wtype?.toUpperCase(), SYNTH_WEIGHT_TYPES, "IQ4_NL"),
      layers: values.layers === undefined
        ? undefined
        : intFlag("--layers", values.layers, 0, 1, 512),
      layout: choiceFlag("--layout", values.layout, SYNTH_LAYOUTS, "kb-vb"),
      qLoraRank: intFlag("--q-lora", values["q-lora"], 0, 0, 65536),
      vocab: values.vocab,
      seed: intFlag("--seed", values.seed, 0, 0, 0xffffffff),
    };
    const out = positionals[0];
    const total = plannedFileSize(options);
    const progress = countProgress(`synth ${preset}`, "MB");
    const result = await synthesizeModel(out, {
      ...options,
      onProgress: (written) =>
        progress.onProgress(Math.round(written / 1e6), Math.round(total / 1e6)),
    });
    progress.finish();
    const g = result.geometry;
    console.log(
      `wrote ${out}: ${(result.bytes / 1e9).toFixed(3)} GB in ${result.seconds.toFixed(1)} s — ` +
        `${preset}, ${result.wtype}, ${result.layout}, ${g.nLayer} layers, ` +
        `q-lora ${g.qLoraRank || "none"}, vocab ${g.nVocab} (${result.vocabSource})`,
    );
    return 0;
  },
};
