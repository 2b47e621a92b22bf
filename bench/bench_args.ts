/**
 * Command-line parsing for the bench scripts: `--help` prints the script's usage; an unknown
 * flag or a bad value prints what is wrong and the usage, and exits with status 2, where
 * `parseArgs` alone would end in a stack trace.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Prints `message` and `usage` to stderr and exits with status 2. */
export function failUsage(usage: string, message: string): never {
  console.error(`error: ${message}\n\n${usage}`);
  Deno.exit(2);
}

/** `parseArgs(config)` over Deno.args, with `--help` and the errors handled as above. */
export function parseBenchArgs<T extends ParseArgsConfig>(
  usage: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(usage);
    Deno.exit(0);
  }
  try {
    return parseArgs(config); // args default to the script's, as Deno.args
  } catch (error) {
    failUsage(usage, error instanceof Error ? error.message : String(error));
  }
}

/** The integer value of flag `name`, at least `min`; anything else fails with the usage. */
export function intFlag(usage: string, name: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    failUsage(usage, `--${name} wants an integer ≥ ${min}, got "${value}"`);
  }
  return n;
}

/** The number value of flag `name`, greater than 0; anything else fails with the usage. */
export function positiveFlag(usage: string, name: string, value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n)) {
    failUsage(usage, `--${name} wants a number > 0, got "${value}"`);
  }
  return n;
}
