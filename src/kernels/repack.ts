/**
 * Load-time repacking of weight matrices into faster kernel layouts. IQ4_NL, Q4_0, Q4_K, Q5_0,
 * Q5_1, Q5_K, Q6_K and Q8_0 matrices get the r8 layout (zig-kernels/src/quants/r8.zig,
 * q4_k_r8.zig, q5_0_r8.zig for Q5_0 and Q5_1, q5_k_r8.zig, q6_k_r8.zig, q8_0_r8.zig): rows
 * interleaved in groups of 8 so one vpmaddubsw meets 8 rows and no horizontal sums remain; the
 * n mod 8 last rows keep a per-row layout (x4, quants/x4.zig, for IQ4_NL and Q4_0; the file's for
 * the others). Same bytes per matrix; per core the GEMV runs ~1.4× (Q8_0) to ~2× (Q4_0, Q4_K,
 * Q5_0, Q5_K, Q6_K; IQ4_NL with Q8P activations) faster.
 * Repacked layouts have internal type ids (file type id + 2000 for r8, + 1000 for x4) that only
 * the kernels know; a GGUF file never contains them.
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";
import type { GgmlTypeId } from "../ggml_types.ts";
import { REPACKABLE_TYPES, weightRowBytes } from "./quants.ts";

export { REPACKABLE_TYPES };

/**
 * The internal kernel type id of `type`'s repacked layout, or `undefined` if it has none.
 *
 * @param type A ggml type id.
 * @returns The id to pass to the kernels for repacked rows.
 * @example
 * ```ts
 * repackedTypeId(GgmlType.IQ4_NL); // 2020 (IQ4_NL_R8)
 * repackedTypeId(GgmlType.Q4_K); // undefined
 * ```
 */
export function repackedTypeId(type: number): number | undefined {
  if (!REPACKABLE_TYPES.includes(type as GgmlTypeId)) return undefined;
  const out = new Uint32Array(1);
  unwrap(native().fm_repacked_type(type, out), `repacked layout of type ${type}`);
  return out[0];
}

/**
 * Copies one matrix of `nRows` rows of `k` elements of `type` from native memory at `src` into
 * native memory at `dst` in the repacked layout (rows `rowBytes` apart in both). Rows are grouped
 * from the first one, so a stack of matrices (experts, heads) is repacked one matrix per call.
 *
 * @param type A repackable file type.
 * @param src Address of the first source row.
 * @param dst Address of the first destination row (`nRows · rowBytes` writable bytes).
 * @param rowBytes Bytes between rows (at least one row of `k` elements).
 * @param k Elements per row.
 * @param nRows Rows to repack.
 * @throws {OptionError} For a type without a repacked layout or an invalid shape.
 * @example
 * ```ts ignore
 * repackRows(GgmlType.IQ4_NL, weight.address, buffer.address, weight.rowBytes, 2048, 1408);
 * ```
 */
export function repackRows(
  type: GgmlTypeId,
  src: bigint,
  dst: bigint,
  rowBytes: number,
  k: number,
  nRows: number,
): void {
  if (!REPACKABLE_TYPES.includes(type)) {
    throw new OptionError(`Type ${type} has no repacked layout`);
  }
  const minRowBytes = weightRowBytes(type, k);
  if (!Number.isSafeInteger(rowBytes) || rowBytes < minRowBytes) {
    throw new OptionError(`Row stride ${rowBytes} is below one row of ${k} elements`);
  }
  if (!Number.isSafeInteger(nRows) || nRows <= 0) {
    throw new OptionError(`Cannot repack ${nRows} rows`);
  }
  if (src === 0n || dst === 0n) throw new OptionError("Cannot repack rows at address 0");
  unwrap(
    native().fm_repack_rows(
      type,
      Deno.UnsafePointer.create(src),
      Deno.UnsafePointer.create(dst),
      BigInt(rowBytes),
      BigInt(k),
      BigInt(nRows),
    ),
    `repacking ${nRows} rows of ${k} elements`,
  );
}
