import assert from "node:assert/strict";
import { GgmlType, type GgmlTypeId, ggmlTypeInfo } from "../src/ggml_types.ts";
import {
  activationBlockElements,
  activationFormat,
  setSimd,
  weightRowBytes,
} from "../src/kernels/quants.ts";
import { moeFfn, type MoeShape } from "../src/kernels/moe.ts";
import { activationBlockScale, dequantizeReference } from "../src/quants/reference.ts";
import { ThreadPool } from "../src/thread_pool.ts";
import { OptionError } from "../src/errors.ts";
import { repackedTypeId, repackRows } from "../src/kernels/repack.ts";
import { NativeBuffer } from "../src/deepseek2/native_memory.ts";
import { normals, randomWeight, rng } from "./quants_helpers.ts";

const U = 2 ** -24;

/** Dequantized rows of expert e: rows × k float64. */
function expertRows(
  type: GgmlTypeId,
  data: Uint8Array,
  e: number,
  rows: number,
  k: number,
): Float64Array[] {
  const rb = weightRowBytes(type, k);
  return Array.from(
    { length: rows },
    (_, r) =>
      dequantizeReference(type, data.subarray((e * rows + r) * rb, (e * rows + r + 1) * rb), k),
  );
}

/**
 * Float64 MoE and its error bound. Derivation, per pair (token t, expert e, weight w):
 * g, u: matvec of quantized-activation x, so |Δg_r| ≤ εg_r = Σ_k|G_rk|·amax_b(k)/254 + K·u·Σ|G_rk x_k|
 * (as in the matmul test; 0 activation term for float types), εu likewise.
 * h = silu(g)·u with |silu'| ≤ 1.1: |Δh_r| ≤ 1.1·εg_r·(|u_r| + εu_r) + |silu(g_r)|·εu_r.
 * The down input is the computed h, quantized per block: |Δ| ≤ (amax_b(h) + max_b Δh)/254.
 * |Δy_i| ≤ Σ_pairs |w|·(Σ_r |D_ir|·(|Δh_r| + q_r) + n_ff·u·Σ_r|D_ir·h_r|) plus the f32 sum.
 */
function reference(shape: MoeShape, o: {
  gate: Uint8Array;
  up: Uint8Array;
  down: Uint8Array;
  ids: Int32Array;
  weights: Float32Array;
  x: Float32Array;
  kUsed: number;
}) {
  const { nEmbd, nFf } = shape;
  const t = o.x.length / nEmbd;
  const y = new Float64Array(t * nEmbd);
  const bound = new Float64Array(t * nEmbd);
  const magnitude = new Float64Array(t * nEmbd); // Σ_pairs |w·(down·h)|
  // The activation rounding term Σ_blocks Σ|w|·d/2, d the block's reference scale.
  const matvecBound = (w: Float64Array, x: ArrayLike<number>, type: GgmlTypeId) => {
    const format = activationFormat(type);
    const block = activationBlockElements(format);
    let mag = 0;
    let act = 0;
    for (let i = 0; i < w.length; i++) mag += Math.abs(w[i] * x[i]);
    for (let b = 0; format !== "f32" && b < w.length / block; b++) {
      let wabs = 0;
      for (let i = b * block; i < (b + 1) * block; i++) wabs += Math.abs(w[i]);
      const xs = Array.from({ length: block }, (_, i) => x[b * block + i]);
      act += (wabs * activationBlockScale(format, xs)) / 2;
    }
    return act * (1 + 1e-6) + w.length * U * (mag + act);
  };
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const experts = new Map<number, { G: Float64Array[]; Up: Float64Array[]; D: Float64Array[] }>();
  for (let tok = 0; tok < t; tok++) {
    const x = o.x.subarray(tok * nEmbd, (tok + 1) * nEmbd);
    for (let j = 0; j < o.kUsed; j++) {
      const e = o.ids[tok * o.kUsed + j];
      const w = o.weights[tok * o.kUsed + j];
      if (!experts.has(e)) {
        experts.set(e, {
          G: expertRows(shape.gateType, o.gate, e, nFf, nEmbd),
          Up: expertRows(shape.upType, o.up, e, nFf, nEmbd),
          D: expertRows(shape.downType, o.down, e, nEmbd, nFf),
        });
      }
      const { G, Up, D } = experts.get(e)!;
      const h = new Float64Array(nFf);
      const dh = new Float64Array(nFf);
      for (let r = 0; r < nFf; r++) {
        let g = 0;
        let u = 0;
        for (let i = 0; i < nEmbd; i++) {
          g += G[r][i] * x[i];
          u += Up[r][i] * x[i];
        }
        const eg = matvecBound(G[r], x, shape.gateType);
        const eu = matvecBound(Up[r], x, shape.upType);
        h[r] = silu(g) * u;
        dh[r] = 1.1 * eg * (Math.abs(u) + eu) + Math.abs(silu(g)) * eu + 4 * U * Math.abs(h[r]);
      }
      // The kernel quantizes its own h, within dh of ours: its block scale is at most the
      // reference scale of |h| + dh (both the amax and the pair rule grow with |values|).
      const downFormat = activationFormat(shape.downType);
      const block = activationBlockElements(downFormat);
      const q = new Float64Array(nFf);
      for (let b = 0; downFormat !== "f32" && b < nFf / block; b++) {
        const widest = Array.from(
          { length: block },
          (_, i) => Math.abs(h[b * block + i]) + dh[b * block + i],
        );
        const half = activationBlockScale(downFormat, widest) / 2;
        for (let r = b * block; r < (b + 1) * block; r++) q[r] = half;
      }
      for (let i = 0; i < nEmbd; i++) {
        let sum = 0;
        let err = 0;
        let mag = 0;
        for (let r = 0; r < nFf; r++) {
          sum += D[i][r] * h[r];
          err += Math.abs(D[i][r]) * (dh[r] + q[r]);
          mag += Math.abs(D[i][r] * (Math.abs(h[r]) + dh[r] + q[r]));
        }
        y[tok * nEmbd + i] += w * sum;
        magnitude[tok * nEmbd + i] += Math.abs(w * sum);
        bound[tok * nEmbd + i] += Math.abs(w) * (err + nFf * U * mag) +
          o.kUsed * U * Math.abs(w * sum);
      }
    }
  }
  return { y, bound, magnitude };
}

const pools = [1, 2, 3, 4].map((threads) => new ThreadPool(threads));

const CASES: { name: string; shape: MoeShape; t: number; kUsed: number }[] = [
  {
    name: "IQ4_NL gate/up, Q8_0 down",
    shape: {
      gateType: GgmlType.IQ4_NL,
      upType: GgmlType.IQ4_NL,
      downType: GgmlType.Q8_0,
      nEmbd: 160, // 5 blocks: one group of 4 activation blocks and a single one
      nFf: 160,
      nExpert: 7,
    },
    t: 5,
    kUsed: 3,
  },
  {
    name: "Q4_K gate/up, Q6_K down",
    shape: {
      gateType: GgmlType.Q4_K,
      upType: GgmlType.Q4_K,
      downType: GgmlType.Q6_K,
      nEmbd: 256,
      nFf: 256,
      nExpert: 4,
    },
    t: 3,
    kUsed: 2,
  },
  {
    name: "F16 gate, F32 up, BF16 down",
    shape: {
      gateType: GgmlType.F16,
      upType: GgmlType.F32,
      downType: GgmlType.BF16,
      nEmbd: 40,
      nFf: 24,
      nExpert: 3,
    },
    t: 2,
    kUsed: 2,
  },
];

for (const { name, shape, t, kUsed } of CASES) {
  Deno.test(`moeFfn ${name} matches float64 reference over 1..4 threads, SIMD and scalar`, () => {
    const random = rng(shape.nEmbd + shape.nFf + t);
    const gate = randomWeight(shape.gateType, shape.nEmbd, shape.nFf * shape.nExpert, random);
    const up = randomWeight(shape.upType, shape.nEmbd, shape.nFf * shape.nExpert, random);
    const down = randomWeight(shape.downType, shape.nFf, shape.nEmbd * shape.nExpert, random);
    // Distinct experts per token, some experts shared by several tokens, one never chosen.
    const ids = new Int32Array(t * kUsed);
    for (let tok = 0; tok < t; tok++) {
      for (let j = 0; j < kUsed; j++) ids[tok * kUsed + j] = (tok + 2 * j) % (shape.nExpert - 1);
    }
    const weights = Float32Array.from({ length: t * kUsed }, () => 0.1 + random.uniform());
    const x = normals(random, t * shape.nEmbd);
    const options = { ...shape, gate, up, down, ids, weights, x, kUsed };
    const ref = reference(shape, options);
    for (const simd of [true, false]) {
      setSimd(simd);
      for (const pool of pools) {
        const y = moeFfn(pool, options);
        for (let i = 0; i < y.length; i++) {
          const err = Math.abs(y[i] - ref.y[i]);
          assert.ok(
            err <= ref.bound[i],
            `simd=${simd} threads=${pool.threads} y[${i}]=${y[i]} ref ${ref.y[i]} err ${err} > ${
              ref.bound[i]
            }`,
          );
        }
        // accumulate adds onto what y holds: the kUsed f32 additions now start from base, each
        // rounding a partial sum ≤ |base| + Σ|w·out| (out within its bound of the reference).
        const base = Float32Array.from(y, (_, i) => i % 3);
        const acc = moeFfn(pool, { ...options, y: base.slice(), accumulate: true });
        for (let i = 0; i < y.length; i++) {
          const partial = Math.abs(base[i]) + ref.magnitude[i] + ref.bound[i];
          const tol = 2 * (kUsed + 1) * U * partial;
          assert.ok(Math.abs(acc[i] - (y[i] + base[i])) <= tol, `accumulate y[${i}]`);
        }
      }
    }
    setSimd(true);
  });
}

/**
 * The repacked (r8) layout of `matrices` stacked file-layout matrices of `rows` rows each, made
 * by the load-time repacker one matrix at a time (its row groups start at each matrix's row 0).
 */
function repackedCopy(
  type: GgmlTypeId,
  weight: Uint8Array,
  k: number,
  rows: number,
  matrices: number,
): Uint8Array {
  using file = new NativeBuffer(weight.length);
  using packed = new NativeBuffer(weight.length);
  file.u8().set(weight);
  const rowBytes = weightRowBytes(type, k);
  for (let m = 0; m < matrices; m++) {
    const offset = BigInt(m * rows * rowBytes);
    repackRows(type, file.address + offset, packed.address + offset, rowBytes, k, rows);
  }
  return packed.u8().slice();
}

// Prefill-sized batches: 40 tokens over 8 experts give each chosen expert 10..35 tokens, so
// phases 2 and 4 run the GEMM tile kernels (quants/gemm32.zig, float.zig) on (row chunk × all
// the expert's tokens); expert 7 is chosen by tokens 0..2 only and stays on the dots (< 4
// tokens) in the same batch. Shapes cross the kernels' boundaries: 5 and 7 blocks per row (a
// Q8A group of 4 plus singles, 8-block K slices), n_ff = 224 rows is a 128-row chunk plus a
// partial one, and token counts are not multiples of the 8-token octs. `kernel` marks a repacked
// (r8) layout, judged against the reference of the file rows it was made from. The bound is the
// one derived above: the GEMM kernels change only the f32 summation order, which the K·u terms
// cover.
const GEMM_CASES: {
  name: string;
  shape: MoeShape;
  kUsed: number[];
  repack?: boolean;
}[] = [
  {
    name: "IQ4_NL",
    shape: { ...fileShape(GgmlType.IQ4_NL, GgmlType.IQ4_NL), nEmbd: 160, nFf: 224 },
    kUsed: [3],
  },
  {
    name: "IQ4_NL_R8",
    shape: { ...fileShape(GgmlType.IQ4_NL, GgmlType.IQ4_NL), nEmbd: 160, nFf: 224 },
    kUsed: [2, 6],
    repack: true,
  },
  {
    name: "Q4_0_R8",
    shape: { ...fileShape(GgmlType.Q4_0, GgmlType.Q4_0), nEmbd: 160, nFf: 224 },
    kUsed: [4],
    repack: true,
  },
  {
    name: "Q4_0",
    shape: { ...fileShape(GgmlType.Q4_0, GgmlType.Q4_0), nEmbd: 160, nFf: 224 },
    kUsed: [5],
  },
  {
    name: "Q8_0",
    shape: { ...fileShape(GgmlType.Q8_0, GgmlType.Q8_0), nEmbd: 160, nFf: 224 },
    kUsed: [2],
  },
  {
    name: "Q4_K gate/up, Q5_0 down",
    shape: { ...fileShape(GgmlType.Q4_K, GgmlType.Q5_0), nEmbd: 256, nFf: 256 },
    kUsed: [6],
  },
  {
    name: "Q4_K_R8 gate/up, Q5_0 down",
    shape: { ...fileShape(GgmlType.Q4_K, GgmlType.Q5_0), nEmbd: 256, nFf: 256 },
    kUsed: [6],
    repack: true,
  },
  {
    name: "F16",
    shape: { ...fileShape(GgmlType.F16, GgmlType.F16), nEmbd: 72, nFf: 40 },
    kUsed: [3],
  },
];

function fileShape(gateUp: GgmlTypeId, down: GgmlTypeId) {
  return { gateType: gateUp, upType: gateUp, downType: down, nExpert: 8 };
}

for (const { name, shape, kUsed: kUsedList, repack } of GEMM_CASES) {
  for (const kUsed of kUsedList) {
    Deno.test(`moeFfn ${name} with 40 tokens and kUsed ${kUsed} (GEMM tiles) matches float64 reference over 1..4 threads, SIMD and scalar`, () => {
      const t = 40;
      const random = rng(shape.nEmbd * 7 + shape.nFf + kUsed);
      const gate = randomWeight(shape.gateType, shape.nEmbd, shape.nFf * shape.nExpert, random);
      const up = randomWeight(shape.upType, shape.nEmbd, shape.nFf * shape.nExpert, random);
      const down = randomWeight(shape.downType, shape.nFf, shape.nEmbd * shape.nExpert, random);
      // Distinct experts per token from 0..6; tokens 0..2 put expert 7 in their last slot.
      const ids = new Int32Array(t * kUsed);
      for (let tok = 0; tok < t; tok++) {
        const pool = [0, 1, 2, 3, 4, 5, 6];
        for (let j = 0; j < kUsed; j++) {
          const pick = Math.floor(random.uniform() * pool.length);
          ids[tok * kUsed + j] = pool.splice(pick, 1)[0];
        }
        if (tok < 3) ids[tok * kUsed + kUsed - 1] = 7;
      }
      const counts = new Array(shape.nExpert).fill(0);
      for (const e of ids) counts[e]++;
      assert.equal(counts[7], 3);
      assert.ok(Math.min(...counts.slice(0, 7)) >= 4, `experts 0..6 have the GEMM path's 4 tokens`);
      const weights = Float32Array.from({ length: t * kUsed }, () => 0.1 + random.uniform());
      const x = normals(random, t * shape.nEmbd);
      const ref = reference(shape, { gate, up, down, ids, weights, x, kUsed });
      // Repacked cases repack every tensor whose type has a layout (Q5_0 down stays as is).
      const kernelTypeOf = (type: GgmlTypeId) =>
        (repack ? repackedTypeId(type) ?? type : type) as GgmlTypeId;
      const kernelWeight = (type: GgmlTypeId, w: Uint8Array, k: number, rows: number) =>
        kernelTypeOf(type) === type ? w : repackedCopy(type, w, k, rows, shape.nExpert);
      const options = {
        ...shape,
        gateType: kernelTypeOf(shape.gateType),
        upType: kernelTypeOf(shape.upType),
        downType: kernelTypeOf(shape.downType),
        gate: kernelWeight(shape.gateType, gate, shape.nEmbd, shape.nFf),
        up: kernelWeight(shape.upType, up, shape.nEmbd, shape.nFf),
        down: kernelWeight(shape.downType, down, shape.nFf, shape.nEmbd),
        ids,
        weights,
        x,
        kUsed,
      };
      for (const simd of [true, false]) {
        setSimd(simd);
        for (const pool of pools) {
          const y = moeFfn(pool, options);
          for (let i = 0; i < y.length; i++) {
            const err = Math.abs(y[i] - ref.y[i]);
            assert.ok(
              err <= ref.bound[i],
              `simd=${simd} threads=${pool.threads} y[${i}]=${y[i]} ref ${ref.y[i]} err ${err} > ${
                ref.bound[i]
              }`,
            );
          }
        }
      }
      setSimd(true);
    });
  }
}

Deno.test("moeFfn rejects bad ids, sizes and mixed activation formats", () => {
  const shape = {
    gateType: GgmlType.Q8_0,
    upType: GgmlType.Q8_0,
    downType: GgmlType.Q8_0,
    nEmbd: 32,
    nFf: 32,
    nExpert: 2,
  } as const;
  const rb = weightRowBytes(GgmlType.Q8_0, 32);
  const bytes = new Uint8Array(rb * 32 * 2);
  const base = {
    ...shape,
    gate: bytes,
    up: bytes,
    down: bytes,
    weights: new Float32Array(1),
    x: new Float32Array(32),
    kUsed: 1,
  };
  assert.throws(
    () => moeFfn(pools[0], { ...base, ids: Int32Array.of(2) }),
    /Expert id 2 at index 0 is outside 0..1/,
  );
  assert.throws(
    () => moeFfn(pools[0], { ...base, ids: Int32Array.of(0), gate: bytes.subarray(1) }),
    /gate needs/,
  );
  assert.throws(
    () => moeFfn(pools[0], { ...base, ids: Int32Array.of(0), kUsed: 3 }),
    /kUsed must be in 1..2/,
  );
  assert.throws(
    () => moeFfn(pools[0], { ...base, ids: Int32Array.of(0), upType: GgmlType.F16 }),
    OptionError,
  );
  void ggmlTypeInfo;
});

Deno.test("moeFfn pools close", () => {
  for (const pool of pools) pool.close();
});
