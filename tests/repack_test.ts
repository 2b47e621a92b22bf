/**
 * Load-time repacking (src/kernels/repack.ts, zig-kernels/src/quants/r8.zig and x4.zig): the
 * repacked layout must hold exactly the same weights, and a model run on repacked weights must
 * give the same logits as one run on the file's layout.
 *
 * Tolerances: the repacked dot products compute the same integer block sums and scale them with
 * the same f32 products, but add the blocks in another order (r8: block after block per row;
 * file layout: 8 lanes, then a horizontal sum): a few f32 roundings per product, ~1e-7
 * relative. Through the model's chained products this stays far below 1e-4 of the logit range.
 * @module
 */
import assert from "node:assert/strict";
import { native } from "../ffi/library.ts";
import { unwrap } from "../ffi/status.ts";
import { OptionError } from "../src/errors.ts";
import { GgmlType, type GgmlTypeId, ggmlTypeInfo } from "../src/ggml_types.ts";
import { NativeBuffer } from "../src/deepseek2/native_memory.ts";
import {
  dequantizeRow,
  isRowGrouped,
  kernelTypeByName,
  kernelTypeName,
  quantizeRow,
  weightRowBytes,
} from "../src/kernels/quants.ts";
import { repackedTypeId, repackRows } from "../src/kernels/repack.ts";
import { Model } from "../src/model.ts";
import { matmul } from "../src/kernels/matmul.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import { tinyModelPath } from "./helpers/tiny_model.ts";
import { rng } from "./quants_helpers.ts";

Deno.test("repackedTypeId names the internal layouts of IQ4_NL, Q4_0, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K and Q8_0 only", () => {
  assert.equal(repackedTypeId(GgmlType.IQ4_NL), 2020);
  assert.equal(repackedTypeId(GgmlType.Q4_0), 2002);
  assert.equal(repackedTypeId(GgmlType.Q4_K), 2012);
  assert.equal(repackedTypeId(GgmlType.Q5_0), 2006);
  assert.equal(repackedTypeId(GgmlType.Q6_K), 2014);
  assert.equal(repackedTypeId(GgmlType.Q8_0), 2008);
  assert.equal(repackedTypeId(GgmlType.Q5_K), 2013);
  assert.equal(repackedTypeId(GgmlType.Q5_1), 2007);
  for (const t of [GgmlType.Q4_1, GgmlType.IQ4_XS, GgmlType.F16, 1020, 2020, 9999]) {
    assert.equal(repackedTypeId(t), undefined);
  }
});

Deno.test("repacked kernel types have names, and the file type's row geometry", () => {
  assert.equal(kernelTypeName(1020), "IQ4_NL_X4");
  assert.equal(kernelTypeName(2020), "IQ4_NL_R8");
  assert.equal(kernelTypeName(GgmlType.Q4_0), "Q4_0");
  assert.equal(kernelTypeByName("Q4_0_X4"), 1002);
  assert.equal(kernelTypeByName("Q4_0_R8"), 2002);
  assert.equal(kernelTypeByName("IQ4_NL"), GgmlType.IQ4_NL);
  assert.equal(kernelTypeByName("Q4_K_X4"), undefined);
  assert.equal(kernelTypeByName("Q4_K_R8"), 2012);
  assert.equal(kernelTypeByName("Q6_K_R8"), 2014);
  assert.equal(kernelTypeByName("Q5_K_R8"), 2013);
  assert.equal(kernelTypeByName("Q4_1_R8"), undefined);
  assert.equal(kernelTypeByName("NOPE"), undefined);
  assert.equal(weightRowBytes(1020 as GgmlTypeId, 2048), weightRowBytes(GgmlType.IQ4_NL, 2048));
  assert.equal(weightRowBytes(2020 as GgmlTypeId, 2048), weightRowBytes(GgmlType.IQ4_NL, 2048));
  assert.throws(() => kernelTypeName(1012), OptionError);
  assert.throws(() => kernelTypeName(2003), OptionError); // Q4_1 has no r8 layout
  assert.ok(isRowGrouped(2020) && !isRowGrouped(1020) && !isRowGrouped(GgmlType.IQ4_NL));
});

Deno.test("single rows of an interleaved layout are refused, in TypeScript and in Zig", () => {
  const k = 64;
  assert.throws(() => quantizeRow(2020 as GgmlTypeId, new Float32Array(k)), /groups of 8/);
  assert.throws(() => dequantizeRow(2002 as GgmlTypeId, new Uint8Array(36), k), /groups of 8/);
  const out = new Float32Array(k);
  assert.throws(
    () => unwrap(native().fm_dequantize_row(2020, new Uint8Array(36), BigInt(k), out), "row"),
    /unsupported/i,
  );
});

for (
  const type of [
    GgmlType.IQ4_NL,
    GgmlType.Q4_0,
    GgmlType.Q5_1,
    GgmlType.Q8_0,
    GgmlType.Q4_K,
    GgmlType.Q5_K,
    GgmlType.Q6_K,
  ]
) {
  // 11 blocks per row (x4: two groups of 4 and a tail of 3 in the file layout), or 3 K-quant
  // super-blocks; 19 rows: two interleaved groups of 8 and 3 rows in the x4 (K: file) layout.
  Deno.test(`repackRows: type ${type} matrix multiplies exactly like the file's rows`, () => {
    const k = ggmlTypeInfo(type)!.blockElements === 256 ? 768 : 352;
    const nRows = 19;
    const random = rng(type);
    const rows = Array.from({ length: nRows }, () => {
      const x = new Float32Array(k);
      for (let i = 0; i < k; i++) x[i] = random.normal();
      return quantizeRow(type, x);
    });
    const rowBytes = rows[0].length;
    using src = new NativeBuffer(rowBytes * nRows);
    using dst = new NativeBuffer(rowBytes * nRows);
    rows.forEach((r, i) => src.u8().set(r, i * rowBytes));
    repackRows(type, src.address, dst.address, rowBytes, k, nRows);
    const repacked = repackedTypeId(type)! as GgmlTypeId;
    // The layout differs (else repacking would be a copy) but the weights are the same: with
    // one-hot activations each product reads back one weight.
    assert.notDeepEqual(dst.u8(), src.u8());
    using pool = new ThreadPool(2);
    const probes = [0, 5, 31, 32, 100, 351].map((e) => e * k / 352 | 0);
    const x = new Float32Array(probes.length * k);
    probes.forEach((e, i) => x[i * k + e] = 1);
    const file = matmul(pool, { type, weight: src.u8(), k, n: nRows, x, t: probes.length });
    const packed = matmul(pool, {
      type: repacked,
      weight: dst.u8().slice(),
      k,
      n: nRows,
      x,
      t: probes.length,
    });
    // One nonzero block per product: both layouts compute d_w·d_a·Σ (Q4_K: minus dmin·d_a·m·Σa)
    // in f32, a few roundings of terms no larger than the row's largest weight.
    for (let r = 0; r < nRows; r++) {
      const want = dequantizeRow(type, rows[r], k);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * scale;
      probes.forEach((e, i) => {
        const got = packed[i * nRows + r];
        assert.ok(close(got, want[e]), `row ${r} element ${e}: ${got} vs ${want[e]}`);
        assert.ok(close(file[i * nRows + r], want[e]), `file row ${r} element ${e}`);
      });
    }
  });
}

Deno.test("repackRows refuses types without a layout and impossible shapes", () => {
  using buffer = new NativeBuffer(4096);
  const a = buffer.address;
  assert.throws(() => repackRows(GgmlType.Q4_1, a, a, 20, 32, 1), OptionError);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, a, a, 17, 32, 1), /below one row/);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, a, a, 18, 33, 1), OptionError);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, a, a, 18, 32, 0), /Cannot repack 0 rows/);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, 0n, a, 18, 32, 1), /address 0/);
});

// The r8 layouts multiply through their own row-range dots for prompts and decode steps alike
// (the file layouts through GEMM tiles or per-row dots), which add blocks in another f32 order
// (~1e-7 relative); where that moves a value across a rounding boundary of the 8-bit activation
// blocks or of the f16 cache, the value moves by up to half a quantization step of its block, the
// noise every product already carries (conformance_reference_test judges both against float64).
// Measured: one f16 cache value one ulp apart, two decode steps later logits 0.6% of the range
// apart; prompt logits 0.7–0.9% apart. Bound: 2% of the range, far below what a plumbing error
// (a wrong layout, stride or slice) gives: garbage of the order of the range itself. One layer,
// whose FFN is dense: in a MoE layer a top-k flip where two router logits of this random model
// nearly tie would swap a whole expert; moe_ffn_test judges repacked experts against float64.
// Both attention layouts: with attn_kv_b, the W_UV slices sit between W_UK rows (stride N + V
// rows) and are repacked into a dense stack.
for (
  const [wtype, layout] of [
    ["IQ4_NL", "kb-vb"],
    ["Q4_0", "kb-vb"],
    ["Q4_K", "kb-vb"],
    ["Q6_K", "kb-vb"],
    ["Q8_0", "kb-vb"],
    ["Q5_1", "kb-vb"],
    ["IQ4_NL", "kvb"],
  ] as const
) {
  Deno.test(`a ${wtype} ${layout} model gives the same logits with and without repacking`, async () => {
    const path = await tinyModelPath({ wtype, layout, vocab: "builtin", layers: 1 });
    const tokens = Array.from({ length: 24 }, (_, i) => 1 + ((i * 37) % 250));
    const run = async (repack: boolean) => {
      using model = await Model.load(path, { repack });
      // Every matrix of these models is repackable; norms and the embedding are not.
      if (repack) assert.ok(model.info.repackedBytes > 0.5 * model.info.fileBytes);
      else assert.equal(model.info.repackedBytes, 0);
      using ctx = model.createContext({ ctxLen: 64, threads: 2 });
      const prompt = ctx.evalLogits(tokens.slice(0, 16), { allLogits: true });
      const decoded = tokens.slice(16).map((t) => ctx.evalLogits([t]));
      return { prompt, decoded };
    };
    const packed = await run(true);
    const plain = await run(false);
    const maxAbs = (rows: Float32Array[]) =>
      Math.max(...rows.map((r) => r.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
    const maxDiff = (a: Float32Array[], b: Float32Array[]) =>
      Math.max(...a.map((r, i) => r.reduce((m, v, j) => Math.max(m, Math.abs(v - b[i][j])), 0)));
    const range = maxAbs([plain.prompt, ...plain.decoded]);
    assert.ok(range > 1, `logits are not degenerate (max |logit| ${range})`);
    const promptDiff = maxDiff([plain.prompt], [packed.prompt]);
    const decodeDiff = maxDiff(plain.decoded, packed.decoded);
    console.log(
      `max |Δlogit| prompt ${promptDiff.toExponential(2)}, decode ${
        decodeDiff.toExponential(2)
      }, max |logit| ${range.toFixed(1)}`,
    );
    assert.ok(promptDiff <= 2e-2 * range, `prompt: max |Δlogit| ${promptDiff} vs ${range}`);
    assert.ok(decodeDiff <= 2e-2 * range, `decode: max |Δlogit| ${decodeDiff} vs ${range}`);
  });
}
