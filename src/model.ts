/**
 * The public engine: `Model` (a mapped DeepSeek2 GGUF with its tokenizer) and `ModelContext`
 * (a KV cache, a thread pool and a planned forward graph). One FFI call runs one step: a prefill
 * batch or one decoded token.
 * @module
 */
import { native } from "../ffi/library.ts";
import { unwrap } from "../ffi/status.ts";
import { ContextOverflowError, GgufError, OptionError } from "./errors.ts";
import { GgufFile } from "./gguf/reader.ts";
import { type DeepSeek2Hparams, readHparams } from "./deepseek2/hparams.ts";
import {
  type DeepSeek2Weights,
  loadWeights,
  mapMatmulWeights,
  type WeightRef,
} from "./deepseek2/weights.ts";
import { KERNEL_TYPES } from "./kernels/quants.ts";
import { repackedBytes, repackWeights } from "./deepseek2/repack_weights.ts";
import { buildForward, type ForwardGraph } from "./deepseek2/graph.ts";
import { NativeBuffer } from "./deepseek2/native_memory.ts";
import { dequantizeReference } from "./quants/reference.ts";
import { type GgmlTypeId, ggmlTypeInfo } from "./ggml_types.ts";
import { KV_CACHE_TYPES, KvCache, type KvCacheType } from "./kv_cache.ts";
import { physicalCoreCount, ThreadPool } from "./thread_pool.ts";
import { Tokenizer } from "./tokenizer/tokenizer.ts";
import { type GenerateOptions, generateText } from "./generate.ts";
import { Rng } from "./sampler.ts";

export type { GenerateOptions } from "./generate.ts";

/** What a loaded model is. */
export interface ModelInfo {
  /** `general.name` (may be empty). */
  readonly name: string;
  /** Transformer layers. */
  readonly nLayer: number;
  /** Width of the residual stream. */
  readonly nEmbd: number;
  /** Attention heads. */
  readonly nHead: number;
  /** Routed experts per MoE layer. */
  readonly nExpert: number;
  /** Experts chosen per token. */
  readonly nExpertUsed: number;
  /** Rows of the embedding and output head. */
  readonly vocabSize: number;
  /** Attention tensor layout on disk. */
  readonly layout: "kb-vb" | "kvb";
  /** 0 when the model has no q-LoRA (Lite). */
  readonly qLoraRank: number;
  /** Most common weight type among 2-D tensors, e.g. "IQ4_NL". */
  readonly weightType: string;
  /** Size of the GGUF file. */
  readonly fileBytes: number;
  /** Total parameters (elements of every tensor). */
  readonly paramCount: number;
  /** Bytes of weights copied into a repacked kernel layout at load (0 with `repack: false`). */
  readonly repackedBytes: number;
}

/** Options of `Model.load`. */
export interface LoadOptions {
  /** Called with the fraction loaded (0 … 1). */
  onProgress?: (fraction: number) => void;
  /**
   * Map every page of the file up front (default true), so generation never stalls on first
   * touches of expert weights; false makes loading instant and pays as pages are used.
   */
  prefault?: boolean;
  /**
   * Copy IQ4_NL, Q4_0, Q4_K, Q5_0, Q5_1, Q5_K, Q6_K and Q8_0 matmul weights at load into the
   * kernels' repacked layout (8 rows interleaved): their GEMVs run ~1.4–2× faster per core, at
   * the cost of owning a copy of them in memory and a longer load. true always repacks, false
   * keeps every weight in the file mapping; the default repacks when the file fits in three
   * quarters of the memory available now (the copied tensors' mapped pages are reclaimed like
   * page cache once copied).
   */
  repack?: boolean;
}

/** Options of `Model.createContext`. */
export interface ContextOptions {
  /** Most tokens the context holds (KV cache rows). Default 4096. */
  ctxLen?: number;
  /** Threads (default: physical cores). */
  threads?: number;
  /** KV cache storage. Default "f16". */
  cacheType?: KvCacheType;
  /** FlashMLA thread strategy. Default "auto". */
  attention?: "auto" | "heads" | "kvsplit";
  /** Most tokens per prefill step. Default 512. */
  batchSize?: number;
}

/** Per-category time of profiled steps (see `ModelContext.profile`). */
export interface StepProfile {
  /** Steps measured. */
  readonly steps: number;
  /** Milliseconds per step by node kind, measured inside the executor. */
  readonly msByKind: Readonly<Record<"matmul" | "moe" | "attention" | "other", number>>;
  /** Wall milliseconds per step around the FFI call. */
  readonly wallMs: number;
  /** wallMs minus the executor's node time: FFI, step setup and thread wake-up. */
  readonly overheadMs: number;
  /** Slowest nodes, milliseconds per step. */
  readonly topNodes: readonly { name: string; kind: string; ms: number }[];
  /**
   * Milliseconds per step summed over the nodes of every layer by node role, the name without
   * its `blk.N.` prefix (`attn_k_b`, `flash_mla`, `ffn_moe`, …), slowest first.
   */
  readonly byRole: readonly { role: string; kind: string; ms: number }[];
}

/**
 * A DeepSeek2 model mapped from a GGUF file.
 *
 * @example
 * ```ts ignore
 * import { Model } from "./model.ts";
 * using model = await Model.load("tiny.gguf");
 * using ctx = model.createContext({ ctxLen: 512 });
 * for await (const piece of ctx.generate("Hello", { maxTokens: 8 })) console.log(piece);
 * ```
 */
export class Model implements Disposable {
  /** What the model is (sizes, layout, weight type). */
  readonly info: ModelInfo;
  /** The model's tokenizer, built from the file's vocabulary. */
  readonly tokenizer: Tokenizer;
  #hparams: DeepSeek2Hparams;
  #file: GgufFile | undefined;
  #weights: DeepSeek2Weights;
  #owned: NativeBuffer[];
  #contexts = new Set<ModelContext>();

  private constructor(
    file: GgufFile,
    hp: DeepSeek2Hparams,
    weights: DeepSeek2Weights,
    owned: NativeBuffer[],
    tokenizer: Tokenizer,
  ) {
    this.#file = file;
    this.#hparams = hp;
    this.#weights = weights;
    this.#owned = owned;
    this.tokenizer = tokenizer;
    this.info = { ...modelInfo(file, hp), repackedBytes: repackedBytes(weights) };
  }

  /**
   * Maps a GGUF file, checks every tensor the forward pass uses, builds the tokenizer.
   *
   * @param path Path of a deepseek2 GGUF file.
   * @param opts `onProgress(fraction)` as loading advances; `prefault` (default true).
   * @returns The model; `close()` it (or `using`).
   * @throws {GgufError} When the file is missing, malformed or not a supported deepseek2 model.
   */
  static load(
    path: string,
    opts: LoadOptions = {},
  ): Promise<Model> {
    try {
      return Promise.resolve(Model.#loadSync(path, opts));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  static #loadSync(path: string, opts: LoadOptions): Model {
    const file = GgufFile.open(path);
    const owned: NativeBuffer[] = [];
    try {
      opts.onProgress?.(0);
      const hp = readHparams(file);
      const alloc = (bytes: number) => {
        const buffer = new NativeBuffer(bytes);
        owned.push(buffer);
        return { address: buffer.address, view: buffer.u8() };
      };
      const dequantize = (typeId: number, bytes: Uint8Array, n: number) =>
        dequantizeReference(typeId as GgmlTypeId, bytes, n);
      const loaded = loadWeights(file, hp, alloc, dequantize);
      checkKernelTypes(loaded);
      const repack = opts.repack ?? repackFits(file.fileSize);
      // Progress: reading the file, then (a similar amount of work) writing the repacked copy.
      const readShare = repack ? 0.5 : 0.95;
      if (opts.prefault ?? true) prefault(file, (f) => opts.onProgress?.(readShare * f));
      const weights = repack
        ? repackWeights(loaded, alloc, (f) => opts.onProgress?.(readShare + (0.99 - readShare) * f))
        : loaded;
      const tokenizer = Tokenizer.fromGguf(file);
      if (tokenizer.vocabSize > hp.nVocab) {
        throw new OptionError(
          `The tokenizer has ${tokenizer.vocabSize} tokens but the model only ${hp.nVocab} rows`,
        );
      }
      opts.onProgress?.(1);
      return new Model(file, hp, weights, owned, tokenizer);
    } catch (e) {
      for (const b of owned) b.close();
      file.close();
      throw e;
    }
  }

  /** Text → token ids (BOS by the vocabulary's default unless `addBos` says otherwise). */
  tokenize(text: string, opts: { addBos?: boolean; special?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, opts);
  }

  /** Token ids → text (control tokens omitted). */
  detokenize(ids: number[]): string {
    return this.tokenizer.decode(ids);
  }

  /**
   * Creates an inference context: KV cache, thread pool and forward graph, all allocated now.
   *
   * @param opts Context options.
   * @returns The context; `close()` it (or `using`).
   */
  createContext(opts: ContextOptions = {}): ModelContext {
    const weights = this.#checkOpen();
    const context = new ModelContext(
      this,
      this.#hparams,
      weights,
      opts,
      (c) => this.#contexts.delete(c),
    );
    this.#contexts.add(context);
    return context;
  }

  #checkOpen(): DeepSeek2Weights {
    if (this.#file === undefined) throw new OptionError("The model is closed");
    return this.#weights;
  }

  /** Closes every context, unmaps the file and frees load-time buffers; safe to call twice. */
  close(): void {
    if (this.#file === undefined) return;
    for (const c of [...this.#contexts]) c.close();
    for (const b of this.#owned) b.close();
    this.#file.close();
    this.#file = undefined;
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Whether the model still fits in memory with its repackable weights copied: a quarter of the
 * memory available now must stay free beside the file's bytes. After the copy, the mapped pages
 * of the copied tensors are never read again, so the kernel reclaims them like any page cache:
 * the model holds about its file size either way, part of it as memory the process owns (a Q6_K
 * V2-Lite file: 14 GB, 13.9 GB of them copied). Without --allow-sys the amount is unknown:
 * repack.
 */
function repackFits(fileBytes: number): boolean {
  try {
    return fileBytes < 0.75 * Deno.systemMemoryInfo().available;
  } catch {
    return true;
  }
}

/** Refuses, at load, a file with a matrix of a type the kernels cannot multiply. */
function checkKernelTypes(weights: DeepSeek2Weights): void {
  const check = <T extends WeightRef>(w: T): T => {
    if (!KERNEL_TYPES.includes(w.type.id)) {
      const known = KERNEL_TYPES.map((t) => ggmlTypeInfo(t)!.name).join(", ");
      throw new GgufError(
        `Tensor "${w.name}" is ${w.type.name}, which this engine has no kernels for ` +
          `(supported: ${known})`,
        { tensor: w.name },
      );
    }
    return w;
  };
  check(weights.tokenEmbd);
  mapMatmulWeights(weights, check);
}

/**
 * Maps every page of the file into the page tables now, in 256 MiB steps (progress 0 → 1),
 * as llama.cpp's MAP_POPULATE does: otherwise each token's first touch of an expert's weights
 * costs a minor fault per 4 KiB page, which dominated early token generation.
 */
function prefault(file: GgufFile, onProgress?: (fraction: number) => void): void {
  const mapping = file.mapping;
  if (mapping === undefined) return;
  const step = 256 * 2 ** 20;
  for (let offset = 0; offset < mapping.length; offset += step) {
    const len = Math.min(step, mapping.length - offset);
    unwrap(
      native().fm_graph_prefault(mapping.address + BigInt(offset), BigInt(len)),
      `reading ${file.path} into memory`,
    );
    onProgress?.(Math.min(1, (offset + len) / mapping.length));
  }
}

function modelInfo(file: GgufFile, hp: DeepSeek2Hparams): Omit<ModelInfo, "repackedBytes"> {
  const counts = new Map<string, number>();
  let params = 0;
  for (const t of file.tensors.values()) {
    params += t.elements;
    if (t.dims.length >= 2 && t.name.startsWith("blk.")) {
      counts.set(t.type.name, (counts.get(t.type.name) ?? 0) + t.byteSize);
    }
  }
  const weightType = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "F32";
  return {
    name: hp.name,
    nLayer: hp.nLayer,
    nEmbd: hp.nEmbd,
    nHead: hp.nHead,
    nExpert: hp.nExpert,
    nExpertUsed: hp.nExpertUsed,
    vocabSize: hp.nVocab,
    layout: hp.layout,
    qLoraRank: hp.qLoraRank,
    weightType,
    fileBytes: file.fileSize,
    paramCount: params,
  };
}

const STEP_BYTES = 32;

/**
 * A sequence being evaluated: owns its KV cache, thread pool and forward graph.
 *
 * @example
 * ```ts ignore
 * using ctx = model.createContext({ ctxLen: 1024, cacheType: "q8_KV" });
 * const logits = ctx.evalLogits(model.tokenize("Hello"));
 * console.log(ctx.nPast, logits.length);
 * ```
 */
export class ModelContext implements Disposable {
  /** The model this context evaluates. */
  readonly model: Model;
  /** Options after defaults. */
  readonly options: Required<ContextOptions>;
  /** Prompt and generation token counts and milliseconds (updated by `generate`). */
  readonly stats: {
    promptTokens: number;
    promptMs: number;
    generatedTokens: number;
    generateMs: number;
  } = { promptTokens: 0, promptMs: 0, generatedTokens: 0, generateMs: 0 };
  #hp: DeepSeek2Hparams;
  #pool: ThreadPool | undefined;
  #cache: KvCache;
  #graph: ForwardGraph;
  #step = new Uint8Array(STEP_BYTES);
  #nPast = 0;
  #onClose: (c: ModelContext) => void;
  #profile: BigUint64Array | undefined;
  #profileSteps = 0;
  #profileWallMs = 0;

  /** Use `Model.createContext`. */
  constructor(
    model: Model,
    hp: DeepSeek2Hparams,
    weights: DeepSeek2Weights,
    opts: ContextOptions,
    onClose: (c: ModelContext) => void,
  ) {
    this.model = model;
    this.#hp = hp;
    this.#onClose = onClose;
    this.options = resolveContextOptions(opts);
    const o = this.options;
    this.#pool = new ThreadPool(o.threads);
    try {
      this.#cache = new KvCache({ nLayer: hp.nLayer, capacity: o.ctxLen, type: o.cacheType });
      try {
        this.#graph = buildForward(hp, weights, this.#cache, {
          batch: Math.min(o.batchSize, o.ctxLen),
          threads: o.threads,
          cacheType: o.cacheType,
          attention: o.attention,
        });
      } catch (e) {
        this.#cache.close();
        throw e;
      }
    } catch (e) {
      this.#pool.close();
      throw e;
    }
  }

  /** Tokens in the cache. */
  get nPast(): number {
    return this.#nPast;
  }

  /** Nodes in the forward graph (for reports). */
  get graphNodes(): number {
    return this.#graph.nodes.count;
  }

  /** Clears the cache (rows are overwritten, not zeroed). */
  reset(): void {
    this.#nPast = 0;
  }

  /**
   * Appends `tokens` to the sequence and returns the logits of the last one, or of every one
   * (`allLogits`: a [tokens.length × vocab] row-major array).
   *
   * @param tokens Token ids, each below the vocabulary size.
   * @param opts `allLogits`, and `onProgress(done, total)` after each prefill batch.
   * @returns Logits.
   * @throws {ContextOverflowError} When the tokens do not fit in the context.
   */
  evalLogits(
    tokens: number[],
    opts: { allLogits?: boolean; onProgress?: (done: number, total: number) => void } = {},
  ): Float32Array {
    this.#checkTokens(tokens);
    const vocab = this.#hp.nVocab;
    if (tokens.length === 0) throw new OptionError("evalLogits needs at least one token");
    if (this.#nPast + tokens.length > this.options.ctxLen) {
      throw new ContextOverflowError(
        `${tokens.length} tokens after ${this.#nPast} do not fit ctxLen ${this.options.ctxLen}`,
      );
    }
    const out = new Float32Array((opts.allLogits ? tokens.length : 1) * vocab);
    const B = this.#graph.batch;
    for (let done = 0; done < tokens.length;) {
      const n = Math.min(B, tokens.length - done);
      const last = done + n === tokens.length;
      const nOutputs = opts.allLogits ? n : (last ? 1 : 0);
      // Batches before the last need no logits: the head runs on zero rows.
      this.#runStep(tokens.slice(done, done + n), nOutputs);
      if (opts.allLogits) out.set(this.#graph.logits.subarray(0, n * vocab), done * vocab);
      else if (last) out.set(this.#graph.logits.subarray(0, vocab));
      done += n;
      opts.onProgress?.(done, tokens.length);
    }
    return out;
  }

  /** One executor step over `tokens` at positions nPast…; advances nPast. */
  #runStep(tokens: number[], nOutputs: number): void {
    const pool = this.#checkOpen();
    const g = this.#graph;
    for (let t = 0; t < tokens.length; t++) {
      g.tokenIds[t] = tokens[t];
      g.positions[t] = this.#nPast + t;
    }
    const view = new DataView(this.#step.buffer);
    view.setUint32(0, tokens.length, true);
    view.setUint32(4, this.#nPast, true);
    view.setUint32(8, nOutputs, true);
    view.setUint32(12, 0, true);
    view.setBigUint64(16, g.positionsAddress, true);
    view.setBigUint64(24, g.tokenIdsAddress, true);
    const words = g.nodes.words;
    const t0 = performance.now();
    unwrap(
      native().fm_graph_run(pool.handle, words, g.nodes.count, this.#step, this.#profile ?? null),
      `running the forward graph (${tokens.length} tokens at position ${this.#nPast})`,
    );
    if (this.#profile) {
      this.#profileSteps++;
      this.#profileWallMs += performance.now() - t0;
    }
    this.#nPast += tokens.length;
  }

  #checkTokens(tokens: number[]): void {
    const vocab = this.#hp.nVocab;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= vocab) {
        throw new OptionError(`Token id ${t} is outside the vocabulary (0..${vocab - 1})`);
      }
    }
  }

  #checkOpen(): ThreadPool {
    if (this.#pool === undefined) throw new OptionError("The context is closed");
    return this.#pool;
  }

  /**
   * Streams generated text for a prompt (see `GenerateOptions`); the prompt is appended to
   * whatever the context already holds.
   *
   * @param prompt Text (tokenized with BOS by default when the context is empty) or ids.
   * @param opts Sampling and stopping options.
   * @returns An async generator of text pieces.
   */
  generate(prompt: string | number[], opts: GenerateOptions = {}): AsyncGenerator<string> {
    return generateText(this, prompt, opts);
  }

  /**
   * Writes `nTokens` synthetic cache rows (random latents/keys, as real rows look after
   * RMSNorm) so token generation at depth can be measured without a prefill.
   *
   * @param nTokens Rows to fill (nPast becomes this).
   * @param seed RNG seed.
   */
  fillSynthetic(nTokens: number, seed = 1): void {
    this.#checkOpen();
    if (!Number.isInteger(nTokens) || nTokens < 0 || nTokens >= this.options.ctxLen) {
      throw new ContextOverflowError(
        `fillSynthetic(${nTokens}) must leave room in ctxLen ${this.options.ctxLen}`,
      );
    }
    fillCacheRows(this.#cache, nTokens, seed);
    this.#nPast = nTokens;
  }

  /** Turns per-node timing on (resetting it) or off. */
  setProfiling(enabled: boolean): void {
    this.#profile = enabled ? new BigUint64Array(this.#graph.nodes.count) : undefined;
    this.#profileSteps = 0;
    this.#profileWallMs = 0;
  }

  /** Where the time of profiled steps went; undefined when profiling is off or no step ran. */
  profile(): StepProfile | undefined {
    const p = this.#profile;
    if (!p || this.#profileSteps === 0) return undefined;
    const steps = this.#profileSteps;
    const msByKind = { matmul: 0, moe: 0, attention: 0, other: 0 };
    const nodes = this.#graph.nodes.labels.map((label, i) => ({
      ...label,
      ms: Number(p[i]) / 1e6 / steps,
    }));
    for (const n of nodes) msByKind[n.kind] += n.ms;
    const nodeMs = nodes.reduce((s, n) => s + n.ms, 0);
    const wallMs = this.#profileWallMs / steps;
    const roles = new Map<string, { role: string; kind: string; ms: number }>();
    for (const n of nodes) {
      const role = n.name.replace(/^blk\.\d+\./, "");
      const entry = roles.get(role) ?? { role, kind: n.kind, ms: 0 };
      entry.ms += n.ms;
      roles.set(role, entry);
    }
    return {
      steps,
      msByKind,
      wallMs,
      overheadMs: wallMs - nodeMs,
      topNodes: [...nodes].sort((a, b) => b.ms - a.ms).slice(0, 12),
      byRole: [...roles.values()].sort((a, b) => b.ms - a.ms),
    };
  }

  /** Frees the graph, the cache and the threads; safe to call twice. */
  close(): void {
    if (this.#pool === undefined) return;
    this.#graph.close();
    this.#cache.close();
    this.#pool.close();
    this.#pool = undefined;
    this.#onClose(this);
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

function resolveContextOptions(opts: ContextOptions): Required<ContextOptions> {
  const o = {
    ctxLen: opts.ctxLen ?? 4096,
    threads: opts.threads ?? physicalCoreCount(),
    cacheType: opts.cacheType ?? "f16",
    attention: opts.attention ?? "auto",
    batchSize: opts.batchSize ?? 512,
  };
  const intIn = (name: string, v: number, lo: number, hi: number) => {
    if (!Number.isInteger(v) || v < lo || v > hi) {
      throw new OptionError(`Option "${name}" must be an integer from ${lo} to ${hi}, got ${v}`);
    }
  };
  intIn("ctxLen", o.ctxLen, 1, 1 << 20);
  intIn("threads", o.threads, 1, 64);
  intIn("batchSize", o.batchSize, 1, 8192);
  if (!KV_CACHE_TYPES.includes(o.cacheType)) {
    throw new OptionError(
      `Option "cacheType" must be one of ${KV_CACHE_TYPES.join(", ")}, got "${o.cacheType}"`,
    );
  }
  if (!["auto", "heads", "kvsplit"].includes(o.attention)) {
    throw new OptionError(
      `Option "attention" must be auto, heads or kvsplit, got "${o.attention}"`,
    );
  }
  return o;
}

/**
 * Synthetic rows: a unit-RMS latent (what RMSNorm with unit weight leaves) and a rope key of
 * similar scale, quantized by the cache's own row writer so every type stores valid rows.
 */
function fillCacheRows(cache: KvCache, nTokens: number, seed: number): void {
  const rng = new Rng(seed);
  const chunk = 256;
  const rows = new Float32Array(chunk * 576);
  for (let il = 0; il < cache.nLayer; il++) {
    for (let first = 0; first < nTokens; first += chunk) {
      const n = Math.min(chunk, nTokens - first);
      for (let i = 0; i < n * 576; i++) rows[i] = (rng.nextFloat() * 2 - 1) * 1.7;
      unwrap(
        native().fm_kv_write_rows(
          cache.typeId,
          cache.rows(il, 0, cache.capacity),
          BigInt(cache.capacity),
          BigInt(first),
          rows,
          BigInt(n),
        ),
        "writing synthetic cache rows",
      );
    }
  }
}
