/**
 * Side-by-side bench: the same pp / tg / tg-at-depth tests through flashmla-deno and through
 * llama.cpp (node-llama-cpp@3.21.1, CPU build, dev-only, installed in .cache/node-llama-cpp),
 * in one run, one table, with ratios. Takes `bench`'s flags:
 *
 *   deno run -A bench/llama_cpp_bench.ts -m v2-lite.gguf -p 512 -n 64 -d 0,4096 \
 *     --attn heads,kvsplit -r 3 --plot bench/results/depth.svg
 *
 * llama.cpp always fills depth with a real prefill (it has no synthetic rows) and has no
 * q8_KV cache (those rows are skipped for it). Its attention runs with flash attention on.
 * @module
 */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { command as benchCommand, parseBenchArgs } from "../cli/commands/bench.ts";
import { openModel } from "../cli/engine.ts";
import { type BenchRow, formatRows, rowFromSamples, testName } from "../cli/bench/report.ts";
import {
  type BenchPlan,
  buildCommit,
  contextLengthFor,
  cpuInfo,
  modelType,
  runBench,
} from "../cli/bench/runner.ts";
import { plotDepthSvg } from "../cli/plot.ts";
import toolchain from "../toolchain.json" with { type: "json" };

const root = fileURLToPath(new URL("../", import.meta.url));
/** Where node-llama-cpp is installed (shared with the conformance tests). */
export const NODE_LLAMA_CPP_DIR: string = join(root, ".cache", "node-llama-cpp");

const NODE_SCRIPT = `
import { getLlama } from "node-llama-cpp";
const cfg = JSON.parse(process.argv[2]);
let state = 1234;
const token = () => { state = (state * 1103515245 + 12345) % 2147483648; return state % cfg.vocabSize; };
const tokens = (n) => Array.from({ length: n }, token);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: cfg.model, gpuLayers: 0 });
const out = [];
for (const threads of cfg.threads) {
  for (const typeK of cfg.cacheTypes) {
    const context = await model.createContext({
      contextSize: cfg.ctxLen, batchSize: cfg.batchSize, threads, flashAttention: true,
      experimentalKvCacheKeyType: typeK, experimentalKvCacheValueType: typeK,
    });
    const seq = context.getSequence();
    for (const test of cfg.tests) {
      const samples = [];
      for (let rep = cfg.warmup ? -1 : 0; rep < cfg.repetitions; rep++) {
        await seq.clearHistory();
        if (test.depth > 0) await seq.evaluateWithoutGeneratingNewTokens(tokens(test.depth));
        const prompt = tokens(test.nPrompt);
        const started = process.hrtime.bigint();
        if (test.nPrompt > 0) await seq.evaluateWithoutGeneratingNewTokens(prompt);
        if (test.nGen > 0) {
          let n = 0;
          for await (const _ of seq.evaluate([token()], { temperature: 0 })) if (++n >= test.nGen) break;
        }
        const ns = Number(process.hrtime.bigint() - started);
        if (rep >= 0) samples.push(ns);
      }
      out.push({ test, threads, typeK, samples });
    }
    await context.dispose();
  }
}
await model.dispose();
console.log(JSON.stringify(out));
`;

/** The ggml type name node-llama-cpp takes for one of our cache types, if llama.cpp has it. */
function llamaCacheType(type: string): string | undefined {
  return { f16: "F16", q8_0: "Q8_0" }[type];
}

/**
 * Runs the plan's tests through llama.cpp (node-llama-cpp) and returns rows with
 * `engine: "llama.cpp"`.
 *
 * @param modelPath GGUF file.
 * @param plan The bench plan (attention and fill do not apply to llama.cpp).
 * @param template A row of ours for the same model, for the model columns.
 * @returns Rows.
 */
export async function runLlamaCppBench(
  modelPath: string,
  plan: BenchPlan,
  template: Pick<BenchRow, "model_type" | "model_size" | "model_n_params">,
  vocabSize: number,
): Promise<BenchRow[]> {
  const cacheTypes = plan.cacheTypes.map(llamaCacheType).filter((t) => t !== undefined);
  if (cacheTypes.length === 0) return [];
  const scriptPath = join(NODE_LLAMA_CPP_DIR, "flashmla_bench_runner.mjs");
  try {
    Deno.statSync(join(NODE_LLAMA_CPP_DIR, "node_modules", "node-llama-cpp"));
  } catch {
    throw new Error(
      `node-llama-cpp is not installed in ${NODE_LLAMA_CPP_DIR}: run ` +
        `npm install --prefix ${NODE_LLAMA_CPP_DIR} node-llama-cpp@${toolchain["node-llama-cpp"]}`,
    );
  }
  Deno.writeTextFileSync(scriptPath, NODE_SCRIPT);
  const config = {
    // The node process runs in .cache/node-llama-cpp: a relative path must be made absolute.
    model: resolve(modelPath),
    vocabSize,
    threads: plan.threads,
    cacheTypes,
    tests: plan.tests,
    repetitions: plan.repetitions,
    warmup: plan.warmup,
    batchSize: plan.batchSize,
    ctxLen: contextLengthFor(plan.tests),
  };
  const out = await new Deno.Command("node", {
    args: [scriptPath, JSON.stringify(config)],
    cwd: NODE_LLAMA_CPP_DIR,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`node-llama-cpp bench failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
  const results: {
    test: { nPrompt: number; nGen: number; depth: number };
    threads: number;
    typeK: string;
    samples: number[];
  }[] = JSON.parse(stdout.trim().split("\n").at(-1)!);
  return results.map((r) =>
    rowFromSamples({
      build_commit: `node-llama-cpp@${toolchain["node-llama-cpp"]}`,
      cpu_info: cpuInfo(),
      backends: "CPU",
      model_filename: modelPath,
      ...template,
      n_batch: plan.batchSize,
      n_threads: r.threads,
      type_k: r.typeK.toLowerCase(),
      type_v: r.typeK.toLowerCase(),
      flash_attn: true,
      n_prompt: r.test.nPrompt,
      n_gen: r.test.nGen,
      n_depth: r.test.depth,
      test_time: new Date().toISOString(),
      attn: "-",
      fill: "prefill",
      engine: "llama.cpp",
      repack: false,
    }, r.samples)
  );
}

/**
 * Ratio lines: for every test and thread count, each of our configurations against
 * llama.cpp's row with the same cache type.
 *
 * @param rows Ours and llama.cpp's.
 * @returns Markdown lines.
 */
export function ratioTable(rows: readonly BenchRow[]): string {
  const lines = [
    "| test | threads | type_k | attn | rtr | ours t/s | llama.cpp t/s | ratio |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const ours of rows.filter((r) => r.engine !== "llama.cpp")) {
    const theirs = rows.find((r) =>
      r.engine === "llama.cpp" && testName(r) === testName(ours) &&
      r.n_threads === ours.n_threads && r.type_k === ours.type_k
    );
    if (theirs === undefined) continue;
    lines.push(
      `| ${testName(ours)} | ${ours.n_threads} | ${ours.type_k} | ${ours.attn} | ` +
        `${ours.repack ? 1 : 0} | ` +
        `${ours.avg_ts.toFixed(2)} | ${theirs.avg_ts.toFixed(2)} | ` +
        `${(ours.avg_ts / theirs.avg_ts).toFixed(2)}× |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main && (Deno.args.includes("--help") || Deno.args.includes("-h"))) {
  console.log(
    "deno run -A bench/llama_cpp_bench.ts <bench flags>: runs every bench test with flashmla-deno\n" +
      "and with llama.cpp (node-llama-cpp, dev only), then prints both and a ratio table.\n\n" +
      benchCommand.usage,
  );
} else if (import.meta.main) {
  const parsed = parseBenchArgs(Deno.args);
  const rows: BenchRow[] = [];
  for (const path of parsed.models) {
    let template: Pick<BenchRow, "model_type" | "model_size" | "model_n_params"> | undefined;
    let vocabSize = 0;
    for (const repack of parsed.repack) {
      // Our model is closed before llama.cpp loads the same file: never two copies in memory.
      using model = await openModel(path, { repack });
      const env = {
        modelFilename: path,
        buildCommit: buildCommit(root),
        cpuInfo: cpuInfo(),
        repack,
      };
      const ours = await runBench(
        model,
        parsed.plan,
        env,
        (row) =>
          console.error(
            `ours ${testName(row)} ${row.attn} ${row.type_k} rtr=${repack ? 1 : 0}: ` +
              `${row.avg_ts.toFixed(2)} t/s`,
          ),
      );
      rows.push(...ours);
      template = {
        model_type: modelType(model),
        model_size: model.info.fileBytes,
        model_n_params: model.info.paramCount,
      };
      vocabSize = model.info.vocabSize;
    }
    rows.push(...await runLlamaCppBench(path, parsed.plan, template!, vocabSize));
  }
  console.log(formatRows(rows, parsed.output));
  console.log(ratioTable(rows));
  if (parsed.plot !== undefined) {
    Deno.writeTextFileSync(parsed.plot, plotDepthSvg(rows));
    console.error(`Wrote ${parsed.plot}`);
  }
}
