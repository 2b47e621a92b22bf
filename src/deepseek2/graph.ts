/**
 * The DeepSeek2 forward pass as a node table (MLA_SPEC §1.4–1.9), built once per context and
 * run by `zig-kernels/src/graph.zig` in one FFI call per step. Reading `buildForward` top to
 * bottom is reading the model: embedding, per layer attention with the absorbed MLA query,
 * FlashMLA over the latent cache, W_UV and W_o, then the dense or MoE FFN, then the head.
 *
 * Every buffer is planned here for the largest batch (`batch` rows) and lives in one native
 * arena; nodes hold addresses and strides, never sizes that change per step — the executor
 * takes the row count (n_tokens, or n_outputs for the head) from the step.
 * @module
 */
import { OptionError } from "../errors.ts";
import type { GgmlTypeId } from "../ggml_types.ts";
import { flashMlaScratchBytes, type KvCacheType } from "../kernels/flash_mla.ts";
import { matmulScratchBytes } from "../kernels/matmul.ts";
import type { RopeParams } from "../kernels/ops.ts";
import { deepseek2Rope } from "../kernels/rope_params.ts";
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import type { KvCache } from "../kv_cache.ts";
import { cacheRowWidth, type DeepSeek2Hparams, qkHeadWidth } from "./hparams.ts";
import { NativeBuffer } from "./native_memory.ts";
import {
  type DeepSeek2Weights,
  kernelTypeOf,
  type StackedWeightRef,
  type WeightRef,
} from "./weights.ts";

/** Op ids; mirror of `graph.Op` in graph.zig (slot layouts are documented there). */
export const Op = {
  copyRows: 0,
  rmsNorm: 1,
  rope: 2,
  addScale: 3,
  siluMul: 4,
  moeRoute: 5,
  kvWrite: 6,
  matmul: 7,
  flashMla: 8,
  getRows: 9,
  moe: 10,
} as const;

/** Node rows are the step's n_outputs (the output head). */
export const FLAG_OUTPUT_ROWS = 1;
/** The next node does not depend on this one: no barrier in between. */
export const FLAG_NO_BARRIER = 2;
/** u64 words per node: op|flags, then 15 argument slots (128 bytes). */
export const NODE_WORDS = 16;

const ADD_SCALE = { add: 0, scale: 1, addScaled: 2, copy: 3 } as const;
const STRATEGY_IDS = { auto: 0, heads: 1, kvsplit: 2 } as const;

/** What a node's time counts as in a profile. */
export type NodeKind = "matmul" | "moe" | "attention" | "other";

/** A node's name (GGUF tensor names where there is one) and profile category. */
export interface NodeLabel {
  readonly name: string;
  readonly kind: NodeKind;
}

/** The node table in the executor's binary layout, plus a label per node. */
export class NodeTable {
  #words = new BigUint64Array(NODE_WORDS * 1024);
  readonly labels: NodeLabel[] = [];

  /** Number of nodes. */
  get count(): number {
    return this.labels.length;
  }

  /** The table's bytes, `count × 128`. */
  get words(): BigUint64Array {
    return this.#words.subarray(0, this.count * NODE_WORDS);
  }

  /** Appends a node; `args` are addresses, counts, strides or `f32Bits` values. */
  push(op: number, args: (number | bigint)[], label: NodeLabel, flags = 0): void {
    if (args.length > NODE_WORDS - 1) {
      throw new RangeError(`Too many node arguments for ${label.name}`);
    }
    if ((this.count + 1) * NODE_WORDS > this.#words.length) {
      const grown = new BigUint64Array(this.#words.length * 2);
      grown.set(this.#words);
      this.#words = grown;
    }
    const base = this.count * NODE_WORDS;
    this.#words[base] = BigInt(op) | (BigInt(flags) << 32n);
    args.forEach((v, i) => {
      if (typeof v === "number" && (!Number.isSafeInteger(v) || v < 0)) {
        throw new RangeError(
          `Node ${label.name} argument ${i} is ${v}, not a non-negative integer`,
        );
      }
      this.#words[base + 1 + i] = BigInt(v);
    });
    this.labels.push(label);
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The bit pattern of `x` as an f32, for a node slot. */
export function f32Bits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0];
}

/** Context-level choices that shape the graph. */
export interface GraphOptions {
  /** Largest number of tokens per step (prefill batch). */
  batch: number;
  /** Threads of the pool the graph runs on (FlashMLA scratch is per thread). */
  threads: number;
  cacheType: KvCacheType;
  attention: "auto" | "heads" | "kvsplit";
}

/** Named buffers inside one arena, 64-byte aligned. */
class Plan {
  readonly offsets = new Map<string, number>();
  bytes = 0;

  add(name: string, bytes: number): void {
    this.offsets.set(name, this.bytes);
    this.bytes += Math.ceil(Math.max(bytes, 64) / 64) * 64;
  }
}

/** A built forward graph: the node table, its arena, and where the I/O buffers are. */
export interface ForwardGraph extends Disposable {
  readonly nodes: NodeTable;
  readonly arena: NativeBuffer;
  /** Rows the buffers were planned for. */
  readonly batch: number;
  /** Input token ids, i32[batch]. */
  readonly tokenIds: Int32Array;
  /** Input positions, i32[batch]. */
  readonly positions: Int32Array;
  /** Output logits, f32[batch × vocab]; the first n_outputs rows are valid after a step. */
  readonly logits: Float32Array;
  /** Address of `tokenIds` and `positions` for the step struct. */
  readonly tokenIdsAddress: bigint;
  readonly positionsAddress: bigint;
  /** A view of a planned buffer (f32), for tests and debugging: `count` floats. */
  buffer(name: string, count: number): Float32Array;
  close(): void;
}

/** RoPE parameters and softmax scale for deepseek2 (MLA_SPEC §1.5–1.6). */
/** RoPE parameters for the rope nodes plus the attention softmax scale. */
export interface RopeSettings extends RopeParams {
  /** Softmax scale of q·k: mscale² / sqrt(qk_nope + qk_rope). */
  kqScale: number;
}

/**
 * llama.cpp's deepseek2 bookkeeping (MLA_SPEC §1.5, computed once in `deepseek2Rope`): all of
 * mscale² goes into kq_scale and the rope magnitude is pre-divided so cos/sin stay unit.
 *
 * @param hp Hyper-parameters.
 * @returns Settings for the rope nodes and the attention scale.
 * @example
 * ```ts ignore
 * ropeSettings(hp).kqScale; // 0.1147214 for V2-Lite
 * ```
 */
export function ropeSettings(hp: DeepSeek2Hparams): RopeSettings {
  const scaled = hp.ropeFreqScale !== 1;
  const rope = deepseek2Rope({
    nRot: hp.nRot,
    keyLength: qkHeadWidth(hp),
    freqBase: hp.ropeFreqBase,
    scalingType: hp.yarn ? "yarn" : scaled ? "linear" : "none",
    scalingFactor: 1 / hp.ropeFreqScale,
    nCtxOrig: hp.nCtxOrig,
    yarnLogMultiplier: hp.yarnLogMultiplier,
    attnFactor: hp.ropeAttnFactor,
  });
  return { ...rope.params, kqScale: rope.kqScale };
}

/**
 * Plans the buffers and builds the forward node table of a context.
 *
 * @param hp Hyper-parameters.
 * @param w Weights (addresses into the mapped file).
 * @param cache The context's KV cache.
 * @param opts Batch size, threads, cache type and attention strategy.
 * @returns The graph; `close()` frees its arena.
 * @example
 * ```ts ignore
 * using graph = buildForward(hp, weights, cache, { batch: 512, threads: 2, cacheType: "f16", attention: "auto" });
 * console.log(graph.nodes.count);
 * ```
 */
export function buildForward(
  hp: DeepSeek2Hparams,
  w: DeepSeek2Weights,
  cache: KvCache,
  opts: GraphOptions,
): ForwardGraph {
  if (!Number.isInteger(opts.batch) || opts.batch < 1 || opts.batch > 8192) {
    throw new OptionError(
      `Option "batchSize" must be an integer from 1 to 8192, got ${opts.batch}`,
    );
  }
  const plan = planBuffers(hp, opts.batch);
  // Pass 1 sizes the shared scratch (every node meets a barrier before the next reuses it).
  let scratchBytes = 0;
  buildNodes(hp, w, cache, opts, (name) => (name === "scratch" ? 0n : 1n), (b) => {
    scratchBytes = Math.max(scratchBytes, b);
  });
  plan.add("scratch", scratchBytes);
  const arena = new NativeBuffer(plan.bytes);
  try {
    const addr = (name: string): bigint => {
      const offset = plan.offsets.get(name);
      if (offset === undefined) throw new Error(`No buffer "${name}" in the plan`);
      return arena.address + BigInt(offset);
    };
    const nodes = buildNodes(hp, w, cache, opts, addr, () => {}, scratchBytes);
    const B = opts.batch;
    arena.f32(plan.offsets.get("one_weights")!, B).fill(1);
    return {
      nodes,
      arena,
      batch: B,
      tokenIds: arena.i32(plan.offsets.get("token_ids")!, B),
      positions: arena.i32(plan.offsets.get("positions")!, B),
      logits: arena.f32(plan.offsets.get("logits")!, B * hp.nVocab),
      tokenIdsAddress: addr("token_ids"),
      positionsAddress: addr("positions"),
      buffer: (name: string, count: number) => {
        const offset = plan.offsets.get(name);
        if (offset === undefined) throw new RangeError(`No buffer "${name}" in the plan`);
        return arena.f32(offset, count);
      },
      close: () => arena.close(),
      [Symbol.dispose]: () => arena.close(),
    };
  } catch (e) {
    arena.close();
    throw e;
  }
}

/** Every activation buffer, sized for `B` rows (f32 unless noted). */
function planBuffers(hp: DeepSeek2Hparams, B: number): Plan {
  const E = hp.nEmbd;
  const H = hp.nHead;
  const R = hp.kvLoraRank;
  const K = cacheRowWidth(hp);
  const p = new Plan();
  p.add("token_ids", B * 4); // i32[B]
  p.add("positions", B * 4); // i32[B]
  p.add("x", B * E * 4); // [B][E] residual stream
  p.add("h", B * E * 4); // [B][E] normed input of a sub-block
  if (hp.qLoraRank > 0) p.add("q_lat", B * hp.qLoraRank * 4); // [B][q_lora]
  p.add("q", B * H * qkHeadWidth(hp) * 4); // [B][H][N+P]
  p.add("kv", B * K * 4); // [B][R+P]: latent ‖ rope key, one cache row per token
  p.add("q_abs", B * H * K * 4); // [B][H][R+P]: absorbed query rows in cache order
  p.add("attn", B * H * R * 4); // [B][H][R]: FlashMLA output (latent per head)
  p.add("heads", B * H * hp.nEmbdHeadV * 4); // [B][H·V]
  p.add("attn_out", B * E * 4); // [B][E]
  p.add("one_ids", B * 4); // i32[B] = 0: the single "expert" of a dense FFN
  p.add("one_weights", B * 4); // f32[B] = 1
  if (hp.nExpert > 0) {
    p.add("router", B * hp.nExpert * 4); // [B][n_expert] router logits
    p.add("expert_ids", B * hp.nExpertUsed * 4); // i32[B][k]
    p.add("expert_weights", B * hp.nExpertUsed * 4); // [B][k]
  }
  p.add("x_out", B * E * 4); // [B][E] last rows of x, for the head
  p.add("logits", B * hp.nVocab * 4); // [B][vocab]
  return p;
}

type Addr = (name: string) => bigint;

/** A dense SwiGLU as a one-expert FFN spec (ids all 0, weights all 1). */
function dense(f: { gate: WeightRef; up: WeightRef; down: WeightRef }): FfnSpec {
  return {
    ...f,
    gateUpStride: 0,
    downStride: 0,
    nFf: f.gate.rows,
    nExpert: 1,
    k: 1,
    ids: "one_ids",
    weights: "one_weights",
  };
}

/** The forward pass. `addr` resolves buffer names; `needScratch` collects scratch sizes. */
function buildNodes(
  hp: DeepSeek2Hparams,
  w: DeepSeek2Weights,
  cache: KvCache,
  opts: GraphOptions,
  addr: Addr,
  needScratch: (bytes: number) => void,
  scratchBytes = 0,
): NodeTable {
  const g = new NodeTable();
  const B = opts.batch;
  const E = hp.nEmbd;
  const H = hp.nHead;
  const N = hp.nEmbdHeadQkNope;
  const P = hp.nRot;
  const R = hp.kvLoraRank;
  const V = hp.nEmbdHeadV;
  const K = cacheRowWidth(hp); // 576
  const QH = qkHeadWidth(hp); // 192
  const eps = f32Bits(hp.rmsEps);
  const rope = ropeSettings(hp);
  const scratch = addr("scratch");

  const matmul = (
    wt: WeightRef,
    x: string | bigint,
    xStride: number,
    y: string | bigint,
    yStride: number,
    label: string,
    kind: NodeKind = "matmul",
    flags = 0,
  ) => {
    const need = matmulScratchBytes(wt.type.id as GgmlTypeId, wt.cols, B);
    needScratch(need);
    g.push(
      Op.matmul,
      [
        kernelTypeOf(wt),
        wt.address,
        wt.rowBytes,
        wt.cols,
        wt.rows,
        typeof x === "string" ? addr(x) : x,
        xStride,
        typeof y === "string" ? addr(y) : y,
        yStride,
        scratch,
        scratchBytes,
        1,
        0,
        0,
        0,
      ],
      { name: label, kind },
      flags,
    );
  };
  /** One product per head: slice h of `wt` × x + h·xHead → y + h·yHead (floats). */
  const matmulHeads = (
    wt: StackedWeightRef,
    x: string,
    xStride: number,
    xHead: number,
    y: string,
    yStride: number,
    yHead: number,
    label: string,
    flags = 0,
  ) => {
    needScratch(matmulScratchBytes(wt.type.id as GgmlTypeId, wt.cols, B * wt.slices));
    g.push(
      Op.matmul,
      [
        kernelTypeOf(wt),
        wt.address,
        wt.rowBytes,
        wt.cols,
        wt.rows,
        addr(x),
        xStride,
        addr(y),
        yStride,
        scratch,
        scratchBytes,
        wt.slices,
        wt.sliceStride,
        xHead,
        yHead,
      ],
      { name: label, kind: "attention" },
      flags,
    );
  };
  const rmsNorm = (
    src: string,
    dst: string,
    stride: number,
    offset: number,
    width: number,
    weight: WeightRef,
    label: string,
    flags = 0,
  ) => {
    g.push(Op.rmsNorm, [addr(src), addr(dst), stride, stride, offset, width, weight.address, eps], {
      name: label,
      kind: "other",
    }, flags);
  };
  const ropeNode = (
    buf: string,
    tokenStride: number,
    headStride: number,
    nHeads: number,
    offset: number,
    label: string,
    flags = 0,
  ) => {
    g.push(
      Op.rope,
      [
        addr(buf),
        tokenStride,
        headStride,
        nHeads,
        offset,
        rope.nDims,
        f32Bits(rope.freqBase),
        f32Bits(rope.freqScale),
        f32Bits(rope.extFactor),
        f32Bits(rope.attnFactor),
        f32Bits(rope.betaFast),
        f32Bits(rope.betaSlow),
        rope.nCtxOrig,
      ],
      { name: label, kind: "other" },
      flags,
    );
  };
  const add = (dst: string, src: string, width: number, label: string) => {
    g.push(Op.addScale, [
      ADD_SCALE.add,
      addr(dst),
      addr(src),
      addr(dst),
      width,
      width,
      width,
      width,
      f32Bits(1),
    ], { name: label, kind: "other" });
  };

  // x = token_embd[token]                                       x: [T][E]
  g.push(Op.getRows, [
    w.tokenEmbd.type.id,
    w.tokenEmbd.address,
    w.tokenEmbd.rowBytes,
    E,
    addr("x"),
    E,
    w.tokenEmbd.rows,
  ], { name: "token_embd", kind: "other" });

  for (let il = 0; il < hp.nLayer; il++) {
    const L = w.layers[il];
    const p = `blk.${il}`;
    // h = RMSNorm(x)·attn_norm                                 h: [T][E]
    rmsNorm("x", "h", E, 0, E, L.attnNorm, `${p}.attn_norm`);
    // q = W_q h, or W_qb·RMSNorm(W_qa h) with q-LoRA           q: [T][H][N+P]
    if (L.q) matmul(L.q, "h", E, "q", H * QH, `${p}.attn_q`);
    else {
      matmul(L.qA!, "h", E, "q_lat", hp.qLoraRank, `${p}.attn_q_a`);
      rmsNorm("q_lat", "q_lat", hp.qLoraRank, 0, hp.qLoraRank, L.qANorm!, `${p}.attn_q_a_norm`);
      matmul(L.qB!, "q_lat", hp.qLoraRank, "q", H * QH, `${p}.attn_q_b`);
    }
    // kv = W_kv_a h = [c (R) ‖ k_r (P)]; c ← RMSNorm(c)·kv_a_norm; k_r ← RoPE(k_r)   kv: [T][R+P]
    matmul(L.kvAMqa, "h", E, "kv", K, `${p}.attn_kv_a_mqa`);
    rmsNorm("kv", "kv", K, 0, R, L.kvANorm, `${p}.attn_kv_a_norm`, FLAG_NO_BARRIER);
    ropeNode("kv", K, K, 1, R, `${p}.rope_k`, FLAG_NO_BARRIER);
    // q_r ← RoPE(q_r) for every head (the last P of each N+P head row)
    ropeNode("q", H * QH, QH, H, N, `${p}.rope_q`);
    // cache[n_past + t] = kv[t]  (quantized to the cache type)
    g.push(Op.kvWrite, [cache.typeId, cache.layerAddress(il), addr("kv"), cache.capacity], {
      name: `${p}.kv_write`,
      kind: "attention",
    }, FLAG_NO_BARRIER);
    // q_abs[t][h] = [W_UK,hᵀ q_n[t][h] (R) ‖ q_r[t][h] (P)]    q_abs: [T][H][R+P]
    // (no barrier between: the copy writes the other columns of q_abs and uses no scratch)
    matmulHeads(L.kB, "q", H * QH, QH, "q_abs", H * K, K, `${p}.attn_k_b`, FLAG_NO_BARRIER);
    g.push(Op.copyRows, [
      addr("q") + BigInt(N * 4),
      H * QH,
      addr("q_abs") + BigInt(R * 4),
      H * K,
      P,
      H,
      QH,
      K,
      0,
    ], { name: `${p}.q_rope_copy`, kind: "other" });
    // attn[t][h] = Σ_s softmax_s(kq_scale·⟨q_abs[t][h], cache[s]⟩)·c(s)   attn: [T][H][R]
    needScratch(
      flashMlaScratchBytes({
        cacheType: opts.cacheType,
        nTokens: B,
        nHead: H,
        threads: opts.threads,
      }),
    );
    g.push(Op.flashMla, [
      cache.typeId,
      cache.layerAddress(il),
      addr("q_abs"),
      H,
      f32Bits(rope.kqScale),
      STRATEGY_IDS[opts.attention],
      addr("attn"),
      scratch,
      scratchBytes,
    ], { name: `${p}.flash_mla`, kind: "attention" });
    // heads[t][h] = W_UV,h attn[t][h]                          heads: [T][H·V]
    matmulHeads(L.vB, "attn", H * R, R, "heads", H * V, V, `${p}.attn_v_b`);
    // x += W_o heads
    matmul(L.attnOutput, "heads", H * V, "attn_out", E, `${p}.attn_output`);
    add("x", "attn_out", E, `${p}.attn_residual`);
    // h = RMSNorm(x)·ffn_norm; x += FFN(h)
    rmsNorm("x", "h", E, 0, E, L.ffnNorm, `${p}.ffn_norm`);
    if (L.dense) {
      // x += W_down(silu(W_gate h) ⊙ W_up h)
      ffnNode(
        g,
        dense(L.dense),
        hp,
        addr,
        scratch,
        scratchBytes,
        needScratch,
        B,
        `${p}.ffn`,
        "matmul",
      );
    } else {
      const m = L.moe!;
      const k = hp.nExpertUsed;
      // router → top-k experts and their weights (MLA_SPEC §1.9)
      matmul(m.gateInp, "h", E, "router", hp.nExpert, `${p}.ffn_gate_inp`, "moe");
      g.push(Op.moeRoute, [
        addr("router"),
        hp.nExpert,
        hp.nExpert,
        k,
        hp.expertGating === "softmax" ? 1 : 2,
        m.expProbsB?.address ?? 0n,
        hp.expertWeightsNorm ? 1 : 0,
        f32Bits(hp.expertWeightsScale),
        addr("expert_ids"),
        addr("expert_weights"),
      ], { name: `${p}.moe_route`, kind: "moe" });
      // x += Σ_j weight_j · down_e(silu(gate_e h) ⊙ up_e h)
      const routed: FfnSpec = {
        gate: m.gateExps,
        up: m.upExps,
        down: m.downExps,
        gateUpStride: m.gateExps.sliceStride,
        downStride: m.downExps.sliceStride,
        nFf: hp.nFfExp,
        nExpert: hp.nExpert,
        k,
        ids: "expert_ids",
        weights: "expert_weights",
      };
      ffnNode(g, routed, hp, addr, scratch, scratchBytes, needScratch, B, `${p}.ffn_moe`, "moe");
      // x += shared experts (one SwiGLU of width n_ff_exp · n_shared)
      if (m.shared) {
        ffnNode(
          g,
          dense(m.shared),
          hp,
          addr,
          scratch,
          scratchBytes,
          needScratch,
          B,
          `${p}.ffn_shexp`,
          "moe",
        );
      }
    }
  }
  // logits = W_output · RMSNorm(x)·output_norm, only for the last n_outputs rows
  g.push(Op.copyRows, [addr("x"), E, addr("x_out"), E, E, 1, 0, 0, 1], {
    name: "output_rows",
    kind: "other",
  }, FLAG_OUTPUT_ROWS);
  rmsNorm("x_out", "x_out", E, 0, E, w.outputNorm, "output_norm", FLAG_OUTPUT_ROWS);
  matmul(w.output, "x_out", E, "logits", hp.nVocab, "output", "matmul", FLAG_OUTPUT_ROWS);
  return g;
}

/** The matrices of a SwiGLU FFN as the moe node takes them (1-expert stacks for a dense FFN). */
interface FfnSpec {
  gate: WeightRef;
  up: WeightRef;
  down: WeightRef;
  /** Bytes between experts (0 for a dense FFN). */
  gateUpStride: number;
  downStride: number;
  nFf: number;
  nExpert: number;
  /** Experts per token and the buffers holding their ids / weights. */
  k: number;
  ids: string;
  weights: string;
}

/**
 * A SwiGLU FFN as one executor `moe` node (slot layout in graph.zig), accumulated into x:
 * x[t] += Σ_j weight[t][j] · down_e(silu(gate_e h[t]) ⊙ up_e h[t]), e = ids[t][j].
 * A dense FFN (layer 0, the shared experts) is the one-expert case with weight 1, so it gets
 * the same fused gate/up pass and no separate residual add.
 */
function ffnNode(
  g: NodeTable,
  f: FfnSpec,
  hp: DeepSeek2Hparams,
  addr: Addr,
  scratch: bigint,
  scratchBytes: number,
  needScratch: (bytes: number) => void,
  B: number,
  label: string,
  kind: NodeKind,
): void {
  if (kernelTypeOf(f.gate) !== kernelTypeOf(f.up) || f.gate.rowBytes !== f.up.rowBytes) {
    throw new OptionError(`${label}: gate and up weights must share a type`);
  }
  needScratch(moeScratchBytes(hp, f, B));
  g.push(Op.moe, [
    BigInt(kernelTypeOf(f.gate)) | (BigInt(kernelTypeOf(f.down)) << 16n) | (1n << 32n),
    f.gate.address,
    f.up.address,
    f.down.address,
    f.gate.rowBytes,
    f.down.rowBytes,
    f.gateUpStride,
    f.downStride,
    BigInt(hp.nEmbd) | (BigInt(f.nFf) << 32n),
    addr("h"),
    addr(f.ids),
    addr(f.weights),
    BigInt(f.k) | (BigInt(f.nExpert) << 16n) | (BigInt(scratchBytes) << 32n),
    addr("x"),
    scratch,
  ], { name: label, kind });
}

/** Scratch of the moe node, asked of the library that lays it out (moe.zig). */
function moeScratchBytes(hp: DeepSeek2Hparams, f: FfnSpec, B: number): number {
  const out = new BigUint64Array(1);
  unwrap(
    native().fm_graph_moe_scratch_bytes(
      kernelTypeOf(f.gate),
      kernelTypeOf(f.down),
      BigInt(hp.nEmbd),
      BigInt(f.nFf),
      BigInt(f.nExpert),
      BigInt(B),
      BigInt(f.k),
      out,
    ),
    "sizing the FFN scratch",
  );
  return Number(out[0]);
}
