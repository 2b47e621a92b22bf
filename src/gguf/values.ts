/**
 * GGUF metadata values: the 13 value types of the format, the typed value objects the reader
 * returns and the writer takes, and small constructors for them.
 * @module
 */

/** GGUF value type ids as stored in files (ggml `enum gguf_type`). */
export const GgufValueType = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

/** Name of a GGUF value type, e.g. `"u32"`. */
export type GgufValueTypeName = keyof typeof GgufValueType;

/** The value types that hold a JavaScript `number`. */
export type GgufNumberTypeName = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";

/** The value types that hold a JavaScript `bigint` (64-bit integers). */
export type GgufBigIntTypeName = "u64" | "i64";

/** A scalar metadata value. */
export type GgufScalarValue =
  | { readonly type: GgufNumberTypeName; readonly value: number }
  | { readonly type: GgufBigIntTypeName; readonly value: bigint }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string };

/**
 * An array metadata value. `value` holds numbers, bigints, booleans, strings or (for nested
 * arrays) further array values, according to `itemType`. The reader decodes `value` lazily on
 * first access, so a 102400-token vocabulary costs nothing until it is read.
 */
export type GgufArrayValue =
  | {
    readonly type: "array";
    readonly itemType: GgufNumberTypeName;
    readonly value: readonly number[];
  }
  | {
    readonly type: "array";
    readonly itemType: GgufBigIntTypeName;
    readonly value: readonly bigint[];
  }
  | { readonly type: "array"; readonly itemType: "bool"; readonly value: readonly boolean[] }
  | { readonly type: "array"; readonly itemType: "string"; readonly value: readonly string[] }
  | {
    readonly type: "array";
    readonly itemType: "array";
    readonly value: readonly GgufArrayValue[];
  };

/** Any GGUF metadata value. */
export type GgufValue = GgufScalarValue | GgufArrayValue;

const TYPE_NAMES: readonly GgufValueTypeName[] = Object.keys(GgufValueType) as GgufValueTypeName[];

/**
 * The name of a value type id, or `undefined` for an id the format does not define.
 *
 * @param id A GGUF value type id (0..12).
 * @returns The type's name.
 *
 * @example
 * ```ts
 * import { ggufValueTypeName } from "./values.ts";
 * console.log(ggufValueTypeName(8)); // "string"
 * ```
 */
export function ggufValueTypeName(id: number): GgufValueTypeName | undefined {
  return Number.isInteger(id) && id >= 0 && id < TYPE_NAMES.length ? TYPE_NAMES[id] : undefined;
}

/** Bytes of one scalar of each fixed-size type (strings and arrays are variable). */
export const GGUF_SCALAR_BYTES: Readonly<Record<GgufValueTypeName, number>> = {
  u8: 1,
  i8: 1,
  u16: 2,
  i16: 2,
  u32: 4,
  i32: 4,
  f32: 4,
  bool: 1,
  string: 8, // at least the u64 length
  array: 12, // at least the item type and the u64 count
  u64: 8,
  i64: 8,
  f64: 8,
};

/**
 * A short description of a value for messages and `info`: `u32 27`, `string "gpt2"`,
 * `array<string>[102400]`.
 *
 * @param v A metadata value.
 * @returns One line of text.
 *
 * @example
 * ```ts
 * import { describeGgufValue, gguf } from "./values.ts";
 * console.log(describeGgufValue(gguf.u32(27))); // "u32 27"
 * ```
 */
export function describeGgufValue(v: GgufValue): string {
  if (v.type === "array") return `array<${v.itemType}>[${v.value.length}]`;
  if (v.type === "string") {
    const text = v.value.length > 60 ? `${v.value.slice(0, 57)}...` : v.value;
    return `string ${JSON.stringify(text)}`;
  }
  return `${v.type} ${v.value}`;
}

/**
 * Constructors of typed metadata values, for writing files.
 *
 * @example
 * ```ts
 * import { gguf } from "./values.ts";
 * const metadata = new Map([
 *   ["general.architecture", gguf.string("deepseek2")],
 *   ["deepseek2.block_count", gguf.u32(27)],
 *   ["tokenizer.ggml.merges", gguf.strings(["a b"])],
 * ]);
 * console.log(metadata.size);
 * ```
 */
export const gguf = {
  /** An unsigned 8-bit value. */
  u8: (value: number): GgufValue => ({ type: "u8", value }),
  /** A signed 8-bit value. */
  i8: (value: number): GgufValue => ({ type: "i8", value }),
  /** An unsigned 16-bit value. */
  u16: (value: number): GgufValue => ({ type: "u16", value }),
  /** A signed 16-bit value. */
  i16: (value: number): GgufValue => ({ type: "i16", value }),
  /** An unsigned 32-bit value. */
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  /** A signed 32-bit value. */
  i32: (value: number): GgufValue => ({ type: "i32", value }),
  /** A 32-bit float. */
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  /** A 64-bit float. */
  f64: (value: number): GgufValue => ({ type: "f64", value }),
  /** An unsigned 64-bit value. */
  u64: (value: bigint | number): GgufValue => ({ type: "u64", value: BigInt(value) }),
  /** A signed 64-bit value. */
  i64: (value: bigint | number): GgufValue => ({ type: "i64", value: BigInt(value) }),
  /** A boolean. */
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  /** A UTF-8 string. */
  string: (value: string): GgufValue => ({ type: "string", value }),
  /** An array of strings. */
  strings: (value: readonly string[]): GgufValue => ({
    type: "array",
    itemType: "string",
    value,
  }),
  /** An array of numbers of one numeric type. */
  numbers: (itemType: GgufNumberTypeName, value: readonly number[]): GgufValue => ({
    type: "array",
    itemType,
    value,
  }),
} as const;
