/**
 * How stable the machine-limit probes are: each probe is run for several rounds (each round is
 * already a best of many short repetitions), and the table shows the spread of the rounds, so a
 * reader can tell a real limit from a lucky or a disturbed run on this shared machine.
 *
 *   deno run -A bench/probes_table.ts [--rounds 5] [--threads 2] [--json bench/results/probes.json]
 * @module
 */
import { intFlag, parseBenchArgs } from "./bench_args.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import { measureFmaPeak, measureInt8Peak, measureReadBandwidth } from "../src/kernels/probes.ts";

/** One probe's rounds on one thread count. */
export interface ProbeSpread {
  /** Probe name with its unit. */
  probe: string;
  /** Threads that worked. */
  threads: number;
  /** Every round's figure, in measurement order. */
  rounds: number[];
}

const PROBES: { probe: string; run: (pool: ThreadPool, threads: number) => number }[] = [
  {
    probe: "DRAM read GB/s (best 32 MiB slice of 512 MiB)",
    run: (pool, threads) => measureReadBandwidth(pool, { threads }).gbPerSecond,
  },
  {
    probe: "f32 FMA GFLOP/s",
    run: (pool, threads) => measureFmaPeak(pool, { threads }).gopPerSecond,
  },
  {
    probe: "int8 vpmaddubsw GOP/s",
    run: (pool, threads) => measureInt8Peak(pool, { threads }).gopPerSecond,
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Runs every probe `rounds` times on 1..maxThreads threads, interleaved so a disturbance hits
 * different probes rather than all rounds of one.
 *
 * @param pool Threads to run on (its size is the largest thread count).
 * @param rounds Rounds per probe.
 * @returns One spread per probe and thread count.
 * @example
 * ```ts
 * import { ThreadPool } from "../src/thread_pool.ts";
 * using pool = new ThreadPool(1);
 * console.log(probeSpreads(pool, 2)[0].rounds);
 * ```
 */
export function probeSpreads(pool: ThreadPool, rounds: number): ProbeSpread[] {
  const spreads: ProbeSpread[] = [];
  for (let threads = 1; threads <= pool.threads; threads++) {
    for (const { probe } of PROBES) spreads.push({ probe, threads, rounds: [] });
  }
  for (let round = 0; round < rounds; round++) {
    for (const spread of spreads) {
      const { run } = PROBES.find((p) => p.probe === spread.probe)!;
      spread.rounds.push(run(pool, spread.threads));
    }
  }
  return spreads;
}

/**
 * The spreads as a markdown table: best, median and worst round, and worst/best.
 *
 * @param spreads Measurements.
 * @returns Markdown text.
 * @example
 * ```ts
 * console.log(spreadMarkdown([{ probe: "x", threads: 1, rounds: [1, 2] }]));
 * ```
 */
export function spreadMarkdown(spreads: ProbeSpread[]): string {
  const lines = [
    "| probe | threads | best | median | worst | worst / best |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const s of spreads) {
    const best = Math.max(...s.rounds);
    const worst = Math.min(...s.rounds);
    lines.push(
      `| ${s.probe} | ${s.threads} | ${best.toFixed(1)} | ${median(s.rounds).toFixed(1)} | ${
        worst.toFixed(1)
      } | ${(worst / best).toFixed(2)} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const usage =
    "Usage: deno run -A bench/probes_table.ts [--rounds 5] [--threads 2] [--json bench/results/probes.json]";
  const { values } = parseBenchArgs(usage, {
    options: {
      rounds: { type: "string", default: "5" },
      threads: { type: "string", default: "2" },
      json: { type: "string" },
    },
  });
  using pool = new ThreadPool(intFlag(usage, "threads", values.threads));
  const spreads = probeSpreads(pool, intFlag(usage, "rounds", values.rounds));
  console.log(spreadMarkdown(spreads));
  const load = Deno.loadavg();
  console.log(`\nLoad average during the run: ${load.map((l) => l.toFixed(2)).join(" ")}`);
  if (values.json) {
    await Deno.writeTextFile(
      values.json,
      JSON.stringify({ date: new Date(), loadavg: load, spreads }, null, 2),
    );
  }
}
