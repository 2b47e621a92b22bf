/**
 * Row (de)quantization through the Zig kernels, and the geometry of the activation formats the
 * quantized dot products consume. Every argument is checked here before a pointer reaches Zig.
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";
import {
  GgmlType,
  ggmlTypeByName,
  type GgmlTypeId,
  type GgmlTypeInfo,
  ggmlTypeInfo,
} from "../ggml_types.ts";

/** Weight types the matmul kernels support. */
export const KERNEL_TYPES: readonly GgmlTypeId[] = [
  GgmlType.F32,
  GgmlType.F16,
  GgmlType.BF16,
  GgmlType.Q8_0,
  GgmlType.Q4_0,
  GgmlType.Q4_1,
  GgmlType.Q5_0,
  GgmlType.Q5_1,
  GgmlType.IQ4_NL,
  GgmlType.Q4_K,
  GgmlType.Q5_K,
  GgmlType.Q6_K,
  GgmlType.IQ4_XS,
];

/** File types that also have a repacked kernel layout, r8 (see src/kernels/repack.ts). */
export const REPACKABLE_TYPES: readonly GgmlTypeId[] = [
  GgmlType.Q4_0,
  GgmlType.IQ4_NL,
  GgmlType.Q4_K,
  GgmlType.Q5_0,
  GgmlType.Q5_1,
  GgmlType.Q5_K,
  GgmlType.Q6_K,
  GgmlType.Q8_0,
];

/** File types with the per-row x4 layout (the r8 layouts' tail rows; benches compare both). */
const X4_TYPES: readonly GgmlTypeId[] = [GgmlType.Q4_0, GgmlType.IQ4_NL];

/** The file types a layout suffix exists for. */
function typesWithLayout(suffix: "" | "X4" | "R8"): readonly GgmlTypeId[] {
  return suffix === "" ? KERNEL_TYPES : suffix === "X4" ? X4_TYPES : REPACKABLE_TYPES;
}

/**
 * Internal kernel ids of the repacked layouts are the file type's id plus these: the per-row
 * x4 layout (zig-kernels/src/quants/x4.zig, kept for comparisons and for the tail rows of r8)
 * and the r8 layout of 8 interleaved rows (quants/r8.zig) that load-time repacking makes.
 */
export const LAYOUT_OFFSETS = { X4: 1000, R8: 2000 } as const;

/** The layout suffix of a kernel type id ("" for a file type), and its file type's id. */
function splitLayout(type: number): { suffix: "" | "X4" | "R8"; base: number } {
  if (type >= LAYOUT_OFFSETS.R8) return { suffix: "R8", base: type - LAYOUT_OFFSETS.R8 };
  if (type >= LAYOUT_OFFSETS.X4) return { suffix: "X4", base: type - LAYOUT_OFFSETS.X4 };
  return { suffix: "", base: type };
}

/**
 * Whether a kernel type interleaves rows in groups (r8): its single rows cannot be quantized,
 * dequantized or multiplied on their own, only whole matrices through `matmul` and `moeFfn`.
 *
 * @param type A kernel type id.
 * @returns True for the r8 layouts.
 * @example
 * ```ts
 * isRowGrouped(2020); // true (IQ4_NL_R8)
 * ```
 */
export function isRowGrouped(type: number): boolean {
  return splitLayout(type).suffix === "R8";
}

/**
 * A kernel type's display name: the ggml name, with `_X4` or `_R8` for a repacked layout.
 *
 * @param type A kernel type id (ggml id, or repacked id).
 * @returns e.g. `"IQ4_NL"` or `"IQ4_NL_R8"`.
 * @example
 * ```ts
 * kernelTypeName(2020); // "IQ4_NL_R8"
 * ```
 */
export function kernelTypeName(type: number): string {
  const info = kernelType(type);
  const { suffix } = splitLayout(type);
  return suffix ? `${info.name}_${suffix}` : info.name;
}

/**
 * The kernel type id of a display name from `kernelTypeName`, or undefined.
 *
 * @param name e.g. `"Q4_0"`, `"Q4_0_X4"` or `"Q4_0_R8"`.
 * @returns The id.
 * @example
 * ```ts
 * kernelTypeByName("IQ4_NL_R8"); // 2020
 * ```
 */
export function kernelTypeByName(name: string): number | undefined {
  const layout = (["X4", "R8"] as const).find((s) => name.endsWith(`_${s}`));
  const info = ggmlTypeByName(layout ? name.slice(0, -3) : name);
  if (info === undefined) return undefined;
  const id = layout ? info.id + LAYOUT_OFFSETS[layout] : info.id;
  return typesWithLayout(layout ?? "").includes(info.id) ? id : undefined;
}

/**
 * What a weight type's dot product multiplies with: the f32 row, Q8A, Q8P (Q8A's bytes with a
 * pair-bounded scale) or Q8_K blocks.
 */
export type ActivationFormat = "f32" | "q8a" | "q8p" | "q8k";

/**
 * The activation format of a weight type: f32 rows for float weights (exact values; BF16's
 * kernels read them reordered, see `quantizeActivationRow`), Q8A (32 elements in 40
 * bytes) for Q8_0/Q4_0, Q8P (the same bytes, scaled so |q₂ⱼ| + |q₂ⱼ₊₁| ≤ 136) for IQ4_NL in
 * every layout, Q8_K (256 elements in 292 bytes) for the K-quants.
 *
 * @param type A kernel weight type.
 * @returns Its activation format.
 * @example
 * ```ts
 * activationFormat(GgmlType.IQ4_NL); // "q8p"
 * ```
 */
export function activationFormat(type: GgmlTypeId): ActivationFormat {
  const info = kernelType(type);
  if (info.blockElements === 1) return "f32";
  // IQ4_NL's r8 kernels multiply its codebook shifted to unsigned (zig-kernels quants/common.zig).
  if (info.id === GgmlType.IQ4_NL) return "q8p";
  return info.blockElements === 32 ? "q8a" : "q8k";
}

/**
 * Elements that share one scale in an activation format: 32 for Q8A and Q8P, 256 for Q8_K, 0 for
 * f32 rows (no blocks).
 *
 * @param format An activation format.
 * @returns Its block length.
 * @example
 * ```ts
 * activationBlockElements("q8k"); // 256
 * ```
 */
export function activationBlockElements(format: ActivationFormat): 0 | 32 | 256 {
  if (format === "f32") return 0;
  return format === "q8k" ? 256 : 32;
}

/**
 * Bytes of one activation row of `k` elements for weight type `type`.
 *
 * @param type A kernel weight type.
 * @param k Elements per row.
 * @returns Row bytes in the activation format.
 * @example
 * ```ts
 * activationRowBytes(GgmlType.Q8_0, 64); // 80
 * ```
 */
export function activationRowBytes(type: GgmlTypeId, k: number): number {
  const format = activationFormat(type);
  checkRowLength(type, k);
  if (format === "f32") return 4 * k;
  const block = activationBlockElements(format);
  return (k / block) * (format === "q8k" ? 292 : 40);
}

/**
 * The geometry of a weight type the kernels support; throws `OptionError` otherwise.
 *
 * @param type A ggml type id.
 * @returns Its geometry.
 * @example
 * ```ts
 * kernelType(GgmlType.Q4_K).blockBytes; // 144
 * ```
 */
export function kernelType(type: number): GgmlTypeInfo {
  // A repacked layout has its file type's geometry (same blocks, same bytes per row).
  const { suffix, base } = splitLayout(type);
  const info = ggmlTypeInfo(base);
  if (!info || !typesWithLayout(suffix).includes(info.id)) {
    throw new OptionError(`Type ${info?.name ?? type} has no matmul kernels`);
  }
  return info;
}

/**
 * Throws `OptionError` unless `k` is a positive whole number of blocks of `type` and of its
 * activation format.
 *
 * @param type A kernel weight type.
 * @param k Elements per row.
 * @example
 * ```ts
 * checkRowLength(GgmlType.Q4_K, 512);
 * ```
 */
export function checkRowLength(type: GgmlTypeId, k: number): void {
  const info = kernelType(type);
  if (!Number.isInteger(k) || k <= 0 || k % info.blockElements !== 0) {
    throw new OptionError(
      `A ${info.name} row must hold a positive multiple of ${info.blockElements} elements, got ${k}`,
    );
  }
}

/**
 * Bytes of one weight row of `k` elements.
 *
 * @param type A kernel weight type.
 * @param k Elements per row.
 * @returns Row bytes.
 * @example
 * ```ts
 * weightRowBytes(GgmlType.IQ4_NL, 2048); // 1152
 * ```
 */
export function weightRowBytes(type: GgmlTypeId, k: number): number {
  checkRowLength(type, k);
  const info = kernelType(type);
  return (k / info.blockElements) * info.blockBytes;
}

/**
 * Dequantizes one row with the Zig kernel (SIMD or scalar, per `setSimd`).
 *
 * @param type The row's type.
 * @param bytes The row (at least `weightRowBytes(type, k)` bytes).
 * @param k Elements in the row.
 * @returns The row as f32.
 * @example
 * ```ts
 * const row = dequantizeRow(GgmlType.Q8_0, new Uint8Array(34), 32);
 * ```
 */
export function dequantizeRow(type: GgmlTypeId, bytes: Uint8Array, k: number): Float32Array {
  refuseGrouped(type);
  const rowBytes = weightRowBytes(type, k);
  if (bytes.byteLength < rowBytes) {
    throw new OptionError(`A ${k}-element row needs ${rowBytes} bytes, got ${bytes.byteLength}`);
  }
  const out = new Float32Array(k);
  unwrap(native().fm_dequantize_row(type, bytes, BigInt(k), out), "dequantizing a row");
  return out;
}

/**
 * Quantizes one f32 row into `type` with the reference-quality Zig quantizer.
 *
 * @param type The target type.
 * @param values The row (length a whole number of blocks).
 * @returns The quantized row bytes.
 * @example
 * ```ts
 * const q = quantizeRow(GgmlType.Q8_0, new Float32Array(32).fill(1));
 * ```
 */
export function quantizeRow(type: GgmlTypeId, values: Float32Array): Uint8Array {
  refuseGrouped(type);
  const out = new Uint8Array(weightRowBytes(type, values.length));
  unwrap(native().fm_quantize_row(type, values, BigInt(values.length), out), "quantizing a row");
  return out;
}

function refuseGrouped(type: GgmlTypeId): void {
  if (isRowGrouped(type)) {
    throw new OptionError(
      `${
        kernelTypeName(type)
      } interleaves rows in groups of 8: a single row has no bytes of its own`,
    );
  }
}

/**
 * Quantizes one activation row into the format `type`'s dot product consumes.
 *
 * @param type The weight type the activations will meet.
 * @param values The row.
 * @returns Q8A or Q8_K blocks, or for float types the f32 bytes (BF16's with each whole 16
 *   elements reordered evens first, the order its kernels read: zig-kernels quants/float.zig).
 * @example
 * ```ts
 * const blocks = quantizeActivationRow(GgmlType.IQ4_NL, new Float32Array(32).fill(1));
 * ```
 */
export function quantizeActivationRow(type: GgmlTypeId, values: Float32Array): Uint8Array {
  const out = new Uint8Array(activationRowBytes(type, values.length));
  unwrap(
    native().fm_quantize_activation_row(type, values, BigInt(values.length), out),
    "quantizing an activation row",
  );
  return out;
}

/**
 * Selects the SIMD kernels (true, the default) or their scalar reference twins (false), for
 * tests that compare both paths.
 *
 * @param enabled Whether SIMD paths run.
 * @example
 * ```ts
 * setSimd(false); // scalar twins
 * setSimd(true);
 * ```
 */
export function setSimd(enabled: boolean): void {
  unwrap(native().fm_set_simd(enabled ? 1 : 0), "switching SIMD paths");
}
