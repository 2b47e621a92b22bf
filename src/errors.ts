/**
 * Typed errors of flashmla-deno. Every failure a user can cause (bad file, bad option, bad
 * input) surfaces as one of these, with a message that names the offending value.
 * @module
 */

/**
 * Base class of every error this package throws on purpose.
 *
 * @example
 * ```ts
 * import { FlashMlaError } from "./errors.ts";
 * try {
 *   throw new FlashMlaError("Something went wrong");
 * } catch (e) {
 *   if (e instanceof FlashMlaError) console.error(e.message);
 * }
 * ```
 */
export class FlashMlaError extends Error {
  /** Creates an error with a sentence-case message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A GGUF file is malformed or does not hold what was asked of it. `field`, `tensor` and
 * `offset` locate the problem where they are known.
 *
 * @example
 * ```ts
 * import { GgufError } from "./errors.ts";
 * const e = new GgufError("Magic is not GGUF", { field: "magic", offset: 0 });
 * console.log(e.field, e.offset);
 * ```
 */
export class GgufError extends FlashMlaError {
  /** The header field or metadata key at fault, if any. */
  readonly field?: string;
  /** The tensor at fault, if any. */
  readonly tensor?: string;
  /** Byte offset in the file where the problem was found, if known. */
  readonly offset?: number;
  /** Creates a GGUF error; location details are appended to the message. */
  constructor(
    message: string,
    where: { field?: string; tensor?: string; offset?: number } = {},
  ) {
    const parts = [];
    if (where.tensor !== undefined) parts.push(`tensor "${where.tensor}"`);
    if (where.field !== undefined) parts.push(`field "${where.field}"`);
    if (where.offset !== undefined) parts.push(`byte offset ${where.offset}`);
    super(parts.length > 0 ? `${message} (${parts.join(", ")})` : message);
    this.field = where.field;
    this.tensor = where.tensor;
    this.offset = where.offset;
  }
}

/**
 * The native library could not be found, built or loaded, or a native call failed.
 *
 * @example
 * ```ts
 * import { NativeError } from "./errors.ts";
 * const e = new NativeError("fm_pool_create failed", -2);
 * console.log(e.code);
 * ```
 */
export class NativeError extends FlashMlaError {
  /** The status code the native call returned, when there was one. */
  readonly code?: number;
  /** Creates a native-library error. */
  constructor(message: string, code?: number) {
    super(message);
    this.code = code;
  }
}

/**
 * An option or argument has a value outside what is allowed.
 *
 * @example
 * ```ts
 * import { OptionError } from "./errors.ts";
 * throw new OptionError('Option "threads" must be between 1 and 64, got 0');
 * ```
 */
export class OptionError extends FlashMlaError {}

/**
 * Generation would run past the context length and the caller did not ask to stop there.
 *
 * @example
 * ```ts
 * import { ContextOverflowError } from "./errors.ts";
 * const e = new ContextOverflowError("Prompt of 5000 tokens does not fit ctxLen 4096");
 * console.log(e.message);
 * ```
 */
export class ContextOverflowError extends FlashMlaError {}
