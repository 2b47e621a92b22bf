/**
 * flashmla-deno: DeepSeek-V2-class (MLA + MoE) GGUF models on the CPU, with SIMD multithreaded
 * Zig kernels behind Deno FFI.
 *
 * @example
 * ```ts
 * import { ThreadPool } from "@flashmla/deno";
 * using pool = new ThreadPool(2);
 * console.log(pool.threads);
 * ```
 * @module
 */
export {
  ContextOverflowError,
  FlashMlaError,
  GgufError,
  NativeError,
  OptionError,
} from "./src/errors.ts";
export { physicalCoreCount, ThreadPool } from "./src/thread_pool.ts";
export { GgufFile, type GgufTensorInfo } from "./src/gguf/reader.ts";
export {
  encodeGguf,
  type GgufContents,
  type GgufLayout,
  type GgufProgress,
  type GgufTensorData,
  type GgufTensorSource,
  type GgufTensorSpec,
  layoutGguf,
  writeGguf,
} from "./src/gguf/writer.ts";
export {
  gguf,
  type GgufArrayValue,
  type GgufBigIntTypeName,
  type GgufNumberTypeName,
  type GgufScalarValue,
  type GgufValue,
  GgufValueType,
  type GgufValueTypeName,
} from "./src/gguf/values.ts";
export {
  type LayerSize,
  type ModelSummary,
  summarizeModel,
  type TypeCount,
} from "./src/gguf/summary.ts";
export {
  planModel,
  plannedFileSize,
  SYNTH_VERSION,
  synthesizeModel,
  type SynthOptions,
  type SynthPlan,
  type SynthResult,
} from "./src/synth/synthesize.ts";
export {
  type PlannedTensor,
  SYNTH_LAYOUTS,
  SYNTH_PRESETS,
  SYNTH_WEIGHT_TYPES,
  type SynthGeometry,
  type SynthLayout,
  type SynthPreset,
  type SynthWeightType,
} from "./src/synth/geometry.ts";
export { type SynthVocab } from "./src/synth/vocab.ts";
export {
  GgmlType,
  type GgmlTypeId,
  type GgmlTypeInfo,
  type GgmlTypeName,
} from "./src/ggml_types.ts";
export { type DecodeOptions, type EncodeOptions, Tokenizer } from "./src/tokenizer/tokenizer.ts";
export {
  applyChatTemplate,
  CHAT_TEMPLATE_NAMES,
  type ChatMessage,
  type ChatTemplateName,
  type ChatTemplateOptions,
  detectChatTemplate,
} from "./src/tokenizer/chat_template.ts";
export type { StreamDecoder } from "./src/tokenizer/detokenizer.ts";
export { type TokenizerSpec, tokenizerSpecFromGguf, TokenType } from "./src/tokenizer/vocab.ts";
export { PRE_TOKENIZER_NAMES, type PreTokenizerName } from "./src/tokenizer/pre_tokenizer.ts";
export {
  type ContextOptions,
  type LoadOptions,
  Model,
  ModelContext,
  type ModelInfo,
  type StepProfile,
} from "./src/model.ts";
export { type GenerateOptions, generateText } from "./src/generate.ts";
export {
  argmax,
  type ResolvedSamplerOptions,
  resolveSamplerOptions,
  Rng,
  Sampler,
  type SamplerOptions,
} from "./src/sampler.ts";
export { KV_CACHE_TYPES, KvCache, type KvCacheType } from "./src/kv_cache.ts";
export {
  type ActivationFormat,
  activationFormat,
  dequantizeRow,
  KERNEL_TYPES,
  quantizeActivationRow,
  quantizeRow,
  setSimd,
  weightRowBytes,
} from "./src/kernels/quants.ts";
export { matmul, type MatmulOptions, matmulScratchBytes } from "./src/kernels/matmul.ts";
export {
  type AttentionStrategy,
  flashMla,
  type FlashMlaOptions,
  type FlashMlaResult,
  flashMlaScratchBytes,
  type FlashMlaShape,
  kvCacheRowBytes,
  MLA_K_DIM,
  MLA_V_DIM,
  readKvRows,
  writeKvRows,
} from "./src/kernels/flash_mla.ts";
export { moeFfn, type MoeOptions, moeScratchBytes, type MoeShape } from "./src/kernels/moe.ts";
export {
  elementwise,
  type ElementwiseOp,
  type ElementwiseOptions,
  getRows,
  type GetRowsOptions,
  type MoeGating,
  moeGatingFromGguf,
  moeRoute,
  type MoeRouteOptions,
  type MoeRouteResult,
  rmsNorm,
  type RmsNormOptions,
  rope,
  type RopeOptions,
  type RopeParams,
  type RowsOptions,
  sigmoid,
  siluMul,
  type SiluMulOptions,
  softmax,
  topK,
  type TopKOptions,
  type TopKResult,
} from "./src/kernels/ops.ts";
export {
  type Deepseek2Rope,
  deepseek2Rope,
  type Deepseek2RopeMetadata,
} from "./src/kernels/rope_params.ts";
export {
  type ComputePeak,
  measureFmaPeak,
  measureInt8Peak,
  measureReadBandwidth,
  type PeakOptions,
  type ReadBandwidth,
  type ReadBandwidthOptions,
} from "./src/kernels/probes.ts";
