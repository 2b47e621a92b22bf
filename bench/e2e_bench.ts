/**
 * `deno bench bench/e2e_bench.ts`: the end-to-end step through the public API — one decoded
 * token (the whole graph: matmuls, MoE, FlashMLA, sampling-free logits) at several cache
 * depths with each attention strategy, and a 64-token prompt batch. The model is the demo's
 * synthetic `tiny` (made once into the cache directory), or `FLASHMLA_BENCH_MODEL` for a real
 * file. Iteration counts are fixed so the suite takes well under a minute on 2 cores.
 * @module
 */
import { Model } from "../mod.ts";
import { demoModelPath, ensureDemoModel } from "../cli/commands/demo.ts";

const modelPath = Deno.env.get("FLASHMLA_BENCH_MODEL") ?? demoModelPath("tiny");
if (Deno.env.get("FLASHMLA_BENCH_MODEL") === undefined) await ensureDemoModel("tiny", modelPath);
const model = await Model.load(modelPath);
const threads = 2;
// Every context owns native worker threads running library code. Deno runs each bench file
// in its own worker and closes that worker's FFI libraries when it ends, so threads left
// running would execute unmapped code (a segfault in the next file): close everything first.
const contexts: { close(): void }[] = [];
globalThis.addEventListener("unload", () => {
  for (const ctx of contexts) ctx.close();
  model.close();
});
const DEPTHS = [0, 4096];
const TOKEN = 100 % model.info.vocabSize;

for (const depth of DEPTHS) {
  for (const attention of ["heads", "kvsplit"] as const) {
    // One context per bench; the cache is refilled (untimed) whenever the timed decode steps
    // have grown it by 64 tokens, so every measured step sees depth..depth+64 rows.
    const ctx = model.createContext({ ctxLen: depth + 256, threads, attention });
    contexts.push(ctx);
    const refill = () => {
      ctx.reset();
      if (depth > 0) ctx.fillSynthetic(depth, 7);
    };
    refill();
    Deno.bench({
      name: `tg step @${depth} ${attention}`,
      group: `e2e tg step @${depth}`,
      baseline: attention === "heads",
      n: 40,
      warmup: 4,
      fn: (b) => {
        if (ctx.nPast >= depth + 64) refill();
        b.start();
        ctx.evalLogits([TOKEN]);
        b.end();
      },
    });
  }
}

{
  const ctx = model.createContext({ ctxLen: 512, threads });
  contexts.push(ctx);
  const prompt = Array.from({ length: 64 }, (_, i) => (i * 7919) % model.info.vocabSize);
  Deno.bench({
    name: "pp64 batch",
    group: "e2e pp",
    n: 10,
    warmup: 2,
    fn: (b) => {
      ctx.reset();
      b.start();
      ctx.evalLogits(prompt);
      b.end();
    },
  });
}
