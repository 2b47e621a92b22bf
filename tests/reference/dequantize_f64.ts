/**
 * The reference forward's only numeric dependency on the rest of the repository: the float64
 * TypeScript dequantizers of `src/quants/reference.ts` (written from MLA_SPEC §3, independent of
 * the Zig kernels).
 * @module
 */
import { dequantizeReference as dequantize } from "../../src/quants/reference.ts";
import type { GgmlTypeId } from "../../src/ggml_types.ts";

/** `n` float64 values of a tensor slice of ggml type `typeId`. */
export function dequantizeReference(typeId: number, bytes: Uint8Array, n: number): Float64Array {
  return dequantize(typeId as GgmlTypeId, bytes, n);
}
