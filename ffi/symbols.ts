/**
 * The whole libflashmla symbol table, one entry per `export fn` in `zig-kernels/src/root.zig`,
 * each parameter's Zig type in a comment. Sections follow root.zig's sections.
 * @module
 */

/** ABI version this binding expects from `fm_abi_version`. */
export const ABI_VERSION = 1;

/** Symbols of libflashmla. */
export const symbols = {
  // ---------------------------------------------------------------- library
  fm_abi_version: { parameters: [], result: "u32" },
  // (enabled: u32) i32 — 1 SIMD kernels, 0 scalar reference twins
  fm_set_simd: { parameters: ["u32"], result: "i32" },

  // ---------------------------------------------------------------- mapped files
  // (path: [*:0]const u8, out_addr: *usize, out_len: *u64) i32
  fm_file_map: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  // (addr: usize, len: u64) i32
  fm_file_unmap: { parameters: ["usize", "u64"], result: "i32" },
  // (addr: usize, map_len: u64, offset: u64, len: u64) i32
  fm_file_advise_willneed: {
    parameters: ["usize", "u64", "u64", "u64"],
    result: "i32",
  },

  // ---------------------------------------------------------------- thread pool
  // (n_threads: u32, out_pool: *?*ThreadPool) i32
  fm_pool_create: { parameters: ["u32", "buffer"], result: "i32" },
  // (pool: ?*ThreadPool) i32
  fm_pool_destroy: { parameters: ["pointer"], result: "i32" },
  // ---------------------------------------------------------------- quants and matmuls
  // (type_id: u32, k: usize, t: usize, out_bytes: *usize) i32
  fm_matmul_scratch_bytes: { parameters: ["u32", "usize", "usize", "buffer"], result: "i32" },
  // (pool, type_id: u32, weight: [*]const u8, weight_row_bytes: usize, k: usize, n: usize,
  //  x: [*]const f32, t: usize, y: [*]f32, scratch: [*]u8, scratch_len: usize) i32
  fm_matmul: {
    parameters: [
      "pointer",
      "u32",
      "buffer",
      "usize",
      "usize",
      "usize",
      "buffer",
      "usize",
      "buffer",
      "buffer",
      "usize",
    ],
    result: "i32",
  },
  // (type_id: u32, src: [*]const u8, k: usize, dst: [*]f32) i32
  fm_dequantize_row: { parameters: ["u32", "buffer", "usize", "buffer"], result: "i32" },
  // (type_id: u32, src: [*]const f32, k: usize, dst: [*]u8) i32
  fm_quantize_row: { parameters: ["u32", "buffer", "usize", "buffer"], result: "i32" },
  // (type_id: u32, src: [*]const f32, k: usize, dst: [*]u8) i32 — the activation format of type_id
  fm_quantize_activation_row: { parameters: ["u32", "buffer", "usize", "buffer"], result: "i32" },
  // (type_id: u32, out_id: *u32) i32 — the internal id of type_id's repacked layout
  fm_repacked_type: { parameters: ["u32", "buffer"], result: "i32" },
  // (type_id: u32, src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) i32
  fm_repack_rows: {
    parameters: ["u32", "pointer", "pointer", "usize", "usize", "usize"],
    result: "i32",
  },
  // (gate_type: u32, up_type: u32, down_type: u32, n_embd: usize, n_ff: usize, n_expert: usize,
  //  t: usize, k_used: usize, out_bytes: *usize) i32
  fm_moe_scratch_bytes: {
    parameters: ["u32", "u32", "u32", "usize", "usize", "usize", "usize", "usize", "buffer"],
    result: "i32",
  },
  // (pool, gate_type: u32, gate: [*]const u8, up_type: u32, up: [*]const u8, down_type: u32,
  //  down: [*]const u8, n_embd: usize, n_ff: usize, n_expert: usize, t: usize, k_used: usize,
  //  ids: [*]const i32, weights: [*]const f32, x: [*]const f32, y: [*]f32, accumulate: u32,
  //  scratch: [*]u8, scratch_len: usize) i32
  fm_moe: {
    parameters: [
      "pointer",
      "u32",
      "buffer",
      "u32",
      "buffer",
      "u32",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
      "usize",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "u32",
      "buffer",
      "usize",
    ],
    result: "i32",
  },

  // ---------------------------------------------------------------- small ops
  // (pool, src: [*]const f32, dst: [*]f32, n_rows, src_row_stride, dst_row_stride, offset, width: usize,
  //  weight: ?[*]const f32, eps: f32) i32
  fm_rms_norm: {
    parameters: [
      "pointer",
      "buffer",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
      "usize",
      "buffer",
      "f32",
    ],
    result: "i32",
  },
  // (pool, src, dst: [*]f32, positions: [*]const i32, n_tokens, n_heads, token_stride, head_stride,
  //  offset, n_dims: usize, freq_base, freq_scale, ext_factor, attn_factor, beta_fast, beta_slow: f32,
  //  n_ctx_orig: u32) i32
  fm_rope: {
    parameters: [
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
      "usize",
      "usize",
      "f32",
      "f32",
      "f32",
      "f32",
      "f32",
      "f32",
      "u32",
    ],
    result: "i32",
  },
  // (pool, func: u32 (0 softmax, 1 sigmoid), src, dst: [*]f32, n_rows, width, src_row_stride,
  //  dst_row_stride: usize) i32
  fm_softmax: {
    parameters: [
      "pointer",
      "u32",
      "buffer",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
    ],
    result: "i32",
  },
  // (pool, src: [*]const f32, n_rows, width, src_row_stride, k: usize, out_ids: [*]i32,
  //  out_values: ?[*]f32) i32
  fm_top_k: {
    parameters: [
      "pointer",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  // (pool, logits: [*]const f32, n_tokens, n_expert, logits_row_stride, k: usize, gating: u32,
  //  bias: ?[*]const f32, normalize: u32, scale: f32, out_ids: [*]i32, out_weights: [*]f32,
  //  n_group, n_group_used: usize) i32
  fm_moe_route: {
    parameters: [
      "pointer",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
      "u32",
      "buffer",
      "u32",
      "f32",
      "buffer",
      "buffer",
      "usize",
      "usize",
    ],
    result: "i32",
  },
  // (pool, gate, up, dst: [*]f32, n_rows, width, gate_row_stride, up_row_stride,
  //  dst_row_stride: usize) i32
  fm_silu_mul: {
    parameters: [
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
      "usize",
    ],
    result: "i32",
  },
  // (pool, op: u32 (0 add, 1 scale, 2 add_scaled, 3 copy), a, b: ?[*]const f32, dst: [*]f32,
  //  n_rows, width, a_row_stride, b_row_stride, dst_row_stride: usize, s: f32) i32
  fm_add_scale: {
    parameters: [
      "pointer",
      "u32",
      "buffer",
      "buffer",
      "buffer",
      "usize",
      "usize",
      "usize",
      "usize",
      "usize",
      "f32",
    ],
    result: "i32",
  },
  // (pool, type_id: u32, weight: [*]const u8, n_weight_rows, width: usize, ids: [*]const i32,
  //  n_ids: usize, dst: [*]f32, dst_row_stride: usize) i32
  fm_get_rows: {
    parameters: [
      "pointer",
      "u32",
      "buffer",
      "usize",
      "usize",
      "buffer",
      "usize",
      "buffer",
      "usize",
    ],
    result: "i32",
  },

  // ---------------------------------------------------------------- probes
  // (pool, bytes: usize, slice_bytes: usize, threads_used: u32, reps: u32, out_best_ns: *u64) i32
  fm_probe_read_bandwidth: {
    parameters: ["pointer", "usize", "usize", "u32", "u32", "buffer"],
    result: "i32",
  },
  // (pool, buffer, bytes: usize, slice_bytes: usize, threads_used: u32, reps: u32,
  //  out_best_ns: *u64) i32
  fm_probe_read_buffer: {
    parameters: ["pointer", "buffer", "usize", "usize", "u32", "u32", "buffer"],
    result: "i32",
  },
  // (pool, iterations: usize, threads_used: u32, reps: u32, out_best_ns: *u64) i32
  fm_probe_fma_peak: {
    parameters: ["pointer", "usize", "u32", "u32", "buffer"],
    result: "i32",
  },
  // (pool, iterations: usize, threads_used: u32, reps: u32, out_best_ns: *u64) i32
  fm_probe_int8_peak: {
    parameters: ["pointer", "usize", "u32", "u32", "buffer"],
    result: "i32",
  },

  // ---------------------------------------------------------------- flash MLA
  // (cache_type: u32, cache: ?[*]u8, row_capacity: usize, first_row: usize, rows: ?[*]const f32,
  //  n_rows: usize) i32
  fm_kv_write_rows: {
    parameters: ["u32", "buffer", "usize", "usize", "buffer", "usize"],
    result: "i32",
  },
  // (cache_type: u32, cache: ?[*]const u8, row_capacity: usize, first_row: usize, out: ?[*]f32,
  //  n_rows: usize) i32
  fm_kv_read_rows: {
    parameters: ["u32", "buffer", "usize", "usize", "buffer", "usize"],
    result: "i32",
  },
  // (cache_type: u32, n_tokens: usize, n_head: usize, n_threads: usize, out_bytes: *usize) i32
  fm_flash_mla_scratch_bytes: {
    parameters: ["u32", "usize", "usize", "usize", "buffer"],
    result: "i32",
  },
  // (pool: ?*ThreadPool, cache_type: u32, cache: ?[*]const u8, n_kv: usize, q: ?[*]const f32,
  //  n_tokens: usize, n_head: usize, positions: ?[*]const i32, kq_scale: f32, strategy: u32,
  //  out: ?[*]f32, scratch: ?[*]u8, scratch_len: usize, out_strategy_used: *u32) i32
  fm_flash_mla: {
    parameters: [
      "pointer",
      "u32",
      "buffer",
      "usize",
      "buffer",
      "usize",
      "usize",
      "buffer",
      "f32",
      "u32",
      "buffer",
      "buffer",
      "usize",
      "buffer",
    ],
    result: "i32",
  },

  // ---------------------------------------------------------------- graph executor
  // (bytes: u64, out_addr: *usize) i32 — zeroed page-aligned memory
  fm_graph_alloc: { parameters: ["u64", "buffer"], result: "i32" },
  // (addr: usize, bytes: u64) i32
  fm_graph_free: { parameters: ["usize", "u64"], result: "i32" },
  // (addr: usize, len: u64) i32 — populate a mapping's page tables (MADV_POPULATE_READ)
  fm_graph_prefault: { parameters: ["usize", "u64"], result: "i32" },
  // (gate_up_type: u32, down_type: u32, n_embd, n_ff, n_expert, n_tokens, k: usize,
  //  out_bytes: *u64) i32
  fm_graph_moe_scratch_bytes: {
    parameters: ["u32", "u32", "usize", "usize", "usize", "usize", "usize", "buffer"],
    result: "i32",
  },
  // (pool: *ThreadPool, nodes: [*]const Node, n_nodes: u32, step: *const Step, profile_ns: ?[*]u64) i32
  fm_graph_run: {
    parameters: ["pointer", "buffer", "u32", "buffer", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library's symbol functions. */
export type Symbols = Deno.DynamicLibrary<typeof symbols>["symbols"];
