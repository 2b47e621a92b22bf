/**
 * An SVG chart of tokens per second against cache depth, one line per engine × attention
 * strategy × cache type (× threads when several were run), one panel for token generation and
 * one for prompt processing: the picture of a `bench -d 0,4096,16384 --attn heads,kvsplit`
 * run. Rows from llama.cpp measured in the same run are drawn dashed beside ours.
 * @module
 */
import { type BenchRow, testName } from "./bench/report.ts";

/** Options of {@linkcode plotDepthSvg}. */
export interface PlotOptions {
  /** Title above the panels; default the model type of the first row. */
  title?: string;
  /** Width of the image in pixels; default 760. */
  width?: number;
  /** Height of one panel in pixels; default 360. */
  panelHeight?: number;
}

/** One line of the chart. */
export interface PlotSeries {
  /** Legend text, e.g. "flashmla-deno kvsplit f16". */
  label: string;
  /** Whether it comes from llama.cpp (drawn dashed). */
  reference: boolean;
  /** Points sorted by depth: depth, mean t/s, stddev t/s. */
  points: { depth: number; ts: number; sd: number }[];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];

function escapeXml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/**
 * Groups rows of one panel (all generation rows, or all prompt rows) into series. The label
 * names only what varies between rows, so a run over strategies reads "kvsplit f16", not the
 * model and thread count repeated on every line.
 *
 * @param rows Rows of one test kind.
 * @returns Series in first-seen order.
 *
 * @example
 * ```ts
 * import { depthSeries } from "./plot.ts";
 * import type { BenchRow } from "./bench/report.ts";
 * declare const rows: BenchRow[];
 * for (const s of depthSeries(rows)) console.log(s.label, s.points.length);
 * ```
 */
export function depthSeries(rows: readonly BenchRow[]): PlotSeries[] {
  const varies = (pick: (row: BenchRow) => string, among = rows) =>
    new Set(among.map(pick)).size > 1;
  const parts: ((row: BenchRow) => string)[] = [(r) => r.engine];
  if (varies((r) => r.model_type)) parts.push((r) => r.model_type);
  parts.push((r) => (r.engine === "llama.cpp" ? "" : r.attn), (r) => r.type_k);
  if (varies((r) => String(r.n_threads))) parts.push((r) => `t${r.n_threads}`);
  if (varies((r) => testName({ ...r, n_depth: 0 }))) {
    parts.push((r) => testName({ ...r, n_depth: 0 }));
  }
  const base = (row: BenchRow) => parts.map((part) => part(row)).filter((s) => s !== "").join(" ");
  // How the depth was filled matters only above depth 0; a depth-0 point (no fill) belongs to
  // every line that shares the rest of its label.
  const deep = rows.filter((r) => r.n_depth > 0);
  const fillVaries = varies((r) => `${base(r)} ${r.fill}`, deep) &&
    new Set(deep.map((r) => `${base(r)} ${r.fill}`)).size > new Set(deep.map(base)).size;
  const label = (row: BenchRow) => (fillVaries ? `${base(row)} ${row.fill}` : base(row));
  const byLabel = new Map<string, PlotSeries>();
  const add = (name: string, row: BenchRow) => {
    let series = byLabel.get(name);
    if (series === undefined) {
      series = { label: name, reference: row.engine === "llama.cpp", points: [] };
      byLabel.set(name, series);
    }
    series.points.push({ depth: row.n_depth, ts: row.avg_ts, sd: row.stddev_ts });
  };
  for (const row of deep) add(label(row), row);
  for (const row of rows.filter((r) => r.n_depth === 0)) {
    const owners = [...byLabel.keys()].filter((name) =>
      fillVaries ? deep.some((r) => label(r) === name && base(r) === base(row)) : name === base(row)
    );
    if (owners.length === 0) owners.push(base(row));
    for (const name of owners) add(name, row);
  }
  for (const series of byLabel.values()) series.points.sort((a, b) => a.depth - b.depth);
  return [...byLabel.values()];
}

/**
 * Round tick values covering `[0, max]`: steps of 1, 2 or 5 × 10^k, about `count` of them.
 *
 * @param max Largest value to cover (> 0).
 * @param count Wanted number of intervals.
 * @returns Ticks from 0 up to at least `max`.
 *
 * @example
 * ```ts
 * import { niceTicks } from "./plot.ts";
 * niceTicks(17, 4); // [0, 5, 10, 15, 20]
 * ```
 */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = 0; v < max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks.length * step).toPrecision(12)));
  return ticks;
}

function tickLabel(value: number): string {
  if (value >= 1024 && value % 1024 === 0) return `${value / 1024}k`;
  // Ticks are multiples of 1, 2 or 5 × 10^k: the shortest decimal form is exact.
  return String(Number(value.toPrecision(6)));
}

function panel(
  title: string,
  series: PlotSeries[],
  box: { x: number; y: number; width: number; height: number },
): string[] {
  const legendWidth = 50 + 7 * Math.max(...series.map((s) => s.label.length));
  const left = box.x + 60, right = box.x + box.width - legendWidth;
  const top = box.y + 30, bottom = box.y + box.height - 45;
  const depths = series.flatMap((s) => s.points.map((p) => p.depth));
  const depthMax = Math.max(...depths);
  const tsMax = Math.max(...series.flatMap((s) => s.points.map((p) => p.ts + p.sd)));
  const yTicks = niceTicks(tsMax * 1.05, 5);
  const yTop = yTicks[yTicks.length - 1];
  // With one depth only, spread nothing: centre the points.
  const xOf = (depth: number) =>
    depthMax > 0 ? left + (depth / depthMax) * (right - left) : (left + right) / 2;
  const yOf = (ts: number) => bottom - (ts / yTop) * (bottom - top);
  const out: string[] = [];
  out.push(
    `<text x="${(left + right) / 2}" y="${box.y + 18}" text-anchor="middle" font-weight="bold">${
      escapeXml(title)
    }</text>`,
  );
  for (const tick of yTicks) {
    const y = yOf(tick).toFixed(1);
    out.push(`<line x1="${left}" y1="${y}" x2="${right}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dy="4">${tickLabel(tick)}</text>`);
  }
  for (const depth of [...new Set(depths)].sort((a, b) => a - b)) {
    const x = xOf(depth).toFixed(1);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 4}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle">${tickLabel(depth)}</text>`);
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" ` +
      `fill="none" stroke="#333"/>`,
  );
  out.push(
    `<text x="${(left + right) / 2}" y="${bottom + 34}" text-anchor="middle">` +
      `depth (tokens in the cache)</text>`,
  );
  out.push(
    `<text transform="translate(${box.x + 16} ${(top + bottom) / 2}) rotate(-90)" ` +
      `text-anchor="middle">tokens / s</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const dash = s.reference ? ` stroke-dasharray="6 4"` : "";
    const path = s.points.map((p) => `${xOf(p.depth).toFixed(1)},${yOf(p.ts).toFixed(1)}`);
    out.push(
      `<polyline points="${path.join(" ")}" fill="none" stroke="${color}" ` +
        `stroke-width="2"${dash}/>`,
    );
    for (const p of s.points) {
      const x = xOf(p.depth).toFixed(1);
      if (p.sd > 0) {
        out.push(
          `<line x1="${x}" y1="${yOf(p.ts - p.sd).toFixed(1)}" x2="${x}" ` +
            `y2="${yOf(p.ts + p.sd).toFixed(1)}" stroke="${color}"/>`,
        );
      }
      out.push(
        `<circle cx="${x}" cy="${yOf(p.ts).toFixed(1)}" r="3" fill="${color}">` +
          `<title>${escapeXml(s.label)} @${p.depth}: ${p.ts.toFixed(2)} ± ${
            p.sd.toFixed(2)
          } t/s</title></circle>`,
      );
    }
    const ly = top + 8 + i * 18;
    out.push(
      `<line x1="${right + 12}" y1="${ly}" x2="${right + 36}" y2="${ly}" ` +
        `stroke="${color}" stroke-width="2"${dash}/>`,
    );
    out.push(`<text x="${right + 42}" y="${ly}" dy="4">${escapeXml(s.label)}</text>`);
  });
  return out;
}

/**
 * Draws t/s against depth as a standalone SVG document: a token-generation panel and a
 * prompt-processing panel (each only when such rows exist), error bars at ± one stddev.
 *
 * @param rows Bench results (ours and llama.cpp's).
 * @param options Title and size.
 * @returns SVG text.
 * @throws {RangeError} When `rows` is empty.
 *
 * @example
 * ```ts
 * import { plotDepthSvg } from "./plot.ts";
 * import type { BenchRow } from "./bench/report.ts";
 * declare const rows: BenchRow[];
 * Deno.writeTextFileSync("depth.svg", plotDepthSvg(rows));
 * ```
 */
export function plotDepthSvg(rows: readonly BenchRow[], options: PlotOptions = {}): string {
  if (rows.length === 0) throw new RangeError("Cannot plot an empty set of bench rows");
  const longest = Math.max(...rows.map((r) => r.engine.length + r.attn.length + 40));
  const width = options.width ?? Math.max(760, 520 + 7 * longest);
  const panelHeight = options.panelHeight ?? 360;
  const title = options.title ?? rows[0].model_type;
  const panels: [string, BenchRow[]][] = [
    ["Token generation (tg) vs depth", rows.filter((r) => r.n_gen > 0 && r.n_prompt === 0)],
    ["Prompt processing (pp) vs depth", rows.filter((r) => r.n_prompt > 0)],
  ];
  const shown = panels.filter(([, group]) => group.length > 0);
  const height = 40 + shown.length * panelHeight;
  const body: string[] = [];
  shown.forEach(([name, group], i) => {
    body.push(...panel(name, depthSeries(group), {
      x: 0,
      y: 40 + i * panelHeight,
      width,
      height: panelHeight,
    }));
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${
      escapeXml(title)
    }</text>`,
    ...body,
    `</svg>`,
    "",
  ].join("\n");
}
