/**
 * llama-bench-compatible result rows and their markdown, JSON, JSONL and CSV renderings.
 * Field names are llama-bench's (`n_prompt`, `n_gen`, `n_depth`, `avg_ts`, …) so tools that
 * read llama-bench output read ours; `attn`, `fill` and `engine` are our additions.
 * @module
 */
import { mean, stddev } from "./stats.ts";

/** How the cache was filled to `n_depth` before the timed part. */
export type FillMode = "prefill" | "synthetic";

/** One benchmark result, one test at one configuration. */
export interface BenchRow {
  /** Short git commit of this checkout, or "unknown". */
  build_commit: string;
  /** CPU model name from /proc/cpuinfo. */
  cpu_info: string;
  /** Always "CPU" here. */
  backends: string;
  /** Path of the GGUF file. */
  model_filename: string;
  /** Architecture, size class and weight type, e.g. "deepseek2 16B IQ4_NL". */
  model_type: string;
  /** File size in bytes. */
  model_size: number;
  /** Parameter count. */
  model_n_params: number;
  /** Prompt batch size. */
  n_batch: number;
  /** Threads. */
  n_threads: number;
  /** KV cache type. */
  type_k: string;
  /** MLA keeps one cache; V is its first 512 columns, so this equals `type_k`. */
  type_v: string;
  /** FlashMLA is always on. */
  flash_attn: boolean;
  /** Prompt tokens processed in the timed part (0 for a generation test). */
  n_prompt: number;
  /** Tokens generated one at a time in the timed part (0 for a prompt test). */
  n_gen: number;
  /** Tokens already in the cache when the timed part starts. */
  n_depth: number;
  /** ISO time the test started. */
  test_time: string;
  /** Mean nanoseconds per repetition. */
  avg_ns: number;
  /** Standard deviation of `samples_ns`. */
  stddev_ns: number;
  /** Mean tokens per second over repetitions. */
  avg_ts: number;
  /** Standard deviation of `samples_ts`. */
  stddev_ts: number;
  /** Nanoseconds of each repetition. */
  samples_ns: number[];
  /** Tokens per second of each repetition. */
  samples_ts: number[];
  /** Attention strategy asked for: auto, heads or kvsplit (ours). */
  attn: string;
  /** How the depth was filled (ours); "prefill" when `n_depth` is 0. */
  fill: FillMode;
  /** Which engine ran the test: "flashmla-deno" or "llama.cpp" (ours). */
  engine: string;
  /** Whether weights were repacked at load (ik_llama.cpp's `-rtr`; false for llama.cpp). */
  repack: boolean;
}

/** Fields of a row that describe the configuration, everything but the timings. */
export type BenchConfig = Omit<
  BenchRow,
  "avg_ns" | "stddev_ns" | "avg_ts" | "stddev_ts" | "samples_ns" | "samples_ts"
>;

/** Output formats of `bench -o`. */
export const OUTPUT_FORMATS = ["md", "json", "jsonl", "csv"] as const;
/** One of {@linkcode OUTPUT_FORMATS}. */
export type OutputFormat = typeof OUTPUT_FORMATS[number];

/**
 * Completes a row from its configuration and per-repetition durations: tokens per second of
 * each repetition is `(n_prompt + n_gen) / seconds`, then mean ± sample stddev of both.
 *
 * @param config Everything but the timings.
 * @param samplesNs Nanoseconds of each timed repetition.
 * @returns The row.
 *
 * @example
 * ```ts
 * import { rowFromSamples, type BenchConfig } from "./report.ts";
 * declare const config: BenchConfig;
 * const row = rowFromSamples(config, [1e9, 1.1e9]);
 * console.log(row.avg_ts);
 * ```
 */
export function rowFromSamples(config: BenchConfig, samplesNs: readonly number[]): BenchRow {
  const tokens = config.n_prompt + config.n_gen;
  const samplesTs = samplesNs.map((ns) => (ns > 0 ? tokens * 1e9 / ns : 0));
  return {
    ...config,
    avg_ns: Math.round(mean(samplesNs)),
    stddev_ns: Math.round(stddev(samplesNs)),
    avg_ts: mean(samplesTs),
    stddev_ts: stddev(samplesTs),
    samples_ns: samplesNs.map(Math.round),
    samples_ts: samplesTs,
  };
}

/**
 * llama-bench's test label: `pp512`, `tg64`, and for a test at depth `tg64@pp16384`.
 *
 * @param row A row (or its configuration).
 * @returns The label.
 *
 * @example
 * ```ts
 * import { testName } from "./report.ts";
 * testName({ n_prompt: 0, n_gen: 64, n_depth: 16384 }); // "tg64@pp16384"
 * ```
 */
export function testName(row: Pick<BenchRow, "n_prompt" | "n_gen" | "n_depth">): string {
  let name: string;
  if (row.n_prompt > 0 && row.n_gen === 0) name = `pp${row.n_prompt}`;
  else if (row.n_gen > 0 && row.n_prompt === 0) name = `tg${row.n_gen}`;
  else name = `pp${row.n_prompt}+tg${row.n_gen}`;
  return row.n_depth > 0 ? `${name}@pp${row.n_depth}` : name;
}

/**
 * Bytes as llama-bench shows a model size: `8.22 GiB` or `45.10 MiB`.
 *
 * @param bytes Size in bytes.
 * @returns The label.
 *
 * @example
 * ```ts
 * import { formatSize } from "./report.ts";
 * formatSize(8.82e9); // "8.21 GiB"
 * ```
 */
export function formatSize(bytes: number): string {
  const gib = 1024 ** 3;
  return bytes >= gib ? `${(bytes / gib).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(2)} MiB`;
}

/**
 * A parameter count as llama-bench shows it: `15.71 B` or `53.20 M`.
 *
 * @param count Parameters.
 * @returns The label.
 *
 * @example
 * ```ts
 * import { formatParams } from "./report.ts";
 * formatParams(15.7e9); // "15.70 B"
 * ```
 */
export function formatParams(count: number): string {
  return count >= 1e9 ? `${(count / 1e9).toFixed(2)} B` : `${(count / 1e6).toFixed(2)} M`;
}

/**
 * A size class label from a parameter count, like llama.cpp's model type: `16B`, `50M`.
 *
 * @param count Parameters.
 * @returns The label.
 *
 * @example
 * ```ts
 * import { sizeClass } from "./report.ts";
 * sizeClass(15.7e9); // "16B"
 * ```
 */
export function sizeClass(count: number): string {
  if (count >= 1e9) return `${Math.round(count / 1e9)}B`;
  if (count >= 1e6) return `${Math.round(count / 1e6)}M`;
  return `${Math.round(count / 1e3)}K`;
}

const MD_COLUMNS: { title: string; right: boolean; cell: (row: BenchRow) => string }[] = [
  { title: "model", right: false, cell: (r) => r.model_type },
  { title: "size", right: true, cell: (r) => formatSize(r.model_size) },
  { title: "params", right: true, cell: (r) => formatParams(r.model_n_params) },
  { title: "engine", right: false, cell: (r) => r.engine },
  { title: "threads", right: true, cell: (r) => String(r.n_threads) },
  { title: "type_k", right: true, cell: (r) => r.type_k },
  { title: "attn", right: true, cell: (r) => r.attn },
  { title: "fill", right: true, cell: (r) => (r.n_depth > 0 ? r.fill : "-") },
  {
    title: "rtr",
    right: true,
    cell: (r) => (r.engine === "llama.cpp" ? "-" : r.repack ? "1" : "0"),
  },
  { title: "test", right: true, cell: (r) => testName(r) },
  {
    title: "t/s",
    right: true,
    cell: (r) => `${r.avg_ts.toFixed(2)} ± ${r.stddev_ts.toFixed(2)}`,
  },
];

/**
 * A markdown table in llama-bench's layout (model, size, params, …, test, t/s as
 * `mean ± stddev`), plus our engine, attn and fill columns.
 *
 * @param rows Results.
 * @returns The table, one line per row, ending with a newline.
 *
 * @example
 * ```ts
 * import { formatMarkdown, type BenchRow } from "./report.ts";
 * declare const rows: BenchRow[];
 * console.log(formatMarkdown(rows));
 * ```
 */
export function formatMarkdown(rows: readonly BenchRow[]): string {
  const cells = rows.map((row) => MD_COLUMNS.map((column) => column.cell(row)));
  const widths = MD_COLUMNS.map((column, i) =>
    Math.max(column.title.length, ...cells.map((line) => line[i].length))
  );
  const pad = (text: string, i: number) =>
    MD_COLUMNS[i].right ? text.padStart(widths[i]) : text.padEnd(widths[i]);
  const line = (items: string[]) => `| ${items.map(pad).join(" | ")} |`;
  const rule = `| ${
    widths.map((w, i) => (MD_COLUMNS[i].right ? "-".repeat(w - 1) + ":" : "-".repeat(w))).join(
      " | ",
    )
  } |`;
  return [line(MD_COLUMNS.map((c) => c.title)), rule, ...cells.map(line)].join("\n") + "\n";
}

/** Field order of JSON and CSV output (llama-bench's order, then ours). */
export const ROW_FIELDS: readonly (keyof BenchRow)[] = [
  "build_commit",
  "cpu_info",
  "backends",
  "model_filename",
  "model_type",
  "model_size",
  "model_n_params",
  "n_batch",
  "n_threads",
  "type_k",
  "type_v",
  "flash_attn",
  "n_prompt",
  "n_gen",
  "n_depth",
  "test_time",
  "avg_ns",
  "stddev_ns",
  "avg_ts",
  "stddev_ts",
  "samples_ns",
  "samples_ts",
  "attn",
  "fill",
  "engine",
  "repack",
];

function ordered(row: BenchRow): Record<string, unknown> {
  return Object.fromEntries(ROW_FIELDS.map((field) => [field, row[field]]));
}

/**
 * A JSON array of rows with llama-bench's field names, pretty-printed.
 *
 * @param rows Results.
 * @returns JSON text ending with a newline.
 *
 * @example
 * ```ts
 * import { formatJson, type BenchRow } from "./report.ts";
 * declare const rows: BenchRow[];
 * const parsed = JSON.parse(formatJson(rows));
 * ```
 */
export function formatJson(rows: readonly BenchRow[]): string {
  return JSON.stringify(rows.map(ordered), null, 2) + "\n";
}

/**
 * One JSON object per line (llama-bench's `-o jsonl`).
 *
 * @param rows Results.
 * @returns JSONL text.
 *
 * @example
 * ```ts
 * import { formatJsonl, type BenchRow } from "./report.ts";
 * declare const rows: BenchRow[];
 * console.log(formatJsonl(rows));
 * ```
 */
export function formatJsonl(rows: readonly BenchRow[]): string {
  return rows.map((row) => JSON.stringify(ordered(row)) + "\n").join("");
}

function csvCell(value: unknown): string {
  const text = Array.isArray(value) ? value.join(";") : String(value);
  return `"${text.replaceAll('"', '""')}"`;
}

/**
 * CSV with a header line of llama-bench's field names; every value quoted, sample lists
 * joined with `;`.
 *
 * @param rows Results.
 * @returns CSV text.
 *
 * @example
 * ```ts
 * import { formatCsv, type BenchRow } from "./report.ts";
 * declare const rows: BenchRow[];
 * console.log(formatCsv(rows));
 * ```
 */
export function formatCsv(rows: readonly BenchRow[]): string {
  const header = ROW_FIELDS.join(",");
  const lines = rows.map((row) => ROW_FIELDS.map((field) => csvCell(row[field])).join(","));
  return [header, ...lines].join("\n") + "\n";
}

/**
 * Renders rows in one of {@linkcode OUTPUT_FORMATS}.
 *
 * @param rows Results.
 * @param format md, json, jsonl or csv.
 * @returns The text.
 *
 * @example
 * ```ts
 * import { formatRows, type BenchRow } from "./report.ts";
 * declare const rows: BenchRow[];
 * console.log(formatRows(rows, "csv"));
 * ```
 */
export function formatRows(rows: readonly BenchRow[], format: OutputFormat): string {
  switch (format) {
    case "md":
      return formatMarkdown(rows);
    case "json":
      return formatJson(rows);
    case "jsonl":
      return formatJsonl(rows);
    case "csv":
      return formatCsv(rows);
  }
}
