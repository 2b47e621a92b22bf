/**
 * This machine's limits as one markdown table: DRAM read bandwidth (best short slice and one
 * sustained pass), an L3-resident read figure, the f32 FMA peak and the int8 (vpmaddubsw) peak,
 * per thread count. Other benches import `measureMachine` to state their figures as fractions of
 * limits measured in the same run.
 *
 *   deno run -A bench/machine_table.ts [--threads 2] [--json bench/results/machine.json]
 * @module
 */
import { intFlag, parseBenchArgs } from "./bench_args.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import { measureFmaPeak, measureInt8Peak, measureReadBandwidth } from "../src/kernels/probes.ts";

const MiB = 1 << 20;

/** The limits measured on one thread count. */
export interface MachineLimits {
  /** Threads that worked. */
  threads: number;
  /** DRAM read, best 32 MiB slice of a 512 MiB buffer, GB/s. */
  readGbPerSecond: number;
  /** DRAM read, best whole 512 MiB pass (sustained; lower on a shared machine), GB/s. */
  readSustainedGbPerSecond: number;
  /** Read of an 8 MiB buffer that stays in L2/L3, GB/s. */
  readCachedGbPerSecond: number;
  /** f32 FMA peak, GFLOP/s (2 per multiply-add). */
  fmaGflopPerSecond: number;
  /** int8 u8×i8 peak, GOP/s (2 per multiply-add). */
  int8GopPerSecond: number;
}

/**
 * Measures every limit on `threads` threads of `pool` (about 2-3 s).
 *
 * @param pool Threads to run on.
 * @param threads How many of them work; default all.
 * @returns The limits.
 * @example
 * ```ts
 * import { ThreadPool } from "../src/thread_pool.ts";
 * using pool = new ThreadPool(2);
 * console.log(measureMachine(pool).readGbPerSecond);
 * ```
 */
export function measureMachine(pool: ThreadPool, threads = pool.threads): MachineLimits {
  return {
    threads,
    readGbPerSecond: measureReadBandwidth(pool, { threads }).gbPerSecond,
    readSustainedGbPerSecond: measureReadBandwidth(pool, {
      threads,
      bytes: 512 * MiB,
      slices: 1,
      reps: 3,
    }).gbPerSecond,
    readCachedGbPerSecond: measureReadBandwidth(pool, {
      threads,
      bytes: 8 * MiB,
      slices: 1,
      reps: 50,
    }).gbPerSecond,
    fmaGflopPerSecond: measureFmaPeak(pool, { threads }).gopPerSecond,
    int8GopPerSecond: measureInt8Peak(pool, { threads }).gopPerSecond,
  };
}

/**
 * The limits as a markdown table, one row per thread count.
 *
 * @param rows Measurements.
 * @returns Markdown text.
 * @example
 * ```ts
 * import { ThreadPool } from "../src/thread_pool.ts";
 * using pool = new ThreadPool(1);
 * console.log(machineMarkdown([measureMachine(pool)]));
 * ```
 */
export function machineMarkdown(rows: MachineLimits[]): string {
  const lines = [
    "| threads | DRAM read GB/s (best 32 MiB slice) | DRAM read GB/s (512 MiB pass) | L2/L3 read GB/s (8 MiB) | f32 FMA GFLOP/s | int8 GOP/s |",
    "|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.threads} | ${r.readGbPerSecond.toFixed(1)} | ${
        r.readSustainedGbPerSecond.toFixed(1)
      } | ${r.readCachedGbPerSecond.toFixed(1)} | ${r.fmaGflopPerSecond.toFixed(1)} | ${
        r.int8GopPerSecond.toFixed(1)
      } |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const usage =
    "Usage: deno run -A bench/machine_table.ts [--threads 2] [--json bench/results/machine.json]";
  const { values } = parseBenchArgs(usage, {
    options: { threads: { type: "string", default: "2" }, json: { type: "string" } },
  });
  const maxThreads = intFlag(usage, "threads", values.threads);
  using pool = new ThreadPool(maxThreads);
  const rows: MachineLimits[] = [];
  for (let threads = 1; threads <= maxThreads; threads++) rows.push(measureMachine(pool, threads));
  console.log(machineMarkdown(rows));
  console.log(
    "\nGFLOP/s and GOP/s count 2 operations per multiply-add; best of many short repetitions.",
  );
  const loadavg = Deno.loadavg();
  console.log(`Load average during the run: ${loadavg.map((l) => l.toFixed(2)).join(" ")}`);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ date: new Date(), loadavg, rows }, null, 2),
    );
  }
}
