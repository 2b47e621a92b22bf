/**
 * Mean and standard deviation as llama-bench computes them, so our `avg_ts ± stddev_ts`
 * compare directly with its numbers.
 * @module
 */

/**
 * Arithmetic mean; 0 for an empty list (llama-bench's convention).
 *
 * @param values Samples.
 * @returns The mean.
 *
 * @example
 * ```ts
 * import { mean } from "./stats.ts";
 * mean([1, 2, 3]); // 2
 * ```
 */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return 0;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/**
 * Sample standard deviation with Bessel's correction (divides by n − 1); 0 for fewer than two
 * samples, as in llama-bench. Computed around the mean (two-pass) rather than from the sum of
 * squares, which loses every digit when samples are large and close together (nanoseconds).
 *
 * @param values Samples.
 * @returns The standard deviation.
 *
 * @example
 * ```ts
 * import { stddev } from "./stats.ts";
 * stddev([2, 4, 4, 4, 5, 5, 7, 9]); // 2.138…
 * ```
 */
export function stddev(values: readonly number[]): number {
  if (values.length <= 1) return 0;
  const m = mean(values);
  let squares = 0;
  for (const v of values) squares += (v - m) * (v - m);
  return Math.sqrt(squares / (values.length - 1));
}
