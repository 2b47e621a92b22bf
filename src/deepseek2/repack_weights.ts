/**
 * Repacks a loaded model's matmul weights into the kernels' faster layouts (src/kernels/repack.ts)
 * once at load: owned native copies replace the file mapping for those tensors. The token
 * embedding stays in place (it is only ever read one row at a time).
 * @module
 */
import type { GgmlTypeId } from "../ggml_types.ts";
import { repackedTypeId, repackRows } from "../kernels/repack.ts";
import {
  type DeepSeek2Weights,
  mapMatmulWeights,
  type NativeAlloc,
  type StackedWeightRef,
  type WeightRef,
} from "./weights.ts";

function isStacked(w: WeightRef): w is StackedWeightRef {
  return "slices" in w;
}

function rowCount(w: WeightRef): number {
  return isStacked(w) ? w.rows * w.slices : w.rows;
}

/**
 * Returns the weight table with every repackable matmul weight copied into owned memory in its
 * repacked layout (`kernelTypeId` set); other weights are returned unchanged.
 *
 * @param weights Weights as loaded (addresses into the file mapping).
 * @param alloc Owner of the new native buffers (freed with the model).
 * @param onProgress Called with the fraction of repackable bytes done.
 * @returns The new weight table.
 * @example
 * ```ts ignore
 * const fast = repackWeights(loadWeights(file, hp, alloc, dequantize), alloc);
 * ```
 */
export function repackWeights(
  weights: DeepSeek2Weights,
  alloc: NativeAlloc,
  onProgress?: (fraction: number) => void,
): DeepSeek2Weights {
  const bytesOf = (w: WeightRef) => rowCount(w) * w.rowBytes;
  const total = repackableBytes(weights);
  let done = 0;
  const repack = <T extends WeightRef>(w: T): T => {
    const kernelTypeId = repackedTypeId(w.type.id);
    if (kernelTypeId === undefined || w.kernelTypeId !== undefined) return w;
    const bytes = bytesOf(w);
    const { address } = alloc(bytes);
    // One matrix at a time (the layout groups rows from each matrix's first row), packed
    // densely: a source stride may skip rows (attn_kv_b's W_UV slices sit between W_UK rows).
    const matrixBytes = w.rows * w.rowBytes;
    const slices = isStacked(w) ? w.slices : 1;
    for (let s = 0; s < slices; s++) {
      const src = w.address + BigInt(isStacked(w) ? s * w.sliceStride : 0);
      const dst = address + BigInt(s * matrixBytes);
      repackRows(w.type.id as GgmlTypeId, src, dst, w.rowBytes, w.cols, w.rows);
    }
    done += bytes;
    onProgress?.(done / total);
    return isStacked(w)
      ? { ...w, address, kernelTypeId, sliceStride: matrixBytes }
      : { ...w, address, kernelTypeId };
  };
  return mapMatmulWeights(weights, repack);
}

/**
 * Bytes of the weights `repackWeights` would copy (the native memory it would allocate).
 *
 * @param weights A weight table as loaded.
 * @returns Bytes of repackable matmul weights not repacked yet.
 * @example
 * ```ts ignore
 * console.log(`${repackableBytes(weights) / 2 ** 30} GiB to copy`);
 * ```
 */
export function repackableBytes(weights: DeepSeek2Weights): number {
  let bytes = 0;
  mapMatmulWeights(weights, (w) => {
    if (w.kernelTypeId === undefined && repackedTypeId(w.type.id) !== undefined) {
      bytes += rowCount(w) * w.rowBytes;
    }
    return w;
  });
  return bytes;
}

/**
 * Bytes of the weights in a table that are held in a repacked layout.
 *
 * @param weights A weight table.
 * @returns Repacked bytes (0 when nothing was repacked).
 * @example
 * ```ts ignore
 * repackedBytes(repackWeights(weights, alloc)) > 0; // for an IQ4_NL model
 * ```
 */
export function repackedBytes(weights: DeepSeek2Weights): number {
  let bytes = 0;
  mapMatmulWeights(weights, (w) => {
    if (w.kernelTypeId !== undefined) bytes += rowCount(w) * w.rowBytes;
    return w;
  });
  return bytes;
}
