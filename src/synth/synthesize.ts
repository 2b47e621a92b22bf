/**
 * `synthesizeModel`: writes a DeepSeek2 GGUF with real shapes and random weights. Small
 * tensors are Gaussian floats quantized block by block; big ones (the experts and the
 * embedding of a full-size model) are stitched from runs of a pool of such blocks, which is
 * what lets an 8.9 GB V2-Lite file be written in about a minute.
 * @module
 */
import { OptionError } from "../errors.ts";
import type { GgmlTypeInfo } from "../ggml_types.ts";
import type { GgufValue } from "../gguf/values.ts";
import { type GgufTensorSource, layoutGguf, writeGguf } from "../gguf/writer.ts";
import { encodeBlocks } from "./block_encoders.ts";
import {
  type PlannedTensor,
  planTensors,
  SYNTH_LAYOUTS,
  SYNTH_PRESETS,
  SYNTH_WEIGHT_TYPES,
  type SynthGeometry,
  type SynthLayout,
  type SynthPreset,
  type SynthWeightType,
  TINY,
  V2_LITE,
} from "./geometry.ts";
import { architectureMetadata } from "./metadata.ts";
import { SynthRandom } from "./random.ts";
import { resolveVocab, type SynthVocab } from "./vocab.ts";

/**
 * Version of the generator's output: bump it whenever the same `tiny` options would produce
 * different bytes, so cached fixtures (tests/helpers/tiny_model.ts) are made afresh. (Tiny
 * models never use the block pool, so pool changes alone do not need a bump.)
 */
export const SYNTH_VERSION = 3;

/** Options of `synthesizeModel` (all optional). */
export interface SynthOptions {
  /** Geometry preset; default `"tiny"`. */
  readonly preset?: SynthPreset;
  /** Type of the weight matrices; default `"IQ4_NL"`. */
  readonly wtype?: SynthWeightType;
  /** Number of layers; default the preset's (27 for v2-lite, 3 for tiny). */
  readonly layers?: number;
  /** Attention layout; default `"kb-vb"` (mainline MLA). */
  readonly layout?: SynthLayout;
  /** q LoRA rank (adds attn_q_a/attn_q_a_norm/attn_q_b); default 0 = none. */
  readonly qLoraRank?: number;
  /**
   * Vocabulary GGUF to copy `tokenizer.*` from, or `"builtin"` for the small built-in BPE
   * vocabulary; default the DeepSeek vocabulary if present, else the built-in one.
   */
  readonly vocab?: string;
  /** Seed of the random weights; default 0. */
  readonly seed?: number;
  /**
   * Tensors with more elements than this are stitched from a block pool instead of being
   * quantized element by element; default 2^22 for v2-lite and unlimited for tiny.
   */
  readonly exactElementsMax?: number;
  /** Called as bytes are written. */
  readonly onProgress?: (bytesWritten: number, bytesTotal: number) => void;
}

/** A model's complete plan: everything but the weight values. */
export interface SynthPlan {
  /** Sizes. */
  readonly geometry: SynthGeometry;
  /** Attention layout. */
  readonly layout: SynthLayout;
  /** Matrix weight type. */
  readonly wtype: SynthWeightType;
  /** Metadata in file order. */
  readonly metadata: [string, GgufValue][];
  /** Tensors in file order. */
  readonly tensors: PlannedTensor[];
  /** Where the vocabulary came from. */
  readonly vocabSource: string;
}

/** What `synthesizeModel` wrote. */
export interface SynthResult extends SynthPlan {
  /** Output path. */
  readonly path: string;
  /** File size in bytes. */
  readonly bytes: number;
  /** Wall time in seconds. */
  readonly seconds: number;
}

function choice<T extends string>(name: string, value: T, allowed: readonly string[]): T {
  if (!allowed.includes(value)) {
    throw new OptionError(`Option "${name}" must be one of ${allowed.join(", ")}, got "${value}"`);
  }
  return value;
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new OptionError(
      `Option "${name}" must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/**
 * Validates options and plans a model: geometry, metadata and tensor list.
 *
 * @param options Synthesis options.
 * @param vocab Tokenizer metadata (default: resolved from `options.vocab`).
 * @returns The plan.
 * @throws {OptionError} On a bad option. {GgufError} on an unreadable vocabulary.
 *
 * @example
 * ```ts
 * import { planModel } from "./synthesize.ts";
 * const plan = planModel({ preset: "tiny", wtype: "Q8_0" });
 * console.log(plan.tensors.length);
 * ```
 */
export function planModel(options: SynthOptions = {}, vocab?: SynthVocab): SynthPlan {
  const preset = choice("preset", options.preset ?? "tiny", SYNTH_PRESETS);
  const wtype = choice("wtype", options.wtype ?? "IQ4_NL", SYNTH_WEIGHT_TYPES);
  const layout = choice("layout", options.layout ?? "kb-vb", SYNTH_LAYOUTS);
  const base = preset === "v2-lite" ? V2_LITE : TINY;
  const nLayer = integer("layers", options.layers ?? base.nLayer, 1, 512);
  const qLoraRank = integer("q-lora", options.qLoraRank ?? 0, 0, 65536);
  if (qLoraRank % 32 !== 0) {
    throw new OptionError(`Option "q-lora" must be a multiple of 32, got ${qLoraRank}`);
  }
  const resolved = vocab ?? resolveVocab(options.vocab);
  const geometry: SynthGeometry = {
    ...base,
    nLayer,
    nLeadingDense: Math.min(base.nLeadingDense, nLayer),
    qLoraRank,
    nVocab: resolved.nVocab,
  };
  return {
    geometry,
    layout,
    wtype,
    metadata: [...architectureMetadata(geometry, layout, wtype), ...resolved.metadata],
    tensors: planTensors(geometry, { wtype, layout }),
    vocabSource: resolved.source,
  };
}

/** Elements generated per chunk of an exactly quantized tensor. */
const EXACT_CHUNK_ELEMENTS = 1 << 20;
/** Elements in a block pool. */
const POOL_ELEMENTS = 1 << 21;
/** Bytes per chunk of a pooled tensor. */
const POOLED_CHUNK_BYTES = 16 << 20;
/** Blocks copied per run from the pool. */
const POOL_RUN_BLOCKS = 256;

/** Gaussian floats quantized chunk by chunk, each chunk a whole number of rows. */
function* exactData(t: PlannedTensor, seed: number): Iterable<Uint8Array> {
  const rng = SynthRandom.forTensor(seed, t.name);
  const rowElements = t.dims[0];
  const elements = t.dims.reduce((a, b) => a * b, 1);
  const rowsPerChunk = Math.max(1, Math.floor(EXACT_CHUNK_ELEMENTS / rowElements));
  for (let done = 0; done < elements;) {
    const n = Math.min(rowsPerChunk * rowElements, elements - done);
    const x = new Float32Array(n);
    rng.fillGaussian(x, t.std, t.mean);
    yield encodeBlocks(t.type, x);
    done += n;
  }
}

/**
 * `attn_k_b` or `attn_v_b` from the Gaussian stream of the layer's `attn_kv_b` (MLA_SPEC §1.3
 * index semantics): kv_b row h·(N+V)+j, column c holds W_UK,h[j][c] for j < N and
 * W_UV,h[j−N][c] after; k_b element (d, c, h) = W_UK,h[d][c], v_b element (c, j, h) = W_UV,h[j][c].
 */
function* splitData(t: PlannedTensor, seed: number, g: SynthGeometry): Iterable<Uint8Array> {
  const { kvB, part } = t.splitOf!;
  const R = g.kvLoraRank;
  const N = g.nEmbdHeadQkNope;
  const V = g.nEmbdHeadV;
  const H = g.nHead;
  const kv = new Float32Array(R * H * (N + V));
  SynthRandom.forTensor(seed, kvB).fillGaussian(kv, t.std, t.mean);
  const out = new Float32Array(part === "k" ? N * R * H : R * V * H);
  for (let h = 0; h < H; h++) {
    for (let c = 0; c < R; c++) {
      if (part === "k") {
        for (let d = 0; d < N; d++) out[(h * R + c) * N + d] = kv[(h * (N + V) + d) * R + c];
      } else {
        for (let j = 0; j < V; j++) out[(h * V + j) * R + c] = kv[(h * (N + V) + N + j) * R + c];
      }
    }
  }
  yield encodeBlocks(t.type, out);
}

/** Pools of valid blocks, one per (type, std, mean), shared by the tensors that match. */
class BlockPools {
  readonly #pools = new Map<string, Uint8Array>();
  readonly #seed: number;
  constructor(seed: number) {
    this.#seed = seed;
  }
  /**
   * The pool for a tensor of `elements` values: 2M values, or for small tensors (only when a
   * caller forces pooling) the next power of two, at least two runs.
   */
  get(type: GgmlTypeInfo, std: number, mean: number, elements: number): Uint8Array {
    const runElements = POOL_RUN_BLOCKS * type.blockElements;
    let size = 2 * runElements;
    while (size < Math.min(elements, POOL_ELEMENTS)) size *= 2;
    const key = `${type.name}:${std}:${mean}`;
    const sizedKey = size >= POOL_ELEMENTS ? key : `${key}:${size}`;
    let pool = this.#pools.get(sizedKey);
    if (pool === undefined) {
      const x = new Float32Array(size); // a power of two, at most POOL_ELEMENTS
      // Full-size pools keep their original seed key so V2-Lite files do not change.
      SynthRandom.forTensor(this.#seed, sizedKey).fillGaussian(x, std, mean);
      pool = encodeBlocks(type, x);
      this.#pools.set(sizedKey, pool);
    }
    return pool;
  }
}

/**
 * Offset in a block of one byte of quants that may hold any value (two 4-bit quants, one 8-bit
 * quant, or Q6_K low bits), for the types whose blocks are pooled.
 */
const FREE_QUANT_BYTE: Readonly<Record<string, number>> = {
  Q4_0: 2,
  Q5_0: 6,
  Q4_1: 4,
  Q5_1: 8,
  IQ4_NL: 2,
  IQ4_XS: 8,
  Q8_0: 2,
  Q4_K: 16,
  Q6_K: 0,
};

/**
 * Float types: the low byte (little-endian) of each element holds its lowest mantissa bits;
 * flipping the two lowest changes a value by at most 2^-5 of itself (BF16) and never makes it
 * infinite or NaN.
 */
const FLOAT_TYPES = new Set(["F32", "F16", "BF16"]);

/**
 * A big tensor stitched from random runs of pool blocks, in reused 16 MB chunks. Block-aligned
 * runs from a pool of 2M values would repeat whole rows (102400 output rows from 65536 starts:
 * tied logits), so one quant byte of every block is then redrawn, and the two lowest mantissa
 * bits of every float element flipped at random, which makes rows distinct.
 */
function* pooledData(t: PlannedTensor, seed: number, pools: BlockPools): Iterable<Uint8Array> {
  const rng = SynthRandom.forTensor(seed, t.name);
  const elements = t.dims.reduce((a, b) => a * b, 1);
  const pool = pools.get(t.type, t.std, t.mean, elements);
  const blockBytes = t.type.blockBytes;
  const poolBlocks = pool.length / blockBytes;
  const total = (t.dims.reduce((a, b) => a * b, 1) / t.type.blockElements) * blockBytes;
  const chunk = new Uint8Array(Math.floor(POOLED_CHUNK_BYTES / blockBytes) * blockBytes);
  const freeByte = FREE_QUANT_BYTE[t.type.name];
  const isFloat = FLOAT_TYPES.has(t.type.name);
  let bits = rng.nextU32() | 1;
  for (let done = 0; done < total;) {
    const n = Math.min(chunk.length, total - done);
    for (let at = 0; at < n;) {
      const run = Math.min(POOL_RUN_BLOCKS * blockBytes, n - at);
      const from = rng.nextInt(poolBlocks - POOL_RUN_BLOCKS) * blockBytes;
      chunk.set(pool.subarray(from, from + run), at);
      at += run;
    }
    if (freeByte !== undefined) {
      for (let b = freeByte; b < n; b += blockBytes) {
        // xorshift32: a few instructions per block, for 500M blocks in a V2-Lite file.
        bits ^= bits << 13;
        bits ^= bits >>> 17;
        bits ^= bits << 5;
        chunk[b] = bits & 0xff;
      }
    } else if (isFloat) {
      for (let b = 0; b < n; b += blockBytes) {
        bits ^= bits << 13;
        bits ^= bits >>> 17;
        bits ^= bits << 5;
        chunk[b] ^= bits & 3;
      }
    }
    // The consumer writes each chunk before asking for the next, so the buffer is reused.
    yield chunk.subarray(0, n);
    done += n;
  }
}

/**
 * Writes a synthetic DeepSeek2 model to `path`.
 *
 * @param path Output GGUF path.
 * @param options Preset, weight type, layers, layout, q LoRA, vocabulary, seed, progress.
 * @returns What was written.
 * @throws {OptionError} On a bad option. {GgufError} on an unreadable vocabulary.
 *
 * @example
 * ```ts
 * import { synthesizeModel } from "./synthesize.ts";
 * const result = await synthesizeModel("/tmp/tiny.gguf", { preset: "tiny", qLoraRank: 256 });
 * console.log(result.bytes);
 * ```
 */
export async function synthesizeModel(
  path: string,
  options: SynthOptions = {},
): Promise<SynthResult> {
  const start = performance.now();
  const plan = planModel(options);
  const seed = integer("seed", options.seed ?? 0, 0, 0xffffffff);
  const exactMax = options.exactElementsMax ??
    (plan.geometry.nEmbd >= V2_LITE.nEmbd ? 1 << 22 : Infinity);
  const pools = new BlockPools(seed);
  const tensors: GgufTensorSource[] = plan.tensors.map((t) => ({
    name: t.name,
    type: t.type,
    dims: t.dims,
    data: () => {
      if (t.splitOf !== undefined) return splitData(t, seed, plan.geometry);
      const elements = t.dims.reduce((a, b) => a * b, 1);
      return elements <= exactMax ? exactData(t, seed) : pooledData(t, seed, pools);
    },
  }));
  const bytes = await writeGguf(path, { metadata: plan.metadata, tensors }, {
    onProgress: options.onProgress,
  });
  return { ...plan, path, bytes, seconds: (performance.now() - start) / 1000 };
}

/**
 * The size a model would have, without writing it.
 *
 * @param options Synthesis options.
 * @returns File size in bytes.
 *
 * @example
 * ```ts
 * import { plannedFileSize } from "./synthesize.ts";
 * console.log(plannedFileSize({ preset: "v2-lite", wtype: "IQ4_NL" }));
 * ```
 */
export function plannedFileSize(options: SynthOptions = {}): number {
  const plan = planModel(options);
  return layoutGguf({ metadata: plan.metadata, tensors: plan.tensors }).fileSize;
}
