/**
 * Shared command-line plumbing: flag parsing that turns every mistake into a `UsageError`
 * (exit code 2) and the shape every command module exports.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A mistake on the command line: unknown flag, bad value, missing argument. Exit code 2. */
export class UsageError extends Error {
  /** Creates a usage error with a message naming the flag or value. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What every `cli/commands/*.ts` module exports. */
export interface Command {
  /** One line for `flashmla --help`. */
  summary: string;
  /** Full `--help` text. */
  usage: string;
  /** Runs the command with its arguments (after the command name); returns the exit code. */
  run(args: string[]): Promise<number>;
}

/**
 * `parseArgs` in strict mode with errors rethrown as `UsageError`.
 *
 * @param args The command's arguments.
 * @param options parseArgs option declarations.
 * @param allowPositionals Whether positional arguments are allowed.
 * @returns The parsed values and positionals.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  allowPositionals = false,
): {
  values: ReturnType<typeof parseArgs<{ options: T; allowPositionals: boolean }>>["values"];
  positionals: string[];
} {
  try {
    const parsed = parseArgs({ args, options, allowPositionals, strict: true });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Parses an integer flag value within `[min, max]`, naming the flag when it is not.
 *
 * @param flag The flag, e.g. `"-n"`, for the message.
 * @param value The raw value (undefined returns `fallback`).
 * @param fallback Value when the flag is absent.
 * @param min Smallest allowed value.
 * @param max Largest allowed value.
 * @returns The integer.
 */
export function intFlag(
  flag: string,
  value: string | undefined,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/**
 * Parses a number flag value within `[min, max]`.
 *
 * @param flag The flag for the message.
 * @param value The raw value (undefined returns `fallback`).
 * @param fallback Value when the flag is absent.
 * @param min Smallest allowed value.
 * @param max Largest allowed value.
 * @returns The number.
 */
export function numberFlag(
  flag: string,
  value: string | undefined,
  fallback: number,
  min = -Infinity,
  max = Infinity,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/**
 * Checks that a value is one of `choices`.
 *
 * @param flag The flag for the message.
 * @param value The raw value (undefined returns `fallback`).
 * @param choices The allowed values.
 * @param fallback Value when the flag is absent.
 * @returns The value.
 */
export function choiceFlag<C extends string>(
  flag: string,
  value: string | undefined,
  choices: readonly C[],
  fallback: C,
): C {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${flag} must be one of ${choices.join(", ")}, got "${value}"`);
  }
  return value as C;
}
