/**
 * A one-line progress bar on stderr for model loading, synthesis and prefill. It draws only
 * when stderr is a terminal, so piped output and CI logs stay clean, and it redraws at most
 * every `minIntervalMs` so a per-token callback costs next to nothing.
 * @module
 */

/** Where a bar draws: by default `Deno.stderr`. Tests pass a fake terminal. */
export interface ProgressSink {
  /** Whether the sink is an interactive terminal (the bar draws only then). */
  isTerminal(): boolean;
  /** Writes bytes synchronously. */
  writeSync(bytes: Uint8Array): number;
}

/** Options of {@linkcode ProgressBar}. */
export interface ProgressOptions {
  /** Output; default `Deno.stderr`. */
  sink?: ProgressSink;
  /** Width of the bar in cells; default 30. */
  width?: number;
  /** Least time between two redraws; default 80 ms. */
  minIntervalMs?: number;
  /** Clock in milliseconds; default `performance.now`. */
  now?: () => number;
}

const encoder = new TextEncoder();
const CLEAR_LINE = "\r\x1b[2K";

/**
 * A progress bar: `label [██████········]  42% detail`, erased by `finish()`.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress.ts";
 * const bar = new ProgressBar("prefill");
 * for (let i = 1; i <= 10; i++) bar.update(i / 10, `${i}/10 tokens`);
 * bar.finish();
 * ```
 */
export class ProgressBar {
  /** Whether anything is drawn (stderr is a terminal). */
  readonly enabled: boolean;
  readonly #label: string;
  readonly #sink: ProgressSink;
  readonly #width: number;
  readonly #minIntervalMs: number;
  readonly #now: () => number;
  #lastDrawMs = -Infinity;
  #lastPercent = -1;
  #finished = false;

  /**
   * Creates a bar; nothing is drawn until the first `update`.
   *
   * @param label Text before the bar, e.g. `"loading"`.
   * @param options Sink, width, redraw interval, clock.
   */
  constructor(label: string, options: ProgressOptions = {}) {
    this.#label = label;
    this.#sink = options.sink ?? Deno.stderr;
    this.#width = Math.max(4, Math.min(200, options.width ?? 30));
    this.#minIntervalMs = options.minIntervalMs ?? 80;
    this.#now = options.now ?? (() => performance.now());
    let terminal = false;
    try {
      terminal = this.#sink.isTerminal();
    } catch {
      terminal = false;
    }
    this.enabled = terminal;
  }

  /**
   * Moves the bar to `fraction` (clamped to 0..1). Redraws only when the percentage changed
   * and the redraw interval passed, or at 100%.
   *
   * @param fraction Work done, 0..1.
   * @param detail Text after the percentage, e.g. `"384/512 tokens"`.
   */
  update(fraction: number, detail = ""): void {
    if (!this.enabled || this.#finished) return;
    const clamped = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
    const percent = Math.floor(clamped * 100);
    const nowMs = this.#now();
    const due = nowMs - this.#lastDrawMs >= this.#minIntervalMs;
    if (percent === this.#lastPercent || (!due && percent < 100)) return;
    this.#lastPercent = percent;
    this.#lastDrawMs = nowMs;
    this.#write(CLEAR_LINE + renderProgressLine(this.#label, clamped, this.#width, detail));
  }

  /** Erases the bar; later updates are ignored. Safe to call twice. */
  finish(): void {
    if (!this.enabled || this.#finished) return;
    this.#finished = true;
    if (this.#lastPercent >= 0) this.#write(CLEAR_LINE);
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    let written = 0;
    while (written < bytes.length) written += this.#sink.writeSync(bytes.subarray(written));
  }
}

/**
 * Renders one bar line without control characters: `label [████····]  50% detail`.
 *
 * @param label Text before the bar.
 * @param fraction Work done, 0..1.
 * @param width Bar width in cells.
 * @param detail Text after the percentage.
 * @returns The line.
 *
 * @example
 * ```ts
 * import { renderProgressLine } from "./progress.ts";
 * console.log(renderProgressLine("load", 0.5, 8)); // "load [████····]  50%"
 * ```
 */
export function renderProgressLine(
  label: string,
  fraction: number,
  width: number,
  detail = "",
): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  const bar = "█".repeat(filled) + "·".repeat(width - filled);
  const percent = String(Math.floor(fraction * 100)).padStart(3);
  return `${label} [${bar}] ${percent}%${detail ? ` ${detail}` : ""}`;
}

/**
 * A `(done, total)` callback drawing a bar, for APIs such as `evalLogits`' `onProgress`,
 * plus `finish` to erase it.
 *
 * @param label Text before the bar.
 * @param unit Unit after the counts, e.g. `"tokens"`.
 * @param options Bar options.
 * @returns The callback and a `finish` function.
 *
 * @example
 * ```ts
 * import { countProgress } from "./progress.ts";
 * const progress = countProgress("prefill", "tokens");
 * progress.onProgress(256, 512);
 * progress.finish();
 * ```
 */
export function countProgress(
  label: string,
  unit: string,
  options: ProgressOptions = {},
): { onProgress: (done: number, total: number) => void; finish: () => void } {
  const bar = new ProgressBar(label, options);
  return {
    onProgress: (done, total) =>
      bar.update(total > 0 ? done / total : 1, `${done}/${total} ${unit}`),
    finish: () => bar.finish(),
  };
}
