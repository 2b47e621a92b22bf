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

  // ---------------------------------------------------------------- small ops

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
  // (pool: *ThreadPool, nodes: [*]const Node, n_nodes: u32, step: *const Step, profile_ns: ?[*]u64) i32
  fm_graph_run: {
    parameters: ["pointer", "buffer", "u32", "buffer", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library's symbol functions. */
export type Symbols = Deno.DynamicLibrary<typeof symbols>["symbols"];
