/**
 * Load-time repacking (src/kernels/repack.ts, zig-kernels/src/quants/x4.zig): the repacked
 * layout must hold exactly the same weights, and a model run on repacked weights must give the
 * same logits as one run on the file's layout.
 *
 * Tolerances: the repacked dot products compute the same integer block sums and scale them in
 * the same order, except the last nb mod 4 blocks of a row, whose partial sum is added after the
 * horizontal reduction instead of before it: one extra f32 rounding per product, ~1e-7 relative.
 * Through the model's chained products this stays far below 1e-4 of the logit range.
 * @module
 */
import assert from "node:assert/strict";
import { native } from "../ffi/library.ts";
import { unwrap } from "../ffi/status.ts";
import { OptionError } from "../src/errors.ts";
import { GgmlType, type GgmlTypeId } from "../src/ggml_types.ts";
import { NativeBuffer } from "../src/deepseek2/native_memory.ts";
import {
  dequantizeRow,
  kernelTypeByName,
  kernelTypeName,
  quantizeRow,
  weightRowBytes,
} from "../src/kernels/quants.ts";
import { repackedTypeId, repackRows } from "../src/kernels/repack.ts";
import { Model } from "../src/model.ts";
import { tinyModelPath } from "./helpers/tiny_model.ts";
import { rng } from "./quants_helpers.ts";

Deno.test("repackedTypeId names the internal layouts of IQ4_NL and Q4_0 only", () => {
  assert.equal(repackedTypeId(GgmlType.IQ4_NL), 1020);
  assert.equal(repackedTypeId(GgmlType.Q4_0), 1002);
  for (const t of [GgmlType.Q4_K, GgmlType.Q8_0, GgmlType.F16, 1020, 9999]) {
    assert.equal(repackedTypeId(t), undefined);
  }
});

Deno.test("repacked kernel types have names, and the file type's row geometry", () => {
  assert.equal(kernelTypeName(1020), "IQ4_NL_X4");
  assert.equal(kernelTypeName(GgmlType.Q4_0), "Q4_0");
  assert.equal(kernelTypeByName("Q4_0_X4"), 1002);
  assert.equal(kernelTypeByName("IQ4_NL"), GgmlType.IQ4_NL);
  assert.equal(kernelTypeByName("Q4_K_X4"), undefined);
  assert.equal(kernelTypeByName("NOPE"), undefined);
  assert.equal(weightRowBytes(1020 as GgmlTypeId, 2048), weightRowBytes(GgmlType.IQ4_NL, 2048));
  assert.throws(() => kernelTypeName(1012), OptionError);
});

for (const type of [GgmlType.IQ4_NL, GgmlType.Q4_0]) {
  // 11 blocks per row: two groups of 4 and a tail of 3 that keeps the file layout.
  Deno.test(`repackRows: type ${type} rows dequantize to exactly the file's values`, () => {
    const k = 352;
    const nRows = 5;
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
    const repacked = repackedTypeId(type)!;
    for (let r = 0; r < nRows; r++) {
      const packed = dst.u8().slice(r * rowBytes, (r + 1) * rowBytes);
      // The layout differs (else repacking would be a copy) but the values are the same.
      assert.notDeepEqual(packed, rows[r]);
      const out = new Float32Array(k);
      unwrap(native().fm_dequantize_row(repacked, packed, BigInt(k), out), "dequantize");
      assert.deepEqual(out, dequantizeRow(type, rows[r], k));
    }
  });
}

Deno.test("repackRows refuses types without a layout and impossible shapes", () => {
  using buffer = new NativeBuffer(4096);
  const a = buffer.address;
  assert.throws(() => repackRows(GgmlType.Q4_K, a, a, 144, 256, 1), OptionError);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, a, a, 17, 32, 1), /below one row/);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, a, a, 18, 33, 1), OptionError);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, a, a, 18, 32, 0), /Cannot repack 0 rows/);
  assert.throws(() => repackRows(GgmlType.IQ4_NL, 0n, a, 18, 32, 1), /address 0/);
});

for (const wtype of ["IQ4_NL", "Q4_0"] as const) {
  Deno.test(`a ${wtype} model gives the same logits with and without repacking`, async () => {
    const path = await tinyModelPath({ wtype, vocab: "builtin" });
    const tokens = Array.from({ length: 24 }, (_, i) => 1 + ((i * 37) % 250));
    const run = async (repack: boolean) => {
      using model = await Model.load(path, { repack });
      // Every matrix of these models is repackable; norms and the embedding are not.
      if (repack) assert.ok(model.info.repackedBytes > 0.5 * model.info.fileBytes);
      else assert.equal(model.info.repackedBytes, 0);
      using ctx = model.createContext({ ctxLen: 64, threads: 2 });
      const prompt = ctx.evalLogits(tokens.slice(0, 16), { allLogits: true });
      const decoded = tokens.slice(16).map((t) => ctx.evalLogits([t]));
      return [prompt, ...decoded];
    };
    const packed = await run(true);
    const plain = await run(false);
    let range = 0;
    let maxDiff = 0;
    for (let i = 0; i < plain.length; i++) {
      for (let j = 0; j < plain[i].length; j++) {
        range = Math.max(range, Math.abs(plain[i][j]));
        maxDiff = Math.max(maxDiff, Math.abs(plain[i][j] - packed[i][j]));
      }
    }
    assert.ok(range > 1, `logits are not degenerate (max |logit| ${range})`);
    console.log(`max |Δlogit| ${maxDiff.toExponential(2)}, max |logit| ${range.toFixed(1)}`);
    assert.ok(maxDiff <= 1e-4 * range, `max |Δlogit| ${maxDiff} vs range ${range}`);
  });
}
