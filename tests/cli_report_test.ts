import assert from "node:assert/strict";
import { mean, stddev } from "../cli/bench/stats.ts";
import {
  type BenchConfig,
  type BenchRow,
  formatCsv,
  formatJson,
  formatJsonl,
  formatMarkdown,
  formatParams,
  formatSize,
  ROW_FIELDS,
  rowFromSamples,
  sizeClass,
  testName,
} from "../cli/bench/report.ts";
import { depthSeries, niceTicks, plotDepthSvg } from "../cli/plot.ts";

function config(overrides: Partial<BenchConfig> = {}): BenchConfig {
  return {
    build_commit: "abc1234",
    cpu_info: "Test CPU",
    backends: "CPU",
    model_filename: "/m/tiny.gguf",
    model_type: "deepseek2 50M Q8_0",
    model_size: 52_428_800,
    model_n_params: 50_000_000,
    n_batch: 512,
    n_threads: 2,
    type_k: "f16",
    type_v: "f16",
    flash_attn: true,
    n_prompt: 0,
    n_gen: 64,
    n_depth: 0,
    test_time: "2026-01-01T00:00:00.000Z",
    attn: "kvsplit",
    fill: "prefill",
    engine: "flashmla-deno",
    repack: true,
    ...overrides,
  };
}

Deno.test("stddev matches the float64 sample standard deviation", () => {
  const values = [2, 4, 4, 4, 5, 5, 7, 9];
  // Sum of squared deviations from the mean 5 is 32; 32 / 7 = 4.571428…
  assert.equal(mean(values), 5);
  assert.ok(Math.abs(stddev(values) - Math.sqrt(32 / 7)) < 1e-15);
  assert.equal(stddev([3]), 0);
  assert.equal(mean([]), 0);
  // Large close samples (nanoseconds) keep their digits: the sum-of-squares formula gives 0 or NaN.
  const ns = [1e12 + 1, 1e12 + 2, 1e12 + 3];
  assert.equal(stddev(ns), 1);
});

Deno.test("rowFromSamples turns nanoseconds into tokens per second per repetition", () => {
  const row = rowFromSamples(config({ n_gen: 64 }), [2e9, 4e9]);
  assert.deepEqual(row.samples_ts, [32, 16]);
  assert.equal(row.avg_ts, 24);
  assert.ok(Math.abs(row.stddev_ts - Math.sqrt(((32 - 24) ** 2 + (16 - 24) ** 2) / 1)) < 1e-12);
  assert.equal(row.avg_ns, 3e9);
  const pp = rowFromSamples(config({ n_prompt: 512, n_gen: 0 }), [1e9]);
  assert.equal(pp.avg_ts, 512);
  assert.equal(pp.stddev_ts, 0);
});

Deno.test("testName follows llama-bench labels with @pp depth", () => {
  assert.equal(testName({ n_prompt: 512, n_gen: 0, n_depth: 0 }), "pp512");
  assert.equal(testName({ n_prompt: 0, n_gen: 64, n_depth: 0 }), "tg64");
  assert.equal(testName({ n_prompt: 0, n_gen: 64, n_depth: 16384 }), "tg64@pp16384");
  assert.equal(testName({ n_prompt: 512, n_gen: 0, n_depth: 4096 }), "pp512@pp4096");
  assert.equal(testName({ n_prompt: 16, n_gen: 8, n_depth: 0 }), "pp16+tg8");
});

Deno.test("formatSize, formatParams and sizeClass read like llama-bench", () => {
  assert.equal(formatSize(8.5 * 1024 ** 3), "8.50 GiB");
  assert.equal(formatSize(50 * 1024 ** 2), "50.00 MiB");
  assert.equal(formatParams(15.71e9), "15.71 B");
  assert.equal(formatParams(53.2e6), "53.20 M");
  assert.equal(sizeClass(15.7e9), "16B");
  assert.equal(sizeClass(53.2e6), "53M");
});

Deno.test("formatMarkdown aligns columns and shows mean ± stddev", () => {
  const rows = [
    rowFromSamples(config({ n_prompt: 512, n_gen: 0 }), [1e9, 1e9]),
    rowFromSamples(config({ n_depth: 4096, fill: "synthetic" }), [2e9, 4e9]),
  ];
  const lines = formatMarkdown(rows).trimEnd().split("\n");
  assert.equal(lines.length, 4);
  assert.match(lines[0], /^\| model +\| +size \| +params \| engine .*\| +test \| +t\/s \|$/);
  assert.match(lines[1], /^\| -+ \| -+: \|/);
  assert.match(lines[2], /\| +pp512 \| +512\.00 ± 0\.00 \|$/);
  assert.match(lines[3], /\| synthetic \| +1 \| tg64@pp4096 \| +24\.00 ± 11\.31 \|$/);
  // Every line has the same width: the table is aligned.
  assert.equal(new Set(lines.map((l) => l.length)).size, 1);
});

Deno.test("formatJson and formatJsonl use llama-bench field names in order", () => {
  const rows = [rowFromSamples(config(), [1e9])];
  const parsed = JSON.parse(formatJson(rows));
  assert.deepEqual(Object.keys(parsed[0]), ROW_FIELDS);
  for (const field of ["n_prompt", "n_gen", "n_depth", "avg_ts", "stddev_ts", "n_threads"]) {
    assert.ok(field in parsed[0], field);
  }
  assert.equal(parsed[0].avg_ts, 64);
  const lines = formatJsonl(rows).trimEnd().split("\n");
  assert.equal(lines.length, 1);
  assert.equal(JSON.parse(lines[0]).attn, "kvsplit");
});

Deno.test("formatCsv quotes every value and escapes quotes", () => {
  const row = rowFromSamples(config({ cpu_info: 'CPU "X", 2 cores' }), [1e9, 2e9]);
  const [header, line] = formatCsv([row]).trimEnd().split("\n");
  assert.equal(header, ROW_FIELDS.join(","));
  assert.ok(line.includes('"CPU ""X"", 2 cores"'));
  assert.ok(line.includes('"64;32"'), line);
});

Deno.test("niceTicks covers the range with round steps", () => {
  assert.deepEqual(niceTicks(17, 4), [0, 5, 10, 15, 20]);
  assert.deepEqual(niceTicks(0.9, 3), [0, 0.5, 1]);
  const ticks = niceTicks(1234, 5);
  assert.ok(ticks[ticks.length - 1] >= 1234);
});

Deno.test("depthSeries makes one line per strategy and cache type, sorted by depth", () => {
  const rows: BenchRow[] = [];
  for (const attn of ["heads", "kvsplit"]) {
    for (const depth of [4096, 0]) {
      rows.push(rowFromSamples(config({ attn, n_depth: depth }), [1e9]));
    }
  }
  rows.push(rowFromSamples(config({ engine: "llama.cpp", attn: "-", n_depth: 0 }), [2e9]));
  const series = depthSeries(rows);
  assert.deepEqual(series.map((s) => s.label), [
    "flashmla-deno heads f16",
    "flashmla-deno kvsplit f16",
    "llama.cpp f16",
  ]);
  assert.deepEqual(series[0].points.map((p) => p.depth), [0, 4096]);
  assert.equal(series[2].reference, true);
});

Deno.test("plotDepthSvg draws a well-formed SVG with a panel per test kind", () => {
  const rows = [
    rowFromSamples(config({ n_depth: 0 }), [1e9, 1.1e9]),
    rowFromSamples(config({ n_depth: 8192, attn: "heads" }), [3e9]),
    rowFromSamples(config({ n_prompt: 512, n_gen: 0 }), [1e9]),
    rowFromSamples(config({ model_type: "a<b & c" }), [1e9]),
  ];
  const svg = plotDepthSvg(rows, { title: "x < y" });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.ok(svg.includes("Token generation (tg) vs depth"));
  assert.ok(svg.includes("Prompt processing (pp) vs depth"));
  assert.ok(svg.includes("x &lt; y"));
  assert.ok(!svg.includes("a<b"), "text is escaped");
  assert.equal((svg.match(/<polyline /g) ?? []).length, 4);
  // Every opened element is closed or self-closed: a crude well-formedness check.
  const opened = (svg.match(/<(text|svg|circle|title)[ >]/g) ?? []).length;
  const closed = (svg.match(/<\/(text|svg|circle|title)>/g) ?? []).length;
  assert.equal(opened, closed);
  assert.throws(() => plotDepthSvg([]), RangeError);
});

Deno.test("ratioTable pairs our rows with llama.cpp's by test, threads and cache type", async () => {
  const { ratioTable } = await import("../bench/llama_cpp_bench.ts");
  const rows = [
    rowFromSamples(config({ attn: "kvsplit", n_depth: 4096 }), [1e9]),
    rowFromSamples(config({ attn: "heads", n_depth: 4096 }), [2e9]),
    rowFromSamples(config({ type_k: "q8_KV", n_depth: 4096 }), [1e9]),
    rowFromSamples(config({ engine: "llama.cpp", attn: "-", n_depth: 4096 }), [4e9]),
  ];
  const lines = ratioTable(rows).split("\n");
  // Two of ours have a llama.cpp partner (f16); q8_KV has none in llama.cpp.
  assert.equal(lines.length, 4);
  assert.match(
    lines[2],
    /\| tg64@pp4096 \| 2 \| f16 \| kvsplit \| 1 \| 64\.00 \| 16\.00 \| 4\.00× \|/,
  );
  assert.match(lines[3], /\| heads \| 1 \| 32\.00 \| 16\.00 \| 2\.00× \|/);
});

Deno.test("depthSeries joins depth-0 points to lines of any fill, and splits lines by fill", () => {
  const same = [
    rowFromSamples(config({ n_depth: 0, fill: "prefill" }), [1e9]),
    rowFromSamples(config({ n_depth: 4096, fill: "synthetic" }), [2e9]),
  ];
  const one = depthSeries(same);
  assert.deepEqual(one.map((s) => [s.label, s.points.length]), [["flashmla-deno kvsplit f16", 2]]);
  const mixed = [...same, rowFromSamples(config({ n_depth: 4096, fill: "prefill" }), [3e9])];
  const two = depthSeries(mixed);
  assert.deepEqual(two.map((s) => [s.label, s.points.map((p) => p.depth)]), [
    ["flashmla-deno kvsplit f16 synthetic", [0, 4096]],
    ["flashmla-deno kvsplit f16 prefill", [0, 4096]],
  ]);
});
