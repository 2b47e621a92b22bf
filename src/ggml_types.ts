/**
 * The ggml tensor types this project reads, writes and computes with: ids as in GGUF files,
 * block geometry and byte sizes (see ../shared/docs/MLA_SPEC.md §3 and §4).
 * @module
 */

/** ggml type ids, as stored in GGUF tensor infos. */
export const GgmlType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ4_NL: 20,
  IQ4_XS: 23,
  BF16: 30,
} as const;

/** A ggml type id known to this project. */
export type GgmlTypeId = typeof GgmlType[keyof typeof GgmlType];

/** A ggml type's name, e.g. `"IQ4_NL"`. */
export type GgmlTypeName = keyof typeof GgmlType;

/** Geometry of one ggml type. */
export interface GgmlTypeInfo {
  /** Type id. */
  readonly id: GgmlTypeId;
  /** Name as llama.cpp prints it. */
  readonly name: GgmlTypeName;
  /** Elements per block (1 for float types). */
  readonly blockElements: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

const INFOS: readonly GgmlTypeInfo[] = [
  { id: 0, name: "F32", blockElements: 1, blockBytes: 4 },
  { id: 1, name: "F16", blockElements: 1, blockBytes: 2 },
  { id: 2, name: "Q4_0", blockElements: 32, blockBytes: 18 },
  { id: 3, name: "Q4_1", blockElements: 32, blockBytes: 20 },
  { id: 6, name: "Q5_0", blockElements: 32, blockBytes: 22 },
  { id: 7, name: "Q5_1", blockElements: 32, blockBytes: 24 },
  { id: 8, name: "Q8_0", blockElements: 32, blockBytes: 34 },
  { id: 12, name: "Q4_K", blockElements: 256, blockBytes: 144 },
  { id: 13, name: "Q5_K", blockElements: 256, blockBytes: 176 },
  { id: 14, name: "Q6_K", blockElements: 256, blockBytes: 210 },
  { id: 15, name: "Q8_K", blockElements: 256, blockBytes: 292 },
  { id: 20, name: "IQ4_NL", blockElements: 32, blockBytes: 18 },
  { id: 23, name: "IQ4_XS", blockElements: 256, blockBytes: 136 },
  { id: 30, name: "BF16", blockElements: 1, blockBytes: 2 },
];

const BY_ID = new Map<number, GgmlTypeInfo>(INFOS.map((info) => [info.id, info]));
const BY_NAME = new Map<string, GgmlTypeInfo>(INFOS.map((info) => [info.name, info]));

/**
 * Geometry of a type id, or `undefined` when the id is not one this project knows.
 *
 * @param id A ggml type id.
 * @returns The type's geometry.
 */
export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/**
 * Geometry of a type by name (`"IQ4_NL"`, case-insensitive), or `undefined`.
 *
 * @param name A type name.
 * @returns The type's geometry.
 */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Every known type, in id order. */
export const GGML_TYPES: readonly GgmlTypeInfo[] = INFOS;

/**
 * Bytes of one row of `n` elements; throws when `n` is not a whole number of blocks.
 *
 * @param info The row's type.
 * @param n Elements in the row.
 * @returns Byte length of the row.
 */
export function rowBytes(info: GgmlTypeInfo, n: number): number {
  if (n % info.blockElements !== 0) {
    throw new RangeError(
      `A ${info.name} row of ${n} elements is not a whole number of ${info.blockElements}-element blocks`,
    );
  }
  return (n / info.blockElements) * info.blockBytes;
}
