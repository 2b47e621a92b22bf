//! Every `export fn` of libflashmla and nothing else: argument checks, then a call into the
//! kernel modules. Each export returns a `Status` code (see status.zig) and never panics.
//! Sections are owned by the module they expose; keep each section's exports together.
const std = @import("std");
const status = @import("status.zig");
const Status = status.Status;
const ThreadPool = @import("ThreadPool.zig");
const mapped_file = @import("mapped_file.zig");
const cpu_path = @import("cpu_path.zig");

const allocator = std.heap.c_allocator;

// ---------------------------------------------------------------- library
/// ABI version; bumped whenever an export's signature changes so a stale library is rejected.
export fn fm_abi_version() u32 {
    return 1;
}

/// Selects SIMD kernels (1, the default) or their scalar reference twins (0), for tests.
export fn fm_set_simd(enabled: u32) i32 {
    if (enabled > 1) return status.code(.invalid_argument);
    cpu_path.use_simd.store(enabled == 1, .monotonic);
    return status.code(.ok);
}

// ---------------------------------------------------------------- mapped files
/// Maps `path` (NUL-terminated, `path_len` bytes before the NUL) read-only.
/// Writes the base address and the byte length to `out_addr` / `out_len`.
export fn fm_file_map(path: [*:0]const u8, out_addr: *usize, out_len: *u64) i32 {
    const mapped = mapped_file.map(std.mem.span(path)) catch |err| return status.code(switch (err) {
        error.FileNotFound => .file_not_found,
        error.EmptyFile => .invalid_argument,
        error.IoError => .io_error,
    });
    out_addr.* = @intFromPtr(mapped.bytes.ptr);
    out_len.* = mapped.bytes.len;
    return status.code(.ok);
}

/// Unmaps a region returned by `fm_file_map`.
export fn fm_file_unmap(addr: usize, len: u64) i32 {
    if (addr == 0 or len == 0 or addr % std.heap.page_size_min != 0) return status.code(.invalid_argument);
    const bytes: [*]align(std.heap.page_size_min) const u8 = @ptrFromInt(addr);
    mapped_file.unmap(.{ .bytes = bytes[0..@intCast(len)] });
    return status.code(.ok);
}

/// Asks the kernel to read `[offset, offset+len)` of a mapping ahead of use.
export fn fm_file_advise_willneed(addr: usize, map_len: u64, offset: u64, len: u64) i32 {
    if (addr == 0 or offset > map_len) return status.code(.invalid_argument);
    const bytes: [*]align(std.heap.page_size_min) const u8 = @ptrFromInt(addr);
    mapped_file.adviseWillNeed(.{ .bytes = bytes[0..@intCast(map_len)] }, @intCast(offset), @intCast(len));
    return status.code(.ok);
}

// ---------------------------------------------------------------- thread pool
/// Creates a pool of `n_threads` (1..64) threads; writes its handle to `out_pool`.
export fn fm_pool_create(n_threads: u32, out_pool: *?*ThreadPool) i32 {
    if (n_threads < 1 or n_threads > ThreadPool.n_threads_max) return status.code(.invalid_argument);
    out_pool.* = ThreadPool.create(allocator, n_threads) catch |err| return status.code(switch (err) {
        error.OutOfMemory => .out_of_memory,
        else => .thread_spawn_failed,
    });
    return status.code(.ok);
}

/// Joins and frees a pool made by `fm_pool_create`.
export fn fm_pool_destroy(pool: ?*ThreadPool) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    p.destroy();
    return status.code(.ok);
}

// ---------------------------------------------------------------- quants and matmuls (kernels issue)
const quants = @import("quants/quants.zig");
const matmul = @import("matmul.zig");

/// Bytes of scratch `fm_matmul` needs for `t` tokens of rows of `k` elements of type `type_id`.
export fn fm_matmul_scratch_bytes(type_id: u32, k: usize, t: usize, out_bytes: *usize) i32 {
    const traits = quants.traits(type_id) orelse return status.code(.unsupported_type);
    if (!traits.rowLengthValid(k) or t == 0) return status.code(.shape_mismatch);
    out_bytes.* = matmul.scratchBytes(traits, k, t);
    return status.code(.ok);
}

/// y[t][n] = Σ_k W[n][k]·x[t][k]: weight N rows of `weight_row_bytes`, x (t, k) f32, y (t, n) f32.
export fn fm_matmul(pool: ?*ThreadPool, type_id: u32, weight: ?[*]const u8, weight_row_bytes: usize, k: usize, n: usize, x: ?[*]const f32, t: usize, y: ?[*]f32, scratch: ?[*]u8, scratch_len: usize) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const traits = quants.traits(type_id) orelse return status.code(.unsupported_type);
    if (weight == null or x == null or y == null or scratch == null) return status.code(.invalid_argument);
    if (!traits.rowLengthValid(k) or n == 0 or t == 0 or weight_row_bytes < traits.rowBytes(k)) return status.code(.shape_mismatch);
    if (scratch_len < matmul.scratchBytes(traits, k, t)) return status.code(.invalid_argument);
    const args = matmul.Args{ .traits = traits, .weight = weight.?, .weight_row_bytes = weight_row_bytes, .k = k, .n = n, .t = t, .x = x.?, .x_row_stride = k, .y = y.?, .y_row_stride = n, .scratch = scratch.?[0..scratch_len] };
    matmul.run(&args, p);
    return status.code(.ok);
}

/// Dequantizes one row of `k` elements of type `type_id` from `src` into f32 `dst`.
export fn fm_dequantize_row(type_id: u32, src: ?[*]const u8, k: usize, dst: ?[*]f32) i32 {
    const traits = quants.traits(type_id) orelse return status.code(.unsupported_type);
    // Rows of an interleaved layout exist only inside their matrix.
    if (traits.group_rows > 1) return status.code(.unsupported_type);
    if (src == null or dst == null) return status.code(.invalid_argument);
    if (k == 0 or k % traits.block_elements != 0) return status.code(.shape_mismatch);
    traits.dequantizeRow(src.?, dst.?[0..k]);
    return status.code(.ok);
}

/// Quantizes one f32 row of `k` elements into type `type_id` (reference quality) at `dst`.
export fn fm_quantize_row(type_id: u32, src: ?[*]const f32, k: usize, dst: ?[*]u8) i32 {
    const traits = quants.traits(type_id) orelse return status.code(.unsupported_type);
    // Rows of an interleaved layout exist only inside their matrix.
    if (traits.group_rows > 1) return status.code(.unsupported_type);
    if (src == null or dst == null) return status.code(.invalid_argument);
    if (k == 0 or k % traits.block_elements != 0) return status.code(.shape_mismatch);
    traits.quantizeRow(src.?[0..k], dst.?);
    return status.code(.ok);
}

/// Quantizes one f32 activation row into the format type `type_id`'s dot product consumes
/// (BlockQ8A for Q8_0/Q4_0/IQ4_NL, BlockQ8K for K-quants, a copy for F32 and F16, and for BF16
/// a copy in the split order of quants/float.zig).
export fn fm_quantize_activation_row(type_id: u32, src: ?[*]const f32, k: usize, dst: ?[*]u8) i32 {
    const traits = quants.traits(type_id) orelse return status.code(.unsupported_type);
    if (src == null or dst == null) return status.code(.invalid_argument);
    if (!traits.rowLengthValid(k)) return status.code(.shape_mismatch);
    traits.activation.quantizeRow(src.?[0..k], dst.?);
    return status.code(.ok);
}

/// The internal type id of the repacked (faster) layout of file type `type_id` into `out_id`;
/// unsupported_type when the type has none.
export fn fm_repacked_type(type_id: u32, out_id: *u32) i32 {
    out_id.* = quants.repackedType(type_id) orelse return status.code(.unsupported_type);
    return status.code(.ok);
}

/// Copies one matrix of `n_rows` rows of `k` elements of file type `type_id` from `src` into
/// `dst` (rows `row_bytes` apart in both) in the layout of fm_repacked_type: the same bytes per
/// row, rows interleaved in groups of 8 from row 0 (so stacked tensors go one matrix at a time).
export fn fm_repack_rows(type_id: u32, src: ?[*]const u8, dst: ?[*]u8, row_bytes: usize, k: usize, n_rows: usize) i32 {
    const traits = quants.traits(type_id) orelse return status.code(.unsupported_type);
    if (src == null or dst == null or n_rows == 0) return status.code(.invalid_argument);
    if (k == 0 or k % traits.block_elements != 0 or row_bytes < traits.rowBytes(k)) return status.code(.shape_mismatch);
    if (!quants.repackRows(type_id, src.?, dst.?, row_bytes, k, n_rows)) return status.code(.unsupported_type);
    return status.code(.ok);
}

const moe = @import("moe.zig");

/// Scratch bytes `fm_moe` needs for `t` tokens × `k_used` experts.
export fn fm_moe_scratch_bytes(gate_type: u32, up_type: u32, down_type: u32, n_embd: usize, n_ff: usize, n_expert: usize, t: usize, k_used: usize, out_bytes: *usize) i32 {
    const gate = quants.traits(gate_type) orelse return status.code(.unsupported_type);
    const up = quants.traits(up_type) orelse return status.code(.unsupported_type);
    const down = quants.traits(down_type) orelse return status.code(.unsupported_type);
    if (!moe.typesCompatible(gate, up, down, n_embd, n_ff) or n_expert == 0 or t == 0 or k_used == 0 or k_used > n_expert) return status.code(.shape_mismatch);
    out_bytes.* = moe.scratchBytes(gate, down, n_embd, n_ff, n_expert, t, k_used);
    return status.code(.ok);
}

/// MoE FFN over packed 3-D expert tensors (gate/up {n_embd, n_ff, n_expert}, down {n_ff, n_embd,
/// n_expert}): y[t] (+)= Σ_j weights[t][j]·down_e(silu(gate_e·x_t)·up_e·x_t), e = ids[t][j].
export fn fm_moe(pool: ?*ThreadPool, gate_type: u32, gate_data: ?[*]const u8, up_type: u32, up_data: ?[*]const u8, down_type: u32, down_data: ?[*]const u8, n_embd: usize, n_ff: usize, n_expert: usize, t: usize, k_used: usize, ids: ?[*]const i32, weights: ?[*]const f32, x: ?[*]const f32, y: ?[*]f32, accumulate: u32, scratch: ?[*]u8, scratch_len: usize) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const gate = quants.traits(gate_type) orelse return status.code(.unsupported_type);
    const up = quants.traits(up_type) orelse return status.code(.unsupported_type);
    const down = quants.traits(down_type) orelse return status.code(.unsupported_type);
    if (gate_data == null or up_data == null or down_data == null or ids == null or weights == null or x == null or y == null or scratch == null or accumulate > 1) return status.code(.invalid_argument);
    if (!moe.typesCompatible(gate, up, down, n_embd, n_ff) or n_expert == 0 or t == 0 or k_used == 0 or k_used > n_expert) return status.code(.shape_mismatch);
    for (ids.?[0 .. t * k_used]) |id| if (id < 0 or id >= n_expert) return status.code(.invalid_argument);
    if (scratch_len < moe.scratchBytes(gate, down, n_embd, n_ff, n_expert, t, k_used)) return status.code(.invalid_argument);
    const args = moe.Args{
        .gate = .{ .traits = gate, .data = gate_data.?, .row_bytes = gate.rowBytes(n_embd), .expert_bytes = gate.rowBytes(n_embd) * n_ff },
        .up = .{ .traits = up, .data = up_data.?, .row_bytes = up.rowBytes(n_embd), .expert_bytes = up.rowBytes(n_embd) * n_ff },
        .down = .{ .traits = down, .data = down_data.?, .row_bytes = down.rowBytes(n_ff), .expert_bytes = down.rowBytes(n_ff) * n_embd },
        .n_embd = n_embd,
        .n_ff = n_ff,
        .n_expert = n_expert,
        .t = t,
        .k_used = k_used,
        .ids = ids.?,
        .weights = weights.?,
        .x = x.?,
        .x_row_stride = n_embd,
        .y = y.?,
        .y_row_stride = n_embd,
        .accumulate = accumulate == 1,
        .scratch = scratch.?[0..scratch_len],
    };
    moe.run(&args, p);
    return status.code(.ok);
}

// ---------------------------------------------------------------- small ops (kernels issue)
const ops = @import("ops.zig");

/// RMSNorm with optional weight over [offset, offset+width) of `n_rows` rows (ops/rms_norm.zig).
export fn fm_rms_norm(pool: ?*ThreadPool, src: ?[*]const f32, dst: ?[*]f32, n_rows: usize, src_row_stride: usize, dst_row_stride: usize, offset: usize, width: usize, weight: ?[*]const f32, eps: f32) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    if (src == null or dst == null or !(eps >= 0)) return status.code(.invalid_argument);
    if (n_rows == 0 or width == 0) return status.code(.shape_mismatch);
    const args: ops.rms_norm.Args = .{ .src = src.?, .dst = dst.?, .src_row_stride = src_row_stride, .dst_row_stride = dst_row_stride, .n_rows = n_rows, .offset = offset, .width = width, .weight = weight, .eps = eps };
    ops.runStandalone(ops.rms_norm, p, &args);
    return status.code(.ok);
}

/// YaRN RoPE (normal mode) on `n_tokens × n_heads` head rows at `offset` (ops/rope.zig).
export fn fm_rope(pool: ?*ThreadPool, src: ?[*]const f32, dst: ?[*]f32, positions: ?[*]const i32, n_tokens: usize, n_heads: usize, token_stride: usize, head_stride: usize, offset: usize, n_dims: usize, freq_base: f32, freq_scale: f32, ext_factor: f32, attn_factor: f32, beta_fast: f32, beta_slow: f32, n_ctx_orig: u32) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    if (src == null or dst == null or positions == null) return status.code(.invalid_argument);
    if (!(freq_base > 0) or !(freq_scale > 0) or n_ctx_orig == 0) return status.code(.invalid_argument);
    if (n_tokens == 0 or n_heads == 0 or n_dims == 0 or n_dims % 2 != 0 or n_dims > ops.rope.n_dims_max) return status.code(.shape_mismatch);
    const args: ops.rope.Args = .{ .src = src.?, .dst = dst.?, .n_tokens = n_tokens, .n_heads = n_heads, .token_stride = token_stride, .head_stride = head_stride, .offset = offset, .positions = positions.?, .params = .{ .n_dims = n_dims, .freq_base = freq_base, .freq_scale = freq_scale, .ext_factor = ext_factor, .attn_factor = attn_factor, .beta_fast = beta_fast, .beta_slow = beta_slow, .n_ctx_orig = n_ctx_orig } };
    ops.runStandalone(ops.rope, p, &args);
    return status.code(.ok);
}

/// Row-wise softmax (func 0) or sigmoid (func 1) (ops/softmax.zig).
export fn fm_softmax(pool: ?*ThreadPool, func: u32, src: ?[*]const f32, dst: ?[*]f32, n_rows: usize, width: usize, src_row_stride: usize, dst_row_stride: usize) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const f = std.meta.intToEnum(ops.softmax.Func, func) catch return status.code(.invalid_argument);
    if (src == null or dst == null) return status.code(.invalid_argument);
    if (n_rows == 0 or width == 0) return status.code(.shape_mismatch);
    const args: ops.softmax.Args = .{ .func = f, .src = src.?, .dst = dst.?, .src_row_stride = src_row_stride, .dst_row_stride = dst_row_stride, .n_rows = n_rows, .width = width };
    ops.runStandalone(ops.softmax, p, &args);
    return status.code(.ok);
}

/// The k largest values of each row, ids and values, lower index first among ties (ops/top_k.zig).
export fn fm_top_k(pool: ?*ThreadPool, src: ?[*]const f32, n_rows: usize, width: usize, src_row_stride: usize, k: usize, out_ids: ?[*]i32, out_values: ?[*]f32) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    if (src == null or out_ids == null) return status.code(.invalid_argument);
    if (n_rows == 0 or k == 0 or k > ops.top_k.k_max or k > width) return status.code(.shape_mismatch);
    const args: ops.top_k.Args = .{ .src = src.?, .src_row_stride = src_row_stride, .n_rows = n_rows, .width = width, .k = k, .out_ids = out_ids.?, .out_values = out_values };
    ops.runStandalone(ops.top_k, p, &args);
    return status.code(.ok);
}

/// MoE routing: gate, optional selection bias and group limit, top-k, optional renorm and scale
/// (ops/moe_route.zig); n_group = 1 disables the group limit.
export fn fm_moe_route(pool: ?*ThreadPool, logits: ?[*]const f32, n_tokens: usize, n_expert: usize, logits_row_stride: usize, k: usize, gating: u32, bias: ?[*]const f32, normalize: u32, scale: f32, out_ids: ?[*]i32, out_weights: ?[*]f32, n_group: usize, n_group_used: usize) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const g = std.meta.intToEnum(ops.moe_route.Gating, gating) catch return status.code(.invalid_argument);
    if (logits == null or out_ids == null or out_weights == null or normalize > 1 or !std.math.isFinite(scale)) return status.code(.invalid_argument);
    if (n_tokens == 0 or n_expert == 0 or n_expert > ops.moe_route.n_expert_max or k == 0 or k > n_expert or k > ops.top_k.k_max) return status.code(.shape_mismatch);
    if (n_group == 0 or !ops.moe_route.groupsValid(n_expert, k, n_group, n_group_used)) return status.code(.shape_mismatch);
    const args: ops.moe_route.Args = .{ .logits = logits.?, .logits_row_stride = logits_row_stride, .n_tokens = n_tokens, .n_expert = n_expert, .k = k, .gating = g, .bias = bias, .normalize = normalize == 1, .scale = scale, .out_ids = out_ids.?, .out_weights = out_weights.?, .n_group = n_group, .n_group_used = n_group_used };
    ops.runStandalone(ops.moe_route, p, &args);
    return status.code(.ok);
}

/// dst = silu(gate) ⊙ up over `n_rows × width` (ops/silu_mul.zig).
export fn fm_silu_mul(pool: ?*ThreadPool, gate: ?[*]const f32, up: ?[*]const f32, dst: ?[*]f32, n_rows: usize, width: usize, gate_row_stride: usize, up_row_stride: usize, dst_row_stride: usize) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    if (gate == null or up == null or dst == null) return status.code(.invalid_argument);
    if (n_rows == 0 or width == 0) return status.code(.shape_mismatch);
    const args: ops.silu_mul.Args = .{ .gate = gate.?, .up = up.?, .dst = dst.?, .gate_row_stride = gate_row_stride, .up_row_stride = up_row_stride, .dst_row_stride = dst_row_stride, .n_rows = n_rows, .width = width };
    ops.runStandalone(ops.silu_mul, p, &args);
    return status.code(.ok);
}

/// Element-wise add (op 0), scale (1), a + s·b (2) or copy (3) over `n_rows × width` (ops/add_scale.zig).
export fn fm_add_scale(pool: ?*ThreadPool, op: u32, a: ?[*]const f32, b: ?[*]const f32, dst: ?[*]f32, n_rows: usize, width: usize, a_row_stride: usize, b_row_stride: usize, dst_row_stride: usize, s: f32) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const o = std.meta.intToEnum(ops.add_scale.Op, op) catch return status.code(.invalid_argument);
    const needs_b = o == .add or o == .add_scaled;
    if (a == null or dst == null or (needs_b and b == null)) return status.code(.invalid_argument);
    if (n_rows == 0 or width == 0) return status.code(.shape_mismatch);
    const args: ops.add_scale.Args = .{ .op = o, .a = a.?, .b = b orelse a.?, .dst = dst.?, .a_row_stride = a_row_stride, .b_row_stride = b_row_stride, .dst_row_stride = dst_row_stride, .n_rows = n_rows, .width = width, .s = s };
    ops.runStandalone(ops.add_scale, p, &args);
    return status.code(.ok);
}

/// Embedding lookup: dst row i = dequantized row ids[i] of a `type_id` weight (ops/get_rows.zig).
export fn fm_get_rows(pool: ?*ThreadPool, type_id: u32, weight: ?[*]const u8, n_weight_rows: usize, width: usize, ids: ?[*]const i32, n_ids: usize, dst: ?[*]f32, dst_row_stride: usize) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const traits = quants.traits(type_id) orelse return status.code(.unsupported_type);
    if (weight == null or ids == null or dst == null) return status.code(.invalid_argument);
    if (n_ids == 0 or n_weight_rows == 0 or width == 0 or width % traits.block_elements != 0) return status.code(.shape_mismatch);
    if (!ops.get_rows.idsValid(ids.?[0..n_ids], n_weight_rows)) return status.code(.invalid_argument);
    const args: ops.get_rows.Args = .{ .traits = traits, .weight = weight.?, .n_weight_rows = n_weight_rows, .width = width, .ids = ids.?, .n_ids = n_ids, .dst = dst.?, .dst_row_stride = dst_row_stride };
    ops.runStandalone(ops.get_rows, p, &args);
    return status.code(.ok);
}

// ---------------------------------------------------------------- probes (kernels issue)
const probes = @import("probes.zig");

/// Read bandwidth: fills a fresh `bytes` buffer, then sums `reps` slices of `slice_bytes` (in
/// turn, cycling through the buffer) on `threads_used` threads; writes the best slice's ns.
export fn fm_probe_read_bandwidth(pool: ?*ThreadPool, bytes: usize, slice_bytes: usize, threads_used: u32, reps: u32, out_best_ns: ?*u64) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    if (out_best_ns == null or threads_used == 0 or threads_used > p.n_threads or reps == 0) return status.code(.invalid_argument);
    if (slice_bytes == 0 or slice_bytes % probes.read_chunk_bytes != 0 or bytes % slice_bytes != 0) return status.code(.shape_mismatch);
    const buffer = std.heap.page_allocator.alignedAlloc(u8, .@"64", bytes) catch return status.code(.out_of_memory);
    defer std.heap.page_allocator.free(buffer);
    var sinks = std.mem.zeroes(probes.Sinks);
    const args: probes.ReadArgs = .{ .buffer = buffer, .slice_bytes = slice_bytes, .timing = .{ .threads_used = threads_used, .reps = reps, .best_ns = out_best_ns.?, .sinks = &sinks } };
    probes.runRead(p, &args);
    return status.code(.ok);
}

/// Read bandwidth over a caller's `bytes` (left unchanged; e.g. the weights a GEMV benchmark
/// streams, so probe and kernel read the same pages): sums `reps` slices of `slice_bytes` in
/// turn on `threads_used` threads; writes the best slice's ns.
export fn fm_probe_read_buffer(pool: ?*ThreadPool, buffer: ?[*]u8, bytes: usize, slice_bytes: usize, threads_used: u32, reps: u32, out_best_ns: ?*u64) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const data = buffer orelse return status.code(.invalid_argument);
    if (out_best_ns == null or threads_used == 0 or threads_used > p.n_threads or reps == 0) return status.code(.invalid_argument);
    if (slice_bytes == 0 or slice_bytes % probes.read_chunk_bytes != 0 or bytes % slice_bytes != 0) return status.code(.shape_mismatch);
    var sinks = std.mem.zeroes(probes.Sinks);
    const args: probes.ReadArgs = .{ .buffer = data[0..bytes], .slice_bytes = slice_bytes, .fill = false, .timing = .{ .threads_used = threads_used, .reps = reps, .best_ns = out_best_ns.?, .sinks = &sinks } };
    probes.runRead(p, &args);
    return status.code(.ok);
}

/// f32 FMA peak: `iterations` × probes.fma_macs_per_iteration multiply-adds per used thread per rep.
export fn fm_probe_fma_peak(pool: ?*ThreadPool, iterations: usize, threads_used: u32, reps: u32, out_best_ns: ?*u64) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    if (out_best_ns == null or threads_used == 0 or threads_used > p.n_threads or reps == 0 or iterations == 0) return status.code(.invalid_argument);
    var sinks = std.mem.zeroes(probes.Sinks);
    const args: probes.PeakArgs = .{ .iterations = iterations, .multiplier = 0.999999, .addend = 1e-6, .timing = .{ .threads_used = threads_used, .reps = reps, .best_ns = out_best_ns.?, .sinks = &sinks } };
    probes.runFma(p, &args);
    return status.code(.ok);
}

/// int8 peak: `iterations` × probes.int8_macs_per_iteration u8×i8 multiply-adds per used thread per rep.
export fn fm_probe_int8_peak(pool: ?*ThreadPool, iterations: usize, threads_used: u32, reps: u32, out_best_ns: ?*u64) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    if (out_best_ns == null or threads_used == 0 or threads_used > p.n_threads or reps == 0 or iterations == 0) return status.code(.invalid_argument);
    var sinks = std.mem.zeroes(probes.Sinks);
    const args: probes.PeakArgs = .{ .iterations = iterations, .multiplier = 0.5, .addend = 0.7, .timing = .{ .threads_used = threads_used, .reps = reps, .best_ns = out_best_ns.?, .sinks = &sinks } };
    probes.runInt8(p, &args);
    return status.code(.ok);
}

// ---------------------------------------------------------------- flash MLA (FlashMLA issue)
const flash_mla = @import("flash_mla.zig");
const kv_cache_rows = @import("kv_cache_rows.zig");

/// Quantizes `n_rows` f32 rows of 576 (`rows`) into rows first_row.. of a cache of
/// `row_capacity` rows of type `cache_type` (ggml id: 1 f16, 8 q8_0, 151 q8_KV).
export fn fm_kv_write_rows(cache_type: u32, cache: ?[*]u8, row_capacity: usize, first_row: usize, rows: ?[*]const f32, n_rows: usize) i32 {
    const t = kv_cache_rows.CacheType.fromId(cache_type) orelse return status.code(.unsupported_type);
    const dst = cache orelse return status.code(.invalid_argument);
    const src = rows orelse return status.code(.invalid_argument);
    if (first_row > row_capacity or n_rows > row_capacity - first_row) return status.code(.invalid_argument);
    const args: kv_cache_rows.WriteArgs = .{ .cache_type = t, .cache = dst, .first_row = first_row, .rows = src, .n_rows = n_rows };
    for (0..n_rows) |i| kv_cache_rows.writeRow(t, args.cache + (first_row + i) * kv_cache_rows.rowBytes(t), src[i * kv_cache_rows.dim_k ..][0..kv_cache_rows.dim_k]);
    return status.code(.ok);
}

/// Dequantizes rows first_row..first_row+n_rows of a cache into `out` (n_rows × 576 f32).
export fn fm_kv_read_rows(cache_type: u32, cache: ?[*]const u8, row_capacity: usize, first_row: usize, out: ?[*]f32, n_rows: usize) i32 {
    const t = kv_cache_rows.CacheType.fromId(cache_type) orelse return status.code(.unsupported_type);
    const src = cache orelse return status.code(.invalid_argument);
    const dst = out orelse return status.code(.invalid_argument);
    if (first_row > row_capacity or n_rows > row_capacity - first_row) return status.code(.invalid_argument);
    for (0..n_rows) |i| kv_cache_rows.readRow(t, src + (first_row + i) * kv_cache_rows.rowBytes(t), dst[i * kv_cache_rows.dim_k ..][0..kv_cache_rows.dim_k]);
    return status.code(.ok);
}

/// Scratch bytes `fm_flash_mla` needs for these sizes and thread count.
export fn fm_flash_mla_scratch_bytes(cache_type: u32, n_tokens: usize, n_head: usize, n_threads: usize, out_bytes: *usize) i32 {
    const t = kv_cache_rows.CacheType.fromId(cache_type) orelse return status.code(.unsupported_type);
    if (n_threads < 1 or n_threads > ThreadPool.n_threads_max) return status.code(.invalid_argument);
    if (n_head == 0 or n_head > flash_mla.n_head_max or n_tokens == 0 or n_tokens > flash_mla.n_tokens_max) return status.code(.invalid_argument);
    out_bytes.* = flash_mla.scratchBytes(t, n_tokens, n_head, n_threads);
    return status.code(.ok);
}

/// MLA attention of one layer: q [n_tokens][n_head][576] f32 against n_kv cache rows, causal
/// by `positions` (i32 per token, null = the last n_tokens positions), into out
/// [n_tokens][n_head][512] f32. strategy: 0 auto, 1 heads, 2 kvsplit; the one used is written
/// to `out_strategy_used`.
export fn fm_flash_mla(pool: ?*ThreadPool, cache_type: u32, cache: ?[*]const u8, n_kv: usize, q: ?[*]const f32, n_tokens: usize, n_head: usize, positions: ?[*]const i32, kq_scale: f32, strategy: u32, out: ?[*]f32, scratch: ?[*]u8, scratch_len: usize, out_strategy_used: *u32) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const t = kv_cache_rows.CacheType.fromId(cache_type) orelse return status.code(.unsupported_type);
    const requested = std.meta.intToEnum(flash_mla.Strategy, strategy) catch return status.code(.invalid_argument);
    const args: flash_mla.Args = .{
        .cache_type = t,
        .cache = cache orelse return status.code(.invalid_argument),
        .n_kv = n_kv,
        .q = q orelse return status.code(.invalid_argument),
        .n_tokens = n_tokens,
        .n_head = n_head,
        .positions = positions,
        .kq_scale = kq_scale,
        .strategy = flash_mla.resolveStrategy(requested, n_kv, n_tokens, n_head, p.n_threads),
        .out = out orelse return status.code(.invalid_argument),
        .scratch = scratch orelse return status.code(.invalid_argument),
        .scratch_len = scratch_len,
    };
    if (!flash_mla.validate(&args, p.n_threads)) return status.code(.invalid_argument);
    const Run = struct {
        args: *const flash_mla.Args,
        pool: *ThreadPool,
        fn work(self: *const @This(), ith: usize, nth: usize) void {
            flash_mla.compute(self.args, self.pool, ith, nth);
        }
    };
    const run: Run = .{ .args = &args, .pool = p };
    p.parallel(Run, &run, Run.work);
    out_strategy_used.* = @intFromEnum(args.strategy);
    return status.code(.ok);
}

// ---------------------------------------------------------------- graph executor (model issue)
const graph = @import("graph.zig");

/// Allocates `bytes` of zeroed, page-aligned memory for a context's planned buffers (activations,
/// KV cache, node table); writes the address to `out_addr`. Freed with `fm_graph_free`.
export fn fm_graph_alloc(bytes: u64, out_addr: *usize) i32 {
    if (bytes == 0 or bytes > (1 << 40)) return status.code(.invalid_argument);
    // Buffers of 2 MiB or more start on a 2 MiB boundary and ask for transparent huge pages:
    // one fault per 2 MiB instead of 512 when repacked weights are written at load (8 GB took
    // 25 s of 4 KiB faults), and fewer TLB misses when the kernels stream them.
    const huge = 2 << 20;
    if (bytes >= huge) {
        const memory = std.heap.page_allocator.alignedAlloc(u8, .fromByteUnits(huge), @intCast(bytes)) catch
            return status.code(.out_of_memory);
        const madv_hugepage = 14;
        _ = std.c.madvise(@ptrCast(@alignCast(memory.ptr)), memory.len, madv_hugepage);
        out_addr.* = @intFromPtr(memory.ptr);
        return status.code(.ok);
    }
    const memory = std.heap.page_allocator.alignedAlloc(u8, .fromByteUnits(std.heap.page_size_min), @intCast(bytes)) catch
        return status.code(.out_of_memory);
    out_addr.* = @intFromPtr(memory.ptr);
    return status.code(.ok);
}

/// Frees memory from `fm_graph_alloc` (same `bytes`).
export fn fm_graph_free(addr: usize, bytes: u64) i32 {
    if (addr == 0 or bytes == 0 or addr % std.heap.page_size_min != 0) return status.code(.invalid_argument);
    const memory: [*]align(std.heap.page_size_min) u8 = @ptrFromInt(addr);
    std.heap.page_allocator.free(memory[0..@intCast(bytes)]);
    return status.code(.ok);
}

/// Scratch bytes of a graph `moe` node: gate/up and down weight types, n_embd, n_ff, n_expert,
/// tokens, experts per token.
export fn fm_graph_moe_scratch_bytes(gate_up_type: u32, down_type: u32, n_embd: usize, n_ff: usize, n_expert: usize, n_tokens: usize, k: usize, out_bytes: *u64) i32 {
    const gu = quants.traits(gate_up_type) orelse return status.code(.unsupported_type);
    const down = quants.traits(down_type) orelse return status.code(.unsupported_type);
    if (!gu.rowLengthValid(n_embd) or !down.rowLengthValid(n_ff) or n_tokens == 0 or k == 0 or k > n_expert) return status.code(.invalid_argument);
    out_bytes.* = moe.scratchBytes(gu, down, n_embd, n_ff, n_expert, n_tokens, k);
    return status.code(.ok);
}

/// Maps every page of `[addr, addr + len)` of a read-only file mapping into the page tables now
/// (madvise MADV_POPULATE_READ, reading from disk if needed), so token generation does not take
/// a minor fault on each first touch of an expert's weights — llama.cpp's MAP_POPULATE, per range.
export fn fm_graph_prefault(addr: usize, len: u64) i32 {
    if (addr == 0 or addr % std.heap.page_size_min != 0 or len == 0) return status.code(.invalid_argument);
    const populate_read = 22; // MADV_POPULATE_READ (Linux 5.14+)
    const base: [*]align(std.heap.page_size_min) u8 = @ptrFromInt(addr);
    if (std.c.madvise(base, @intCast(len), populate_read) == 0) return status.code(.ok);
    // Older kernels: touch one byte per page instead.
    var sink: u8 = 0;
    var offset: usize = 0;
    while (offset < len) : (offset += std.heap.page_size_min) sink +%= @as(*volatile u8, @ptrCast(base + offset)).*;
    std.mem.doNotOptimizeAway(sink);
    return status.code(.ok);
}

/// Runs `n_nodes` graph nodes (graph.Node, 128 bytes each) for one step (graph.Step) on the
/// pool, in one `pool.run`. `profile_ns` (0 or n_nodes u64) accumulates per-node nanoseconds.
export fn fm_graph_run(pool: ?*ThreadPool, nodes: [*]const graph.Node, n_nodes: u32, step: *const graph.Step, profile_ns: ?[*]u64) i32 {
    const p = pool orelse return status.code(.invalid_argument);
    const table = nodes[0..n_nodes];
    graph.validate(table, step, p.n_threads) catch return status.code(.invalid_argument);
    graph.run(p, table, step, profile_ns);
    return status.code(.ok);
}

test {
    std.testing.refAllDecls(@This());
    _ = ThreadPool;
    _ = mapped_file;
    _ = @import("simd.zig");
    _ = @import("flash_mla.zig");
    _ = matmul;
    _ = moe;
    _ = graph;
    _ = ops;
    _ = probes;
}
