/**
 * `deno bench bench/gemv_bench.ts`: one GEMV per weight type on the V2-Lite expert and FFN
 * shapes (2 threads), cycling through > 256 MiB of distinct weight copies so each call streams
 * its weights from DRAM; plus one-token MoE steps. bench/gemv_table.ts prints the same as GB/s
 * beside the measured read bandwidth.
 * @module
 */
import { GgmlType, ggmlTypeInfo } from "../src/ggml_types.ts";
import { matmul, matmulScratchBytes } from "../src/kernels/matmul.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import { DRAM_SET_BYTES, fits, SHAPES, weightSet } from "./gemv_common.ts";

const pool = new ThreadPool(2);
const TYPES = [GgmlType.IQ4_NL, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.F16];

for (const shape of SHAPES.filter((s) => s.name.match(/ffn|expert/))) {
  for (const type of TYPES) {
    if (!fits(type, shape.k)) continue;
    const { buffer, matrixBytes, copies } = weightSet(type, shape.k, shape.n, DRAM_SET_BYTES);
    const x = Float32Array.from({ length: shape.k }, (_, i) => Math.sin(i));
    const y = new Float32Array(shape.n);
    const scratch = new Uint8Array(matmulScratchBytes(type, shape.k, 1));
    let i = 0;
    Deno.bench({
      name: `gemv ${ggmlTypeInfo(type)!.name} ${shape.name} (${
        (matrixBytes / 1e6).toFixed(1)
      } MB from DRAM)`,
      group: shape.name,
      fn: () => {
        const copy = i++ % copies;
        matmul(pool, {
          type,
          weight: buffer.subarray(copy * matrixBytes, (copy + 1) * matrixBytes),
          k: shape.k,
          n: shape.n,
          x,
          y,
          scratch,
        });
      },
    });
  }
}
