/**
 * A JSON-ready summary of a GGUF model: architecture, hyperparameters, tensor type histogram,
 * total and per-layer sizes, tokenizer. Used by the `info` command.
 * @module
 */
import type { GgufFile } from "./reader.ts";
import type { GgufValue } from "./values.ts";

/** Tensor count and bytes of one ggml type. */
export interface TypeCount {
  /** Type name, e.g. `"IQ4_NL"`. */
  readonly type: string;
  /** Number of tensors of this type. */
  readonly tensors: number;
  /** Their total bytes. */
  readonly bytes: number;
}

/** Bytes of one layer (`blk.N.*`). */
export interface LayerSize {
  /** Layer index. */
  readonly layer: number;
  /** Tensors in the layer. */
  readonly tensors: number;
  /** Their total bytes. */
  readonly bytes: number;
}

/** What `info` prints. */
export interface ModelSummary {
  /** File path. */
  readonly path: string;
  /** File size in bytes. */
  readonly fileBytes: number;
  /** GGUF version. */
  readonly version: number;
  /** Data alignment. */
  readonly alignment: number;
  /** `general.architecture`, or "" when absent. */
  readonly architecture: string;
  /** `general.name`, or "". */
  readonly name: string;
  /** Every `<architecture>.*` key (prefix removed) with a printable value. */
  readonly hyperparameters: Readonly<Record<string, string | number | boolean | number[]>>;
  /** Number of tensors. */
  readonly tensorCount: number;
  /** Total tensor bytes. */
  readonly tensorBytes: number;
  /** Tensors per type, most bytes first. */
  readonly types: readonly TypeCount[];
  /** Bytes per layer, in layer order. */
  readonly layers: readonly LayerSize[];
  /** Bytes outside the layers (embedding, output head, final norm). */
  readonly nonLayerBytes: number;
  /** Tokenizer facts, or undefined when the file has no `tokenizer.ggml.tokens`. */
  readonly tokenizer?: {
    readonly model: string;
    readonly pre: string;
    readonly tokens: number;
    readonly merges: number;
    readonly bos?: { readonly id: number; readonly text: string };
    readonly eos?: { readonly id: number; readonly text: string };
    readonly addBos?: boolean;
    readonly chatTemplate: boolean;
  };
}

function printable(v: GgufValue): string | number | boolean | number[] {
  if (v.type === "array") {
    if (v.itemType === "string" || v.itemType === "array" || v.itemType === "bool") {
      return `array<${v.itemType}>[${v.value.length}]`;
    }
    return v.value.length <= 64 ? v.value.map(Number) : `array<${v.itemType}>[${v.value.length}]`;
  }
  if (typeof v.value === "bigint") return Number(v.value);
  // An f32 printed with 7 significant digits reads as written (1e-6, not 9.99999997e-7).
  if (v.type === "f32") return Number(v.value.toPrecision(7));
  return v.value;
}

/**
 * Summarizes an open GGUF file.
 *
 * @param file The file.
 * @returns The summary (plain data, JSON-serializable).
 *
 * @example
 * ```ts
 * import { GgufFile } from "./reader.ts";
 * import { summarizeModel } from "./summary.ts";
 * using file = GgufFile.open("../shared/data/vocab/ggml-vocab-deepseek-llm.gguf");
 * console.log(summarizeModel(file).tokenizer?.tokens); // 102400
 * ```
 */
export function summarizeModel(file: GgufFile): ModelSummary {
  const architecture = file.getStringOr("general.architecture", "");
  const hyperparameters: Record<string, string | number | boolean | number[]> = {};
  for (const [key, value] of file.metadata) {
    if (architecture !== "" && key.startsWith(`${architecture}.`)) {
      hyperparameters[key.slice(architecture.length + 1)] = printable(value);
    }
  }
  const types = new Map<string, { tensors: number; bytes: number }>();
  const layers = new Map<number, { tensors: number; bytes: number }>();
  let tensorBytes = 0;
  let nonLayerBytes = 0;
  for (const t of file.tensors.values()) {
    tensorBytes += t.byteSize;
    const byType = types.get(t.type.name) ?? { tensors: 0, bytes: 0 };
    types.set(t.type.name, { tensors: byType.tensors + 1, bytes: byType.bytes + t.byteSize });
    const match = /^blk\.(\d+)\./.exec(t.name);
    if (match === null) {
      nonLayerBytes += t.byteSize;
      continue;
    }
    const layer = Number(match[1]);
    const byLayer = layers.get(layer) ?? { tensors: 0, bytes: 0 };
    layers.set(layer, { tensors: byLayer.tensors + 1, bytes: byLayer.bytes + t.byteSize });
  }
  return {
    path: file.path,
    fileBytes: file.fileSize,
    version: file.version,
    alignment: file.alignment,
    architecture,
    name: file.getStringOr("general.name", ""),
    hyperparameters,
    tensorCount: file.tensors.size,
    tensorBytes,
    types: [...types].map(([type, c]) => ({ type, ...c })).sort((a, b) => b.bytes - a.bytes),
    layers: [...layers].sort((a, b) => a[0] - b[0]).map(([layer, c]) => ({ layer, ...c })),
    nonLayerBytes,
    tokenizer: summarizeTokenizer(file),
  };
}

function summarizeTokenizer(file: GgufFile): ModelSummary["tokenizer"] {
  const tokensKey = "tokenizer.ggml.tokens";
  if (!file.has(tokensKey)) return undefined;
  const tokens = file.getStringArray(tokensKey);
  const special = (key: string) => {
    if (!file.has(key)) return undefined;
    const id = file.getU32(key);
    return { id, text: tokens[id] ?? "<out of range>" };
  };
  return {
    model: file.getStringOr("tokenizer.ggml.model", ""),
    pre: file.getStringOr("tokenizer.ggml.pre", ""),
    tokens: tokens.length,
    merges: file.has("tokenizer.ggml.merges")
      ? file.getStringArray("tokenizer.ggml.merges").length
      : 0,
    bos: special("tokenizer.ggml.bos_token_id"),
    eos: special("tokenizer.ggml.eos_token_id"),
    addBos: file.has("tokenizer.ggml.add_bos_token")
      ? file.getBool("tokenizer.ggml.add_bos_token")
      : undefined,
    chatTemplate: file.has("tokenizer.chat_template"),
  };
}
