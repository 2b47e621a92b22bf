/**
 * `logits`: prints, as one JSON object, the top-K logits at every position of a prompt and of N
 * greedily decoded tokens, so any other engine can be compared against this one:
 * `{"tokens":[…prompt ids, BOS included…],"positions":[{"pos":0,"token":100000,
 * "top":[[id,logit],…]}, …]}` — position p's entry holds the logits after token p was read.
 * @module
 */
import { normalizeLlamaFlags } from "../llama_flags.ts";
import { choiceFlag, type Command, intFlag, parseFlags, UsageError } from "../usage.ts";
import { Model } from "../../src/model.ts";
import { KV_CACHE_TYPES } from "../../src/kv_cache.ts";
import { argmax } from "../../src/sampler.ts";

const USAGE = `flashmla logits — top-K logits per position as JSON

Usage: logits -m MODEL -p PROMPT [--top K] [--gen N] [-ctk TYPE] [--attn STRATEGY]

  -m, --model FILE         a deepseek2 GGUF model
  -p, --prompt TEXT        the prompt (BOS is prepended as the vocabulary says)
  --top K                  logits listed per position, best first (default 5)
  --gen N                  greedy tokens appended after the prompt (default 0)
  -ctk, --cache-type-k T   KV cache type: f16 (default), q8_0, q8_KV
  --attn S                 FlashMLA strategy: auto (default), heads, kvsplit
  -t, --threads N          threads (default: physical cores)
  -h, --help               this text

Example: logits -m tiny.gguf -p "Hello" --top 3 --gen 4`;

const OPTIONS = {
  model: { type: "string", short: "m" },
  prompt: { type: "string", short: "p" },
  top: { type: "string" },
  gen: { type: "string" },
  "cache-type-k": { type: "string" },
  attn: { type: "string" },
  threads: { type: "string", short: "t" },
} as const;

/** The K largest logits of a row as [id, logit] pairs, best first (lower id on ties). */
export function topLogits(row: Float32Array, k: number): [number, number][] {
  const ids: number[] = [];
  for (let i = 0; i < row.length; i++) {
    if (ids.length < k || row[i] > row[ids[ids.length - 1]]) {
      let j = Math.min(ids.length, k - 1);
      ids[j] = i;
      while (j > 0 && row[ids[j - 1]] < row[ids[j]]) {
        [ids[j - 1], ids[j]] = [ids[j], ids[j - 1]];
        j--;
      }
    }
  }
  return ids.map((id) => [id, row[id]]);
}

/** The `logits` command. */
export const command: Command = {
  summary: "print top-K logits per position as JSON (for comparing engines)",
  usage: USAGE,
  async run(args: string[]): Promise<number> {
    const { values } = parseFlags(normalizeLlamaFlags(args, ["-ctk"]), OPTIONS);
    if (values.model === undefined) throw new UsageError("-m MODEL is required");
    if (values.prompt === undefined) throw new UsageError("-p PROMPT is required");
    const top = intFlag("--top", values.top, 5, 1, 1000);
    const gen = intFlag("--gen", values.gen, 0, 0, 100000);
    const cacheType = choiceFlag("-ctk", values["cache-type-k"], KV_CACHE_TYPES, "f16");
    const attention = choiceFlag("--attn", values.attn, ["auto", "heads", "kvsplit"], "auto");
    const threads = values.threads === undefined
      ? undefined
      : intFlag("-t", values.threads, 1, 1, 64);
    using model = await Model.load(values.model);
    const tokens = model.tokenize(values.prompt);
    if (tokens.length === 0) throw new UsageError("The prompt has no tokens");
    using ctx = model.createContext({
      ctxLen: tokens.length + gen + 1,
      cacheType,
      attention,
      threads,
    });
    const V = model.info.vocabSize;
    const positions: { pos: number; token: number; top: [number, number][] }[] = [];
    const all = ctx.evalLogits(tokens, { allLogits: true });
    tokens.forEach((token, pos) => {
      positions.push({ pos, token, top: topLogits(all.subarray(pos * V, (pos + 1) * V), top) });
    });
    let last = all.subarray((tokens.length - 1) * V);
    for (let i = 0; i < gen; i++) {
      const token = argmax(last);
      last = ctx.evalLogits([token]);
      positions.push({ pos: tokens.length + i, token, top: topLogits(last, top) });
    }
    console.log(JSON.stringify({ tokens, positions }));
    return 0;
  },
};
