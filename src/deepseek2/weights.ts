/**
 * DeepSeek2 weights: every tensor the forward pass reads, looked up by its GGUF name, its shape
 * checked against the hyper-parameters, and exposed as a native address into the mapped file.
 * The only weights not used in place are W_UK of legacy `attn_kv_b` files, which are stored
 * per head as rows of W_UK (N rows × R) while the absorbed query needs W_UKᵀ (R rows × N):
 * those are transposed once at load into owned f32 memory (MLA_SPEC §1.3).
 * @module
 */
import { GgufError } from "../errors.ts";
import type { GgufFile, GgufTensorInfo } from "../gguf/reader.ts";
import { type GgmlTypeInfo, rowBytes } from "../ggml_types.ts";
import type { DeepSeek2Hparams } from "./hparams.ts";
import { cacheRowWidth } from "./hparams.ts";

/** A weight matrix: `rows` rows of `cols` elements of `type`, at a native address. */
export interface WeightRef {
  readonly name: string;
  readonly type: GgmlTypeInfo;
  /** ne0: elements per row (the matmul's K). */
  readonly cols: number;
  /** ne1: rows (the matmul's N). */
  readonly rows: number;
  readonly address: bigint;
  /** Bytes of one row. */
  readonly rowBytes: number;
  /**
   * The layout the kernels read when the rows were repacked at load (an internal id, see
   * src/kernels/repack.ts); absent means the file's layout, `type.id`.
   */
  readonly kernelTypeId?: number;
}

/**
 * The type id to hand the kernels for a weight: its repacked layout if it has one, else its
 * file type.
 *
 * @param weight A weight reference.
 * @returns The kernel type id.
 * @example
 * ```ts ignore
 * kernelTypeOf(weights.output); // 2020 once IQ4_NL rows are repacked, else 20
 * ```
 */
export function kernelTypeOf(weight: WeightRef): number {
  return weight.kernelTypeId ?? weight.type.id;
}

/**
 * A stack of per-head (or per-expert) matrices: slice h starts at `address + h·sliceStride`
 * and holds `rows` rows of `cols` elements.
 */
export interface StackedWeightRef extends WeightRef {
  readonly slices: number;
  readonly sliceStride: number;
}

/** Weights of one layer; exactly one of `q` / `qA`+`qB`, and of `dense` / `moe`. */
export interface LayerWeights {
  readonly attnNorm: WeightRef;
  readonly q?: WeightRef;
  readonly qA?: WeightRef;
  readonly qANorm?: WeightRef;
  readonly qB?: WeightRef;
  /** {E, R+P}: latent ‖ rope key. */
  readonly kvAMqa: WeightRef;
  readonly kvANorm: WeightRef;
  /** Per head W_UKᵀ: R rows of N — qa_h = kB_h · qn_h. */
  readonly kB: StackedWeightRef;
  /** Per head W_UV: V rows of R — out_h = vB_h · o_h. */
  readonly vB: StackedWeightRef;
  readonly attnOutput: WeightRef;
  readonly ffnNorm: WeightRef;
  readonly dense?: { gate: WeightRef; up: WeightRef; down: WeightRef };
  readonly moe?: {
    gateInp: WeightRef;
    expProbsB?: WeightRef;
    gateExps: StackedWeightRef;
    upExps: StackedWeightRef;
    downExps: StackedWeightRef;
    shared?: { gate: WeightRef; up: WeightRef; down: WeightRef };
  };
}

/** All model weights plus the owned buffers made at load (freed by the caller's `free`). */
export interface DeepSeek2Weights {
  readonly tokenEmbd: WeightRef;
  readonly outputNorm: WeightRef;
  readonly output: WeightRef;
  readonly layers: readonly LayerWeights[];
}

/** Allocates native memory that outlives the call; returns its address and a writable view. */
export type NativeAlloc = (bytes: number) => { address: bigint; view: Uint8Array };

/** Dequantizes `n` elements of `type` from `bytes` to float (used once per legacy W_UK). */
export type Dequantize = (typeId: number, bytes: Uint8Array, n: number) => ArrayLike<number>;

function expectDims(info: GgufTensorInfo, dims: number[]): void {
  const got = [...info.dims];
  while (got.length > dims.length && got[got.length - 1] === 1) got.pop();
  if (got.length !== dims.length || got.some((d, i) => d !== dims[i])) {
    throw new GgufError(
      `Tensor "${info.name}" has shape [${info.dims.join(", ")}], expected [${dims.join(", ")}]`,
      { tensor: info.name },
    );
  }
}

function ref(file: GgufFile, name: string, dims: number[]): WeightRef {
  const info = file.tensor(name);
  expectDims(info, dims);
  return {
    name,
    type: info.type,
    cols: dims[0],
    rows: dims[1] ?? 1,
    address: file.tensorAddress(name),
    rowBytes: rowBytes(info.type, dims[0]),
  };
}

/** A norm or bias vector; these must be F32 (llama.cpp keeps 1-D tensors F32). */
function f32Vector(file: GgufFile, name: string, n: number): WeightRef {
  const r = ref(file, name, [n]);
  if (r.type.name !== "F32") {
    throw new GgufError(`Tensor "${name}" is ${r.type.name}; 1-D tensors must be F32`, {
      tensor: name,
    });
  }
  return r;
}

function stacked(file: GgufFile, name: string, dims: [number, number, number]): StackedWeightRef {
  const r = ref(file, name, dims);
  return { ...r, slices: dims[2], sliceStride: r.rowBytes * dims[1] };
}

/**
 * Looks up and shape-checks every weight of a DeepSeek2 file.
 *
 * @param file The open model file.
 * @param hp Its hyper-parameters.
 * @param alloc Native allocator for weights rebuilt at load (legacy W_UK).
 * @param dequantize Dequantizer used for that rebuild.
 * @returns The weight table.
 * @throws {GgufError} Naming the first missing or mis-shaped tensor.
 * @example
 * ```ts ignore
 * const weights = loadWeights(file, readHparams(file), alloc, dequantize);
 * console.log(weights.layers[0].kvAMqa.rows); // 576
 * ```
 */
export function loadWeights(
  file: GgufFile,
  hp: DeepSeek2Hparams,
  alloc: NativeAlloc,
  dequantize: Dequantize,
): DeepSeek2Weights {
  const E = hp.nEmbd;
  const layers: LayerWeights[] = [];
  for (let il = 0; il < hp.nLayer; il++) layers.push(layerWeights(file, hp, il, alloc, dequantize));
  const vocab = file.tensor("token_embd.weight").dims[1];
  if (vocab !== hp.nVocab) {
    throw new GgufError(`token_embd has ${vocab} rows but the vocabulary has ${hp.nVocab}`, {
      tensor: "token_embd.weight",
    });
  }
  return {
    tokenEmbd: ref(file, "token_embd.weight", [E, hp.nVocab]),
    outputNorm: f32Vector(file, "output_norm.weight", E),
    // ik requires output.weight; mainline falls back to the tied embedding — so do we.
    output: file.tensors.has("output.weight")
      ? ref(file, "output.weight", [E, hp.nVocab])
      : ref(file, "token_embd.weight", [E, hp.nVocab]),
    layers,
  };
}

function layerWeights(
  file: GgufFile,
  hp: DeepSeek2Hparams,
  il: number,
  alloc: NativeAlloc,
  dequantize: Dequantize,
): LayerWeights {
  const p = `blk.${il}.`;
  const E = hp.nEmbd;
  const H = hp.nHead;
  const N = hp.nEmbdHeadQkNope;
  const P = hp.nRot;
  const R = hp.kvLoraRank;
  const V = hp.nEmbdHeadV;
  const qWidth = H * (N + P);
  const q = hp.qLoraRank === 0 ? { q: ref(file, `${p}attn_q.weight`, [E, qWidth]) } : {
    qA: ref(file, `${p}attn_q_a.weight`, [E, hp.qLoraRank]),
    qANorm: f32Vector(file, `${p}attn_q_a_norm.weight`, hp.qLoraRank),
    qB: ref(file, `${p}attn_q_b.weight`, [hp.qLoraRank, qWidth]),
  };
  const { kB, vB } = hp.layout === "kb-vb"
    ? {
      kB: stacked(file, `${p}attn_k_b.weight`, [N, R, H]),
      vB: stacked(file, `${p}attn_v_b.weight`, [R, V, H]),
    }
    : splitKvB(file, `${p}attn_kv_b.weight`, hp, alloc, dequantize);
  const ffn = il < hp.nLeadingDense
    ? {
      dense: {
        gate: ref(file, `${p}ffn_gate.weight`, [E, hp.nFf]),
        up: ref(file, `${p}ffn_up.weight`, [E, hp.nFf]),
        down: ref(file, `${p}ffn_down.weight`, [hp.nFf, E]),
      },
    }
    : { moe: moeWeights(file, hp, p) };
  return {
    attnNorm: f32Vector(file, `${p}attn_norm.weight`, E),
    ...q,
    kvAMqa: ref(file, `${p}attn_kv_a_mqa.weight`, [E, cacheRowWidth(hp)]),
    kvANorm: f32Vector(file, `${p}attn_kv_a_norm.weight`, R),
    kB,
    vB,
    attnOutput: ref(file, `${p}attn_output.weight`, [H * V, E]),
    ffnNorm: f32Vector(file, `${p}ffn_norm.weight`, E),
    ...ffn,
  };
}

function moeWeights(file: GgufFile, hp: DeepSeek2Hparams, p: string): LayerWeights["moe"] {
  const E = hp.nEmbd;
  const F = hp.nFfExp;
  const X = hp.nExpert;
  const sharedWidth = F * hp.nExpertShared;
  const shared = hp.nExpertShared > 0
    ? {
      gate: ref(file, `${p}ffn_gate_shexp.weight`, [E, sharedWidth]),
      up: ref(file, `${p}ffn_up_shexp.weight`, [E, sharedWidth]),
      down: ref(file, `${p}ffn_down_shexp.weight`, [sharedWidth, E]),
    }
    : undefined;
  const gateInp = ref(file, `${p}ffn_gate_inp.weight`, [E, X]);
  return {
    gateInp,
    expProbsB: file.tensors.has(`${p}exp_probs_b.bias`)
      ? f32Vector(file, `${p}exp_probs_b.bias`, X)
      : undefined,
    gateExps: stacked(file, `${p}ffn_gate_exps.weight`, [E, F, X]),
    upExps: stacked(file, `${p}ffn_up_exps.weight`, [E, F, X]),
    downExps: stacked(file, `${p}ffn_down_exps.weight`, [F, E, X]),
    shared,
  };
}

/**
 * Legacy `attn_kv_b` {R, H·(N+V)}: row h·(N+V)+j is W_UK,h row j (j < N) or W_UV,h row j−N.
 * W_UV is used in place (slice h starts N rows into head h's block); W_UK is transposed per head
 * into f32 {N, R, H} so both layouts feed the same per-head matmul.
 */
function splitKvB(
  file: GgufFile,
  name: string,
  hp: DeepSeek2Hparams,
  alloc: NativeAlloc,
  dequantize: Dequantize,
): { kB: StackedWeightRef; vB: StackedWeightRef } {
  const H = hp.nHead;
  const N = hp.nEmbdHeadQkNope;
  const R = hp.kvLoraRank;
  const V = hp.nEmbdHeadV;
  const kv = ref(file, name, [R, H * (N + V)]);
  const bytes = file.tensorBytes(name);
  const owned = alloc(H * R * N * 4);
  const out = new Float32Array(owned.view.buffer, owned.view.byteOffset, H * R * N);
  for (let h = 0; h < H; h++) {
    const start = h * (N + V) * kv.rowBytes;
    const uk = dequantize(kv.type.id, bytes.subarray(start, start + N * kv.rowBytes), N * R);
    // uk[d·R + c] = W_UK[d][c]  →  out[(h·R + c)·N + d]
    for (let d = 0; d < N; d++) {
      for (let c = 0; c < R; c++) out[(h * R + c) * N + d] = uk[d * R + c];
    }
  }
  const f32 = { id: 0, name: "F32", blockElements: 1, blockBytes: 4 } as GgmlTypeInfo;
  return {
    kB: {
      name: `${name} (W_UKᵀ, f32)`,
      type: f32,
      cols: N,
      rows: R,
      address: owned.address,
      rowBytes: N * 4,
      slices: H,
      sliceStride: R * N * 4,
    },
    vB: {
      ...kv,
      name: `${name} (W_UV rows)`,
      rows: V,
      address: kv.address + BigInt(N * kv.rowBytes),
      slices: H,
      sliceStride: (N + V) * kv.rowBytes,
    },
  };
}

/**
 * Rebuilds the table with `f` applied to every weight a matmul or MoE node reads (every matrix
 * but the token embedding, which is only read a row at a time).
 *
 * @param weights A weight table.
 * @param f Maps one weight (may return it unchanged).
 * @returns The new table.
 * @example
 * ```ts ignore
 * mapMatmulWeights(weights, (w) => { console.log(w.name); return w; });
 * ```
 */
export function mapMatmulWeights(
  weights: DeepSeek2Weights,
  f: <T extends WeightRef>(w: T) => T,
): DeepSeek2Weights {
  const opt = <T extends WeightRef>(w: T | undefined) => (w === undefined ? undefined : f(w));
  const layers = weights.layers.map((l): LayerWeights => ({
    ...l,
    q: opt(l.q),
    qA: opt(l.qA),
    qB: opt(l.qB),
    kvAMqa: f(l.kvAMqa),
    kB: f(l.kB),
    vB: f(l.vB),
    attnOutput: f(l.attnOutput),
    dense: l.dense && { gate: f(l.dense.gate), up: f(l.dense.up), down: f(l.dense.down) },
    moe: l.moe && {
      ...l.moe,
      gateExps: f(l.moe.gateExps),
      upExps: f(l.moe.upExps),
      downExps: f(l.moe.downExps),
      shared: l.moe.shared && {
        gate: f(l.moe.shared.gate),
        up: f(l.moe.shared.up),
        down: f(l.moe.shared.down),
      },
    },
  }));
  return { ...weights, layers, output: f(weights.output) };
}
