/**
 * Prints markdown tables of GEMV speed per weight type on DeepSeek-V2-Lite shapes: GB/s of
 * weights streamed from DRAM (each measurement cycles through > 256 MiB of distinct copies) as a
 * fraction of the read bandwidth measured in the same run, plus an L3-resident figure.
 *
 *     deno run -A bench/gemv_table.ts [--types IQ4_NL,Q8_0] [--shapes ffn,expert] [--threads 2]
 *       [--no-gemv] [--no-moe] [--no-moe-prefill] [--no-gemm]
 *
 * --types selects the GEMV and GEMM rows alike.
 * @module
 */
import process from "node:process";
import { failUsage, intFlag, parseBenchArgs, positiveFlag } from "./bench_args.ts";
import { GgmlType, type GgmlTypeId } from "../src/ggml_types.ts";
import { matmul, matmulScratchBytes } from "../src/kernels/matmul.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import {
  DRAM_SET_BYTES,
  fits,
  fmaPeakGflops,
  int8PeakGmacs,
  readBandwidthGBs,
  SHAPES,
  weightSet,
} from "./gemv_common.ts";
import { moeFfn, moeScratchBytes } from "../src/kernels/moe.ts";
import { measureFmaPeak, measureInt8Peak, measureReadBandwidthOf } from "../src/kernels/probes.ts";
import {
  activationFormat,
  kernelType,
  kernelTypeByName,
  kernelTypeName,
  weightRowBytes,
} from "../src/kernels/quants.ts";
import { randomWeight, rng } from "../tests/quants_helpers.ts";

const USAGE = `Usage: deno run -A bench/gemv_table.ts [--types IQ4_NL,Q8_0] [--shapes ffn,expert]
  [--threads 2] [--seconds 0.25] [--no-gemv] [--no-moe] [--no-moe-prefill] [--no-gemm]`;
const { values } = parseBenchArgs(USAGE, {
  allowNegative: true,
  options: {
    types: {
      type: "string",
      default: "IQ4_NL,IQ4_NL_X4,IQ4_NL_R8,Q4_0,Q4_0_X4,Q4_0_R8,Q4_K,Q4_K_R8,Q8_0,Q8_0_R8,F16",
    },
    shapes: { type: "string", default: "" },
    threads: { type: "string", default: "2" },
    seconds: { type: "string", default: "0.25" },
    moe: { type: "boolean", default: true },
    "moe-prefill": { type: "boolean", default: true },
    gemm: { type: "boolean", default: true },
    gemv: { type: "boolean", default: true },
  },
});
const types = values.types.split(",").map((name) => {
  const id = kernelTypeByName(name);
  if (id === undefined) failUsage(USAGE, `unknown type "${name}" in --types`);
  return id as GgmlTypeId;
});
const shapeFilter = values.shapes ? values.shapes.split(",") : [];
const shapes = SHAPES.filter((s) =>
  shapeFilter.length === 0 || shapeFilter.some((f) => s.name.includes(f))
);
const threads = intFlag(USAGE, "threads", values.threads);
const seconds = positiveFlag(USAGE, "seconds", values.seconds);

/**
 * GB/s of weight bytes for GEMVs cycling through `copies` matrices for ~`seconds`: the best single
 * call (comparable with the probe, which also keeps its best repetition, and robust to other
 * processes on this shared machine) and the median call. Around the GEMVs, the read probe sums
 * the very same copies, one matrix per repetition in the same order (`probeBefore`,
 * `probeAfter`): this VM's bandwidth drifts over minutes (38 to 65 GB/s on 2 threads within one
 * hour), so a fraction is only meaningful against a probe taken on the same pages at the same
 * moment.
 */
function measure(
  pool: ThreadPool,
  type: GgmlTypeId,
  k: number,
  n: number,
  setBytes: number,
  withProbes = true,
) {
  const { buffer, matrixBytes, copies } = weightSet(type, k, n, setBytes);
  const x = Float32Array.from({ length: k }, (_, i) => Math.sin(i));
  const y = new Float32Array(n);
  const scratch = new Uint8Array(matmulScratchBytes(type, k, 1));
  const run = (i: number) =>
    matmul(pool, {
      type,
      weight: buffer.subarray((i % copies) * matrixBytes, (i % copies + 1) * matrixBytes),
      k,
      n,
      x,
      y,
      scratch,
    });
  for (let i = 0; i < copies; i++) run(i); // warm: page in every copy
  const probe = () =>
    measureReadBandwidthOf(pool, buffer, { threads, sliceBytes: matrixBytes, reps: 2 * copies })
      .gbPerSecond;
  const probeBefore = withProbes ? probe() : NaN;
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; performance.now() - start < seconds * 1000 || times.length < 5; i++) {
    const t0 = performance.now();
    run(i);
    times.push(performance.now() - t0);
  }
  const probeAfter = withProbes ? probe() : NaN;
  const paired = withProbes ? pairedRatio(pool, buffer, matrixBytes, copies, run) : NaN;
  times.sort((a, b) => a - b);
  const gbs = (ms: number) => matrixBytes / ms / 1e6;
  return {
    best: gbs(times[0]),
    median: gbs(times[times.length >> 1]),
    probeBefore,
    probeAfter,
    paired,
  };
}

/**
 * GEMV speed over probe speed, call by call: this host's bandwidth flips between two states
 * (~35 and ~60 GB/s on 2 threads) within a second, so a probe taken before or after a GEMV window
 * can land in the other state. Here a one-copy probe read and a GEMV over the next copy alternate
 * (both timed the same way, wall clock around the call), and the median of the per-pair ratios
 * is the GEMV's fraction of the bandwidth of its moment.
 */
function pairedRatio(
  pool: ThreadPool,
  buffer: Uint8Array,
  matrixBytes: number,
  copies: number,
  run: (i: number) => void,
): number {
  const ratios: number[] = [];
  const start = performance.now();
  for (let i = 0; performance.now() - start < seconds * 1000 || ratios.length < 9; i += 2) {
    const copy = buffer.subarray((i % copies) * matrixBytes, (i % copies + 1) * matrixBytes);
    const t0 = performance.now();
    measureReadBandwidthOf(pool, copy, { threads, reps: 1 });
    const t1 = performance.now();
    run(i + 1);
    ratios.push((t1 - t0) / (performance.now() - t1));
  }
  ratios.sort((a, b) => a - b);
  return ratios[ratios.length >> 1];
}

/**
 * Kernel speed free of the other processes on this shared machine: a 1-thread pool cycles
 * through a few L3-resident copies and the process CPU time (user + system, which excludes time
 * the thread waited for a core) is the denominator: weight GB per CPU-second of one core.
 */
function cpuTimeGBs(type: GgmlTypeId, k: number, n: number): number {
  const { buffer, matrixBytes, copies } = weightSet(type, k, n, 8 * 2 ** 20);
  const x = Float32Array.from({ length: k }, (_, i) => Math.sin(i));
  const y = new Float32Array(n);
  const scratch = new Uint8Array(matmulScratchBytes(type, k, 1));
  let best = 0;
  for (let rep = 0; rep < 5; rep++) {
    const before = process.cpuUsage();
    const calls = Math.max(3, Math.ceil(2e7 / matrixBytes));
    for (let i = 0; i < calls; i++) {
      const copy = i % copies;
      matmul(pool1, {
        type,
        weight: buffer.subarray(copy * matrixBytes, (copy + 1) * matrixBytes),
        k,
        n,
        x,
        y,
        scratch,
      });
    }
    const used = process.cpuUsage(before);
    best = Math.max(best, (calls * matrixBytes) / ((used.user + used.system) * 1e3));
  }
  return best;
}

const pool = new ThreadPool(threads);
const pool1 = new ThreadPool(1);
const bandwidth = readBandwidthGBs(pool, threads);
console.log(`\nRead bandwidth probe, ${threads} thread(s): ${bandwidth.toFixed(2)} GB/s\n`);
console.log(
  "The probe columns read the GEMV's own weight copies right before and after it; % of probe is",
);
console.log("the best GEMV call over the mean of the two (the run-wide probe above is context).");
console.log(
  "Paired % is the median, over alternating one-copy probe reads and GEMV calls, of probe time",
);
console.log("over GEMV time: the fraction of the bandwidth of the same moment.\n");
console.log(
  `| type | shape | MB | DRAM GB/s best call | probe GB/s before / after | % of probe | paired % | DRAM GB/s median | L3 GB/s best call | 1 thread, GB per CPU-s |`,
);
console.log(`|---|---|---|---|---|---|---|---|---|---|`);
for (const type of values.gemv ? types : []) {
  const info = kernelType(type);
  const name = kernelTypeName(type);
  for (const shape of shapes) {
    if (!fits(type, shape.k)) continue;
    const dram = measure(pool, type, shape.k, shape.n, DRAM_SET_BYTES);
    const hot = shape.n > 20000
      ? undefined
      : measure(pool, type, shape.k, shape.n, 8 * 2 ** 20, false);
    const cpu = shape.n > 20000 ? undefined : cpuTimeGBs(type, shape.k, shape.n);
    const matrixMb = (info.blockBytes / info.blockElements) * shape.k * shape.n / 1e6;
    console.log(
      `| ${name} | ${shape.name} | ${matrixMb.toFixed(1)} | ${dram.best.toFixed(2)} | ${
        dram.probeBefore.toFixed(1)
      } / ${dram.probeAfter.toFixed(1)} | ${
        (200 * dram.best / (dram.probeBefore + dram.probeAfter)).toFixed(0)
      }% | ${(100 * dram.paired).toFixed(0)}% | ${dram.median.toFixed(2)} | ${
        hot ? hot.best.toFixed(2) : "—"
      } | ${cpu ? cpu.toFixed(2) : "—"} |`,
    );
  }
}
if (values.moe) moeSection();
if (values["moe-prefill"]) moePrefillSection();
if (values.gemm) gemmSection();
const after = readBandwidthGBs(pool, threads);
console.log(`\nRead bandwidth probe again after the runs: ${after.toFixed(2)} GB/s`);
pool.close();
pool1.close();
void GgmlType;

/**
 * One V2-Lite token through the MoE FFN: 6 of 64 routed experts (n_ff 1408) then the 2 shared
 * experts (one n_ff 2816 FFN, run as a single always-chosen expert, accumulated). Each step picks
 * a different expert set, and one copy of the 64 experts is > 256 MiB for 4-bit types, so the
 * weights come from DRAM.
 */
function moeSection(): void {
  const nEmbd = 2048;
  const nFf = 1408;
  const nExpert = 64;
  console.log(
    `\n| MoE step (1 token, 6+2 experts) | weights MB/token | ms/token | GB/s | % of probe | 1 thread CPU-ms | GB per CPU-s |`,
  );
  console.log(`|---|---|---|---|---|---|---|`);
  // Repacked layouts by name: random bytes are as valid for timing in any layout.
  const moeTypes = ["IQ4_NL", "IQ4_NL_X4", "IQ4_NL_R8", "Q4_0", "Q4_0_R8"];
  for (const type of moeTypes.map((n) => kernelTypeByName(n)!) as GgmlTypeId[]) {
    const name = kernelTypeName(type);
    const expertBytes = weightRowBytes(type, nEmbd) * nFf;
    const one = randomWeight(type, nEmbd, nFf, rng(type));
    const tensor = () => {
      const all = new Uint8Array(expertBytes * nExpert);
      for (let e = 0; e < nExpert; e++) all.set(one, e * expertBytes);
      return all;
    };
    const gate = tensor();
    const up = tensor();
    const down = tensor(); // down rows are 1408 long: same bytes per expert for 32-block types
    const sharedGate = randomWeight(type, nEmbd, 2 * nFf, rng(1));
    const sharedDown = randomWeight(type, 2 * nFf, nEmbd, rng(2));
    const shape = { gateType: type, upType: type, downType: type, nEmbd, nFf, nExpert };
    const sharedShape = { ...shape, nFf: 2 * nFf, nExpert: 1 };
    if (!fits(type, nFf)) {
      console.log(`| ${name} | — (n_ff 1408 is not a multiple of 256) | | | |`);
      continue;
    }
    const x = Float32Array.from({ length: nEmbd }, (_, i) => Math.cos(i));
    const y = new Float32Array(nEmbd);
    const scratch = new Uint8Array(
      Math.max(moeScratchBytes(shape, 1, 6), moeScratchBytes(sharedShape, 1, 1)),
    );
    const weights = Float32Array.of(0.3, 0.2, 0.15, 0.1, 0.1, 0.05);
    const ids = new Int32Array(6);
    const step = (i: number, on: ThreadPool = pool) => {
      for (let j = 0; j < 6; j++) ids[j] = (i * 7 + j * 11) % nExpert;
      moeFfn(on, { ...shape, gate, up, down, ids, weights, x, kUsed: 6, y, scratch });
      moeFfn(on, {
        ...sharedShape,
        gate: sharedGate,
        up: sharedGate,
        down: sharedDown,
        ids: Int32Array.of(0),
        weights: Float32Array.of(1),
        x,
        kUsed: 1,
        y,
        accumulate: true,
        scratch,
      });
    };
    for (let i = 0; i < 10; i++) step(i);
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const start = performance.now();
      const steps = 20;
      for (let i = 0; i < steps; i++) step(100 + rep * steps + i);
      best = Math.min(best, (performance.now() - start) / steps);
    }
    const bytes = 6 * 3 * expertBytes + 3 * sharedGate.byteLength;
    const gbs = bytes / best / 1e6;
    // One thread, CPU time: what the kernels cost, free of the machine's other load.
    let cpuMs = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const before = process.cpuUsage();
      for (let i = 0; i < 10; i++) step(500 + rep * 10 + i, pool1);
      const used = process.cpuUsage(before);
      cpuMs = Math.min(cpuMs, (used.user + used.system) / 1e4);
    }
    console.log(
      `| ${name} | ${(bytes / 1e6).toFixed(1)} | ${best.toFixed(2)} | ${gbs.toFixed(2)} | ${
        (100 * gbs / bandwidth).toFixed(0)
      }% | ${cpuMs.toFixed(2)} | ${(bytes / cpuMs / 1e6).toFixed(2)} |`,
    );
  }
}

/**
 * The routed experts of one V2-Lite layer for a 512-token prefill batch: 6 of 64 experts per
 * token (about 48 tokens per expert), so phases 2 and 4 of moe.zig run the GEMM tile kernels.
 * GOP/s counts 2 operations per multiply-add of the gate, up and down products, against the
 * int8 peak measured in the same run.
 */
function moePrefillSection(): void {
  const nEmbd = 2048;
  const nFf = 1408;
  const nExpert = 64;
  const t = 512;
  const kUsed = 6;
  const int8 = 2 * int8PeakGmacs(pool, threads);
  const int8One = 2 * int8PeakGmacs(pool1, 1);
  console.log(
    `\n| MoE prefill t=512 (6 of 64 experts) | ms (${threads} thr) | GOP/s | % of int8 peak | 1 thread CPU-ms | % of 1-thread peak |`,
  );
  console.log(`|---|---|---|---|---|---|`);
  for (
    const type of ["IQ4_NL_R8", "Q4_0_R8", "Q8_0", "Q8_0_R8"].map((n) =>
      kernelTypeByName(n)!
    ) as GgmlTypeId[]
  ) {
    const random = rng(type + 7);
    const gate = randomWeight(type, nEmbd, nFf * nExpert, random);
    const up = randomWeight(type, nEmbd, nFf * nExpert, random);
    const down = randomWeight(type, nFf, nEmbd * nExpert, random);
    const shape = { gateType: type, upType: type, downType: type, nEmbd, nFf, nExpert };
    const ids = new Int32Array(t * kUsed);
    for (let tok = 0; tok < t; tok++) {
      const first = Math.floor(random.uniform() * nExpert);
      for (let j = 0; j < kUsed; j++) ids[tok * kUsed + j] = (first + j * 11) % nExpert;
    }
    const weights = new Float32Array(t * kUsed).fill(1 / kUsed);
    const x = Float32Array.from({ length: t * nEmbd }, (_, i) => Math.sin(i * 0.37));
    const y = new Float32Array(t * nEmbd);
    const scratch = new Uint8Array(moeScratchBytes(shape, t, kUsed));
    const run = (on: ThreadPool) =>
      moeFfn(on, { ...shape, gate, up, down, ids, weights, x, kUsed, y, scratch });
    run(pool);
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const start = performance.now();
      run(pool);
      best = Math.min(best, performance.now() - start);
    }
    let cpuMs = Infinity;
    for (let rep = 0; rep < 2; rep++) {
      const before = process.cpuUsage();
      run(pool1);
      const used = process.cpuUsage(before);
      cpuMs = Math.min(cpuMs, (used.user + used.system) / 1e3);
    }
    const ops = 2 * 3 * nEmbd * nFf * t * kUsed;
    const gops = ops / best / 1e6;
    const gopsOne = ops / cpuMs / 1e6;
    console.log(
      `| ${kernelTypeName(type)} | ${best.toFixed(1)} | ${gops.toFixed(1)} | ${
        (100 * gops / int8).toFixed(0)
      }% | ${cpuMs.toFixed(1)} | ${(100 * gopsOne / int8One).toFixed(0)}% |`,
    );
  }
}

/** GEMM for a 512-token batch: GFLOP/s (2 per multiply-add) beside the measured peaks. */
/**
 * A GEMM's fraction of the compute peak of the same moment: a short peak probe (3 × ~1 ms) and
 * one call alternate 7 times, and the median of the per-pair ratios counts. This host's compute
 * speed drifts too (the 1-thread int8 probe read 146 and 184 GOP/s minutes apart), so a peak
 * measured once per run can belong to another state than the GEMM it divides.
 */
function pairedPeakRatio(
  p: ThreadPool,
  nThreads: number,
  float: boolean,
  ops: number,
  call: () => void,
): number {
  const ratios: number[] = [];
  for (let i = 0; i < 7; i++) {
    const options = { threads: nThreads, reps: 3, iterations: 200_000 };
    const peakGops = float
      ? measureFmaPeak(p, options).gopPerSecond
      : measureInt8Peak(p, options).gopPerSecond;
    const start = performance.now();
    call();
    ratios.push(ops / (performance.now() - start) / 1e6 / peakGops);
  }
  ratios.sort((a, b) => a - b);
  return ratios[ratios.length >> 1];
}

function gemmSection(): void {
  const t = 512;
  const int8 = 2 * int8PeakGmacs(pool, threads);
  const fma = fmaPeakGflops(pool, threads);
  console.log(
    `\nPeaks, ${threads} thread(s): int8 ${int8.toFixed(0)} GOP/s (vpmaddubsw), f32 FMA ${
      fma.toFixed(0)
    } GFLOP/s\n`,
  );
  const int8One = 2 * int8PeakGmacs(pool1, 1);
  const fmaOne = fmaPeakGflops(pool1, 1);
  console.log(
    "Paired % alternates a short peak probe with one GEMM call, 7 times, and keeps the median",
  );
  console.log("ratio: the fraction of the peak of the same moment (this host's speed drifts).\n");
  console.log(
    `| GEMM t=512 | shape | ms (${threads} thr) | GFLOP/s | % of peak | paired % | 1 thread GOP per CPU-s | % of 1-thread peak | 1 thread paired % |`,
  );
  console.log(`|---|---|---|---|---|---|---|---|---|`);
  // The --types list (default: every file type and repacked layout the model may use).
  for (const type of types) {
    for (const shape of SHAPES.filter((s) => s.name.match(/attn_q|expert_up/))) {
      if (!fits(type, shape.k)) continue;
      const weight = randomWeight(type, shape.k, shape.n, rng(5));
      const x = Float32Array.from({ length: t * shape.k }, (_, i) => Math.sin(i * 0.37));
      const y = new Float32Array(t * shape.n);
      const scratch = new Uint8Array(matmulScratchBytes(type, shape.k, t));
      matmul(pool, { type, weight, k: shape.k, n: shape.n, x, y, scratch });
      let best = Infinity;
      for (let rep = 0; rep < 3; rep++) {
        const start = performance.now();
        matmul(pool, { type, weight, k: shape.k, n: shape.n, x, y, scratch });
        best = Math.min(best, performance.now() - start);
      }
      const gflops = (2 * shape.k * shape.n * t) / best / 1e6;
      // One thread, CPU time: the kernel's own speed whatever else runs on the machine.
      let cpuBest = Infinity;
      for (let rep = 0; rep < 2; rep++) {
        const before = process.cpuUsage();
        matmul(pool1, { type, weight, k: shape.k, n: shape.n, x, y, scratch });
        const used = process.cpuUsage(before);
        cpuBest = Math.min(cpuBest, (used.user + used.system) / 1e3);
      }
      const cpuGflops = (2 * shape.k * shape.n * t) / cpuBest / 1e6;
      const float = activationFormat(type) === "f32";
      const peak = float ? fma : int8;
      const peakOne = float ? fmaOne : int8One;
      const ops = 2 * shape.k * shape.n * t;
      const paired = (p: ThreadPool, n: number) =>
        pairedPeakRatio(
          p,
          n,
          float,
          ops,
          () => matmul(p, { type, weight, k: shape.k, n: shape.n, x, y, scratch }),
        );
      console.log(
        `| ${kernelTypeName(type)} | ${shape.name} | ${best.toFixed(1)} | ${gflops.toFixed(1)} | ${
          (100 * gflops / peak).toFixed(0)
        }% | ${(100 * paired(pool, threads)).toFixed(0)}% | ${cpuGflops.toFixed(1)} | ${
          (100 * cpuGflops / peakOne).toFixed(0)
        }% | ${(100 * paired(pool1, 1)).toFixed(0)}% |`,
      );
    }
  }
}
