/**
 * The mixture-of-experts FFN through the Zig kernel: for each token, its selected experts'
 * gate·SiLU·up then down projections, weighted and summed (MLA_SPEC §1.9 step 7).
 * @module
 */
import { native } from "../../ffi/library.ts";
import { unwrap } from "../../ffi/status.ts";
import { OptionError } from "../errors.ts";
import type { GgmlTypeId } from "../ggml_types.ts";
import type { ThreadPool } from "../thread_pool.ts";
import { activationFormat, checkRowLength, weightRowBytes } from "./quants.ts";

/** Geometry of one MoE layer's expert tensors. */
export interface MoeShape {
  /** Type of ffn_gate_exps (ne = {nEmbd, nFf, nExpert}). */
  gateType: GgmlTypeId;
  /** Type of ffn_up_exps (same shape as gate; same activation format as gate). */
  upType: GgmlTypeId;
  /** Type of ffn_down_exps (ne = {nFf, nEmbd, nExpert}). */
  downType: GgmlTypeId;
  /** Model width. */
  nEmbd: number;
  /** Expert hidden width. */
  nFf: number;
  /** Experts in the tensors. */
  nExpert: number;
}

/**
 * Scratch bytes for `t` tokens with `kUsed` experts each.
 *
 * @param shape The layer geometry.
 * @param t Tokens.
 * @param kUsed Experts per token.
 * @returns Bytes.
 * @example
 * ```ts
 * const bytes = moeScratchBytes({ gateType: 20, upType: 20, downType: 20, nEmbd: 2048, nFf: 1408, nExpert: 64 }, 1, 6);
 * ```
 */
export function moeScratchBytes(shape: MoeShape, t: number, kUsed: number): number {
  checkShape(shape, t, kUsed);
  const out = new BigUint64Array(1);
  unwrap(
    native().fm_moe_scratch_bytes(
      shape.gateType,
      shape.upType,
      shape.downType,
      BigInt(shape.nEmbd),
      BigInt(shape.nFf),
      BigInt(shape.nExpert),
      BigInt(t),
      BigInt(kUsed),
      out,
    ),
    "sizing MoE scratch",
  );
  return Number(out[0]);
}

/** Operands of one MoE FFN call. */
export interface MoeOptions extends MoeShape {
  /** Packed gate experts: nExpert × nFf rows of nEmbd elements. */
  gate: Uint8Array;
  /** Packed up experts, as gate. */
  up: Uint8Array;
  /** Packed down experts: nExpert × nEmbd rows of nFf elements. */
  down: Uint8Array;
  /** (t, kUsed) expert ids in [0, nExpert). */
  ids: Int32Array;
  /** (t, kUsed) routing weights. */
  weights: Float32Array;
  /** (t, nEmbd) input. */
  x: Float32Array;
  /** Experts per token. */
  kUsed: number;
  /** (t, nEmbd) output; allocated when absent. */
  y?: Float32Array;
  /** Add into `y` instead of overwriting it (e.g. on top of the shared experts' output). */
  accumulate?: boolean;
  /** Reusable scratch of at least `moeScratchBytes` bytes. */
  scratch?: Uint8Array;
}

/**
 * Runs the MoE FFN for every token of `x` on the pool.
 *
 * @param pool The thread pool.
 * @param options Tensors, routing and input.
 * @returns The (t, nEmbd) output.
 * @example
 * ```ts
 * const y = moeFfn(pool, { gateType, upType, downType, nEmbd, nFf, nExpert, gate, up, down, ids, weights, x, kUsed: 6 });
 * ```
 */
export function moeFfn(pool: ThreadPool, options: MoeOptions): Float32Array {
  const { nEmbd, nFf, nExpert, kUsed } = options;
  const t = options.x.length / nEmbd;
  checkShape(options, t, kUsed);
  const need = (name: string, got: number, want: number) => {
    if (got < want) throw new OptionError(`${name} needs ${want} elements or bytes, got ${got}`);
  };
  need("gate", options.gate.byteLength, weightRowBytes(options.gateType, nEmbd) * nFf * nExpert);
  need("up", options.up.byteLength, weightRowBytes(options.upType, nEmbd) * nFf * nExpert);
  need("down", options.down.byteLength, weightRowBytes(options.downType, nFf) * nEmbd * nExpert);
  need("ids", options.ids.length, t * kUsed);
  need("weights", options.weights.length, t * kUsed);
  for (let i = 0; i < t * kUsed; i++) {
    const id = options.ids[i];
    if (!(id >= 0 && id < nExpert)) {
      throw new OptionError(`Expert id ${id} at index ${i} is outside 0..${nExpert - 1}`);
    }
  }
  const y = options.y ?? new Float32Array(t * nEmbd);
  need("y", y.length, t * nEmbd);
  const scratchBytes = moeScratchBytes(options, t, kUsed);
  const scratch = options.scratch ?? new Uint8Array(scratchBytes);
  need("scratch", scratch.byteLength, scratchBytes);
  unwrap(
    native().fm_moe(
      pool.handle,
      options.gateType,
      options.gate,
      options.upType,
      options.up,
      options.downType,
      options.down,
      BigInt(nEmbd),
      BigInt(nFf),
      BigInt(nExpert),
      BigInt(t),
      BigInt(kUsed),
      options.ids,
      options.weights,
      options.x,
      y,
      options.accumulate ? 1 : 0,
      scratch,
      BigInt(scratch.byteLength),
    ),
    `running the MoE FFN for ${t} token(s)`,
  );
  return y;
}

function checkShape(shape: MoeShape, t: number, kUsed: number): void {
  checkRowLength(shape.gateType, shape.nEmbd);
  checkRowLength(shape.upType, shape.nEmbd);
  checkRowLength(shape.downType, shape.nFf);
  if (activationFormat(shape.gateType) !== activationFormat(shape.upType)) {
    throw new OptionError(
      `Gate and up experts must share an activation format, got types ${shape.gateType} and ${shape.upType}`,
    );
  }
  if (!Number.isInteger(t) || t <= 0) {
    throw new OptionError(`x must hold whole rows of nEmbd, got t=${t}`);
  }
  if (!Number.isInteger(shape.nExpert) || shape.nExpert <= 0) {
    throw new OptionError(`nExpert must be a positive integer, got ${shape.nExpert}`);
  }
  if (!Number.isInteger(kUsed) || kUsed <= 0 || kUsed > shape.nExpert) {
    throw new OptionError(`kUsed must be in 1..${shape.nExpert}, got ${kUsed}`);
  }
}
