/**
 * Reproduces the shape of the published FlashMLA table: attention time per generated token for
 * all 27 layers of DeepSeek-V2-Lite at depths tg64@pp128 … tg64@pp16384, with the `heads` and
 * `kvsplit` strategies (and what `auto` picks), for f16 and q8_KV caches, next to the machine's
 * f32 FMA peak, int8 peak and read bandwidth measured in the same run.
 *
 * One distinct cache per layer, filled with synthetic rows written directly (no prefill needed to
 * time token generation at depth). For tg64@ppN the 64 generated tokens see N+1 … N+64 rows;
 * `sampleTokens` of them, evenly spaced, are timed and averaged.
 *
 * Run: `deno run -A bench/flash_mla_table.ts [--threads 2] [--samples 4] [--reps 2]
 * [--depths 128,1024,16384] [--types f16,q8_KV]`. Markdown goes to stdout, JSON to
 * bench/results/flash_mla_table.json.
 * @module
 */
import { failUsage, intFlag, parseBenchArgs } from "./bench_args.ts";
import { KV_CACHE_TYPES } from "../src/kv_cache.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import {
  type AttentionStrategy,
  flashMla,
  flashMlaScratchBytes,
  kvCacheRowBytes,
  type KvCacheType,
  MLA_K_DIM,
  MLA_V_DIM,
  writeKvRows,
} from "../src/kernels/flash_mla.ts";
import { measureFmaPeak, measureInt8Peak, measureReadBandwidth } from "../src/kernels/probes.ts";

/** Depths of the published table. */
export const TABLE_DEPTHS: readonly number[] = [128, 256, 512, 1024, 2048, 4096, 8192, 16384];
/** DeepSeek-V2-Lite: layers, heads, softmax scale. */
const LAYERS = 27;
const HEADS = 16;
const KQ_SCALE = 0.1147214;
const TG_TOKENS = 64;

/** Options of {@linkcode runAttentionDepthBench}. */
export interface AttentionDepthBenchOptions {
  /** Prompt depths (default {@linkcode TABLE_DEPTHS}). */
  depths?: readonly number[];
  /** Cache types (default f16 and q8_KV). */
  cacheTypes?: readonly KvCacheType[];
  /** Threads (default 2). */
  threads?: number;
  /** Generated tokens timed per depth, evenly spread over the 64 (default 4). */
  sampleTokens?: number;
  /** Repetitions per sampled token; per layer the fastest counts (default 3). */
  reps?: number;
  /** Skip the machine probes (their fields are then NaN). */
  skipProbes?: boolean;
  /** Called after each row. */
  onRow?: (row: AttentionDepthRow) => void;
}

/** Machine limits measured in the same run. */
export interface MachinePeaks {
  /** f32 multiply-adds per second (billions), all threads. */
  fmaGmacPerSecond: number;
  /** int8 (vpmaddubsw) multiply-adds per second (billions), all threads. */
  int8GmacPerSecond: number;
  /** Read bandwidth from DRAM, GB/s, all threads. */
  readGbPerSecond: number;
}

/** One row of the table: one cache type at one depth. */
export interface AttentionDepthRow {
  /** e.g. "tg64@pp4096". */
  label: string;
  /** Prompt depth. */
  depth: number;
  cacheType: KvCacheType;
  threads: number;
  /** Attention time per generated token, all layers, ms. */
  headsMs: number;
  kvsplitMs: number;
  autoMs: number;
  /** What `auto` ran at this depth. */
  autoStrategy: "heads" | "kvsplit";
  /** headsMs / kvsplitMs. */
  speedup: number;
  /** Cache bytes read per token / time, GB/s (kvsplit). */
  kvsplitGbPerSecond: number;
  /** Fraction of the machine's compute roofline reached (f16: f32 FMA peak; q8_KV: int8 peak
   * for K·q and P·V, both integer products). */
  kvsplitOfPeak: number;
  headsOfPeak: number;
  peaks: MachinePeaks;
}

/** Measures the probes the table is judged against. */
export function measureMachinePeaks(pool: ThreadPool): MachinePeaks {
  return {
    fmaGmacPerSecond: measureFmaPeak(pool).gmacPerSecond,
    int8GmacPerSecond: measureInt8Peak(pool).gmacPerSecond,
    readGbPerSecond: measureReadBandwidth(pool, { bytes: 256 * 1024 * 1024 }).gbPerSecond,
  };
}

/** Synthetic per-layer caches of one type, `capacity` rows each. */
function fillCaches(cacheType: KvCacheType, capacity: number): Uint8Array[] {
  // A pool of distinct random rows written at layer-dependent offsets: every layer's cache is its
  // own memory with realistic values; generating 27×16k×576 random floats in JS would dominate.
  const poolRows = 1024;
  const rows = new Float32Array(poolRows * MLA_K_DIM);
  let seed = 12345;
  for (let i = 0; i < rows.length; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    rows[i] = (seed / 2 ** 32) * 2 - 1;
  }
  const caches: Uint8Array[] = [];
  for (let layer = 0; layer < LAYERS; layer++) {
    const cache = new Uint8Array(capacity * kvCacheRowBytes(cacheType));
    for (let row = 0; row < capacity; row += poolRows) {
      const n = Math.min(poolRows, capacity - row);
      const start = (layer * 37) % (poolRows - n + 1);
      writeKvRows(cacheType, cache, row, rows.subarray(start * MLA_K_DIM, (start + n) * MLA_K_DIM));
    }
    caches.push(cache);
  }
  return caches;
}

/** The fraction of the compute roofline one token's attention reached. */
function ofPeak(cacheType: KvCacheType, nKvTotal: number, ms: number, peaks: MachinePeaks) {
  const kq = nKvTotal * HEADS * MLA_K_DIM;
  const pv = nKvTotal * HEADS * MLA_V_DIM;
  // q8_KV runs K·q as vpmaddubsw + vpmaddwd (32 multiply-adds per 2 multiply uops, what the
  // int8 probe measures) and P·V as vpmaddwd on i16 (16 per multiply uop): the same multiply-uop
  // rate, so the int8 peak bounds both.
  const peak = cacheType === "q8_KV" ? peaks.int8GmacPerSecond : peaks.fmaGmacPerSecond;
  const idealSeconds = (kq + pv) / (peak * 1e9);
  return idealSeconds / (ms / 1e3);
}

/**
 * Runs the table. Takes ~30-60 s at the defaults on 2 cores.
 *
 * @param options Depths, cache types, threads, sampling.
 * @returns One row per (cache type, depth).
 * @example
 * ```ts
 * import { formatAttentionDepthTable, runAttentionDepthBench } from "./flash_mla_table.ts";
 * const rows = await runAttentionDepthBench({ depths: [128, 1024], sampleTokens: 1, reps: 1 });
 * console.log(formatAttentionDepthTable(rows));
 * ```
 */
export async function runAttentionDepthBench(
  options: AttentionDepthBenchOptions = {},
): Promise<AttentionDepthRow[]> {
  const depths = options.depths ?? TABLE_DEPTHS;
  const cacheTypes = options.cacheTypes ?? ["f16", "q8_KV"];
  const threads = options.threads ?? 2;
  const samples = Math.max(1, Math.min(TG_TOKENS, options.sampleTokens ?? 4));
  const reps = Math.max(1, options.reps ?? 3);
  using pool = new ThreadPool(threads);
  const peaks: MachinePeaks = options.skipProbes
    ? { fmaGmacPerSecond: NaN, int8GmacPerSecond: NaN, readGbPerSecond: NaN }
    : measureMachinePeaks(pool);
  const queries = Array.from({ length: LAYERS }, (_, layer) => {
    const q = new Float32Array(HEADS * MLA_K_DIM);
    for (let i = 0; i < q.length; i++) q[i] = Math.sin(i * 0.7 + layer) * 0.8;
    return q;
  });
  const out = new Float32Array(HEADS * MLA_V_DIM);
  const rows: AttentionDepthRow[] = [];
  const capacity = Math.max(...depths) + TG_TOKENS;
  for (const cacheType of cacheTypes) {
    const caches = fillCaches(cacheType, capacity);
    const scratch = new Uint8Array(
      flashMlaScratchBytes({ cacheType, nTokens: 1, nHead: HEADS, threads }),
    );
    /** Runs one token's attention over all layers; writes each layer's time into `layerMs`. */
    const runToken = (nKv: number, strategy: AttentionStrategy, layerMs: Float64Array) => {
      let used: "heads" | "kvsplit" = "kvsplit";
      for (let layer = 0; layer < LAYERS; layer++) {
        const start = performance.now();
        used = flashMla(pool, {
          cacheType,
          cache: caches[layer],
          nKv,
          q: queries[layer],
          nHead: HEADS,
          kqScale: KQ_SCALE,
          strategy,
          out,
          scratch,
        }).strategy;
        layerMs[layer] = performance.now() - start;
      }
      return used;
    };
    const layerMs = new Float64Array(LAYERS);
    for (const depth of depths) {
      const best = { heads: 0, kvsplit: 0, auto: 0 };
      let autoStrategy: "heads" | "kvsplit" = "kvsplit";
      let nKvTotal = 0;
      for (let s = 0; s < samples; s++) {
        const nKv = depth + 1 + Math.floor((s * TG_TOKENS) / samples);
        nKvTotal += LAYERS * nKv;
        // Per layer, the fastest of the repetitions: on a shared machine a whole 27-layer token
        // rarely runs undisturbed, one layer's call often does. Every call still follows the 26
        // other layers' calls, so its cache comes from DRAM as in a real token.
        const fastestLayer = {
          heads: new Float64Array(LAYERS).fill(Infinity),
          kvsplit: new Float64Array(LAYERS).fill(Infinity),
          auto: new Float64Array(LAYERS).fill(Infinity),
        };
        // Strategies interleaved inside each repetition so machine noise hits them alike; short
        // tokens are repeated for at least ~60 ms.
        const started = performance.now();
        for (let r = 0; r < reps || (performance.now() - started < 60 && r < 200); r++) {
          for (const strategy of ["heads", "kvsplit", "auto"] as const) {
            const used = runToken(nKv, strategy, layerMs);
            for (let l = 0; l < LAYERS; l++) {
              fastestLayer[strategy][l] = Math.min(fastestLayer[strategy][l], layerMs[l]);
            }
            if (strategy === "auto") autoStrategy = used;
          }
        }
        const fastest = {
          heads: fastestLayer.heads.reduce((a, b) => a + b, 0),
          kvsplit: fastestLayer.kvsplit.reduce((a, b) => a + b, 0),
          auto: fastestLayer.auto.reduce((a, b) => a + b, 0),
        };
        best.heads += fastest.heads / samples;
        best.kvsplit += fastest.kvsplit / samples;
        best.auto += fastest.auto / samples;
      }
      const nKvPerToken = nKvTotal / samples;
      const row: AttentionDepthRow = {
        label: `tg${TG_TOKENS}@pp${depth}`,
        depth,
        cacheType,
        threads,
        headsMs: best.heads,
        kvsplitMs: best.kvsplit,
        autoMs: best.auto,
        autoStrategy,
        speedup: best.heads / best.kvsplit,
        kvsplitGbPerSecond: (nKvPerToken * kvCacheRowBytes(cacheType)) / (best.kvsplit * 1e6),
        kvsplitOfPeak: ofPeak(cacheType, nKvPerToken, best.kvsplit, peaks),
        headsOfPeak: ofPeak(cacheType, nKvPerToken, best.heads, peaks),
        peaks,
      };
      rows.push(row);
      options.onRow?.(row);
      // Let the event loop breathe between rows (progress output, Ctrl-C).
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }
  return rows;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : "n/a";
}

/**
 * The table as markdown: one line per depth and cache type, then the machine peaks.
 *
 * @param rows Rows from {@linkcode runAttentionDepthBench}.
 * @returns Markdown text.
 * @example
 * ```ts
 * import { formatAttentionDepthTable } from "./flash_mla_table.ts";
 * console.log(formatAttentionDepthTable([]));
 * ```
 */
export function formatAttentionDepthTable(rows: readonly AttentionDepthRow[]): string {
  const lines = [
    "| test | cache | heads ms/tok | kvsplit ms/tok | speedup | auto (picked) | auto vs best | kvsplit GB/s | kvsplit of peak | heads of peak |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const bestMs = Math.min(r.headsMs, r.kvsplitMs);
    lines.push(
      `| ${r.label} | ${r.cacheType} | ${r.headsMs.toFixed(2)} | ${r.kvsplitMs.toFixed(2)} | ` +
        `${r.speedup.toFixed(2)}× | ${r.autoMs.toFixed(2)} (${r.autoStrategy}) | ` +
        `${((r.autoMs / bestMs - 1) * 100).toFixed(1)}% | ${r.kvsplitGbPerSecond.toFixed(1)} | ` +
        `${pct(r.kvsplitOfPeak)} | ${pct(r.headsOfPeak)} |`,
    );
  }
  const p = rows[0]?.peaks;
  if (p) {
    lines.push(
      "",
      `Machine (${rows[0].threads} threads, same run): f32 FMA peak ${
        (2 * p.fmaGmacPerSecond).toFixed(1)
      } GFLOP/s, int8 peak ${(2 * p.int8GmacPerSecond).toFixed(1)} GOP/s, read bandwidth ${
        p.readGbPerSecond.toFixed(1)
      } GB/s. "of peak": f16 against the f32 FMA peak; q8_KV against the int8 peak (K·q in ` +
        `int8, P·V in i16 products: the same multiply-uop rate). Work per cache row per token: ` +
        `16 heads × (576 + 512) multiply-adds.`,
    );
    const f16 = new Map(rows.filter((r) => r.cacheType === "f16").map((r) => [r.depth, r]));
    const ratios = rows.filter((r) => r.cacheType === "q8_KV" && f16.has(r.depth)).map((r) =>
      `pp${r.depth} ${(f16.get(r.depth)!.kvsplitMs / r.kvsplitMs).toFixed(2)}×`
    );
    if (ratios.length > 0) lines.push("", `kvsplit q8_KV speedup over f16: ${ratios.join(", ")}.`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const usage = `Usage: deno run -A bench/flash_mla_table.ts [--threads 2] [--samples 4] [--reps 3]
  [--depths 128,1024,16384] [--types f16,q8_KV] [--out bench/results/flash_mla_table.json]`;
  const { values } = parseBenchArgs(usage, {
    options: {
      threads: { type: "string", default: "2" },
      samples: { type: "string", default: "4" },
      reps: { type: "string", default: "3" },
      depths: { type: "string" },
      types: { type: "string" },
      out: { type: "string", default: "bench/results/flash_mla_table.json" },
    },
  });
  const rows = await runAttentionDepthBench({
    threads: intFlag(usage, "threads", values.threads),
    sampleTokens: intFlag(usage, "samples", values.samples),
    reps: intFlag(usage, "reps", values.reps),
    depths: values.depths?.split(",").map((depth) => intFlag(usage, "depths", depth)),
    cacheTypes: values.types?.split(",").map((type) =>
      KV_CACHE_TYPES.includes(type as KvCacheType)
        ? type as KvCacheType
        : failUsage(usage, `unknown cache type "${type}" in --types (${KV_CACHE_TYPES.join(", ")})`)
    ),
    onRow: (r) =>
      console.error(
        `${r.label} ${r.cacheType}: heads ${r.headsMs.toFixed(2)} ms, kvsplit ${
          r.kvsplitMs.toFixed(2)
        } ms, auto ${r.autoMs.toFixed(2)} ms (${r.autoStrategy})`,
      ),
  });
  console.log(formatAttentionDepthTable(rows));
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(
    values.out,
    JSON.stringify({ date: new Date().toISOString(), rows }, null, 2) + "\n",
  );
  console.error(`JSON written to ${values.out}`);
}
