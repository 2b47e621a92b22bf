//! Quantized matrix × activation products (GEMV for one token, GEMM for a batch) with ggml
//! semantics: the weight has ne = {K, N}, N rows of K elements, and `y[t][n] = Σ_k W[n][k]·x[t][k]`.
//!
//! How to call it (from a graph executor, inside one pool task):
//!
//!     const matmul = @import("matmul.zig");
//!     const args = matmul.Args{ .traits = quants.traits(type_id).?, .weight = w, .weight_row_bytes = rb,
//!         .k = K, .n = N, .t = T, .x = x, .x_row_stride = K, .y = y, .y_row_stride = N,
//!         .scratch = scratch[0..matmul.scratchBytes(traits, K, T)] };
//!     matmul.compute(&args, pool, ith, nth); // every thread calls it
//!
//! Phases: (1) the activation rows are quantized once (rows split over threads; each thread also
//! rewinds its chunk queue), barrier; (2) threads take chunks of (rows × tokens) from per-thread
//! queues over contiguous row ranges (ThreadPool.ChunkQueues: own range first, so each thread
//! streams its weights in order, then stealing) and compute them with the type's ncols-wide dot
//! products (quants.rowsDot), so each weight block is decoded once per tile of up to 4 tokens
//! (chunks of 64 tokens; past 64 tokens, of up to 128 rows, as every row chunk streams all the
//! tokens' activations: Q4_K_R8 t=512 142 → 147 GOP/s per core); with ≥ 8 tokens, a type with a
//! GEMM kernel (quants/gemm32.zig, quants/float.zig) takes chunks of up to 128 rows × 256 tokens
//! instead, decoding each weight row once per chunk. Row chunks of an interleaved layout (r8)
//! start at multiples of its row group. compute() calls `pool.barrier()` exactly once on every
//! thread and allocates nothing; the caller must meet a barrier before reading `y` or reusing the
//! scratch. Scratch layout: [64-byte aligned ChunkQueues lines][T activation rows].
const std = @import("std");
const ThreadPool = @import("ThreadPool.zig");
const quants = @import("quants/quants.zig");

/// One matmul's operands. Strides are in elements; rows may be views into larger buffers.
pub const Args = struct {
    traits: *const quants.Traits,
    /// N rows of `weight_row_bytes` bytes each (≥ traits.rowBytes(k)).
    weight: [*]const u8,
    weight_row_bytes: usize,
    k: usize,
    n: usize,
    /// Tokens (activation rows).
    t: usize,
    /// (t, x_row_stride) f32 activations.
    x: [*]const f32,
    x_row_stride: usize,
    /// (t, y_row_stride) f32 outputs; y[t][0..n] written.
    y: [*]f32,
    y_row_stride: usize,
    /// At least scratchBytes(traits, k, t) bytes, any alignment.
    scratch: []u8,
};

/// Tokens per register tile: each decoded weight block is used for this many activation rows.
const tile_tokens = quants.ncols_max;
/// Tokens per work chunk in a GEMM: enough to amortise the weight rows kept in L1.
const chunk_tokens = 64;

/// Scratch bytes a matmul of `t` tokens over rows of `k` elements needs.
pub fn scratchBytes(traits: *const quants.Traits, k: usize, t: usize) usize {
    const act_bytes = if (traits.activation == .f32) 0 else t * traits.activation.rowBytes(k);
    // One line of slack to align the queue lines.
    return std.atomic.cache_line + ThreadPool.ChunkQueues.bytes + act_bytes;
}

/// The per-thread queue lines (matmul.compute, and graph.zig's batched per-head products) and
/// the activation area inside a scratch buffer.
pub const ScratchView = struct {
    queue_lines: [*]u8,
    activations: [*]u8,

    pub fn of(scratch: []u8) ScratchView {
        const base = std.mem.alignForward(usize, @intFromPtr(scratch.ptr), std.atomic.cache_line);
        return .{ .queue_lines = @ptrFromInt(base), .activations = @ptrFromInt(base + ThreadPool.ChunkQueues.bytes) };
    }
};

/// Rows per chunk: small enough that every thread gets several chunks (load balance on a shared
/// machine), large enough that the counter is not contended; at most 32.
pub fn rowsPerChunk(n: usize, nth: usize) usize {
    return std.math.clamp(n / (nth * 8), 1, 32);
}

/// Tokens per chunk when the type's GEMM kernel runs: each 4-row weight panel it decodes is
/// shared by this many tokens.
const gemm_chunk_tokens = 256;

/// Rows per chunk for the GEMM kernel: a multiple of 4 (its row panel), at most 128 (the rows
/// one activation panel serves), and small enough that each thread gets about 4 row ranges.
pub fn gemmRowsPerChunk(n: usize, nth: usize) usize {
    return std.math.clamp(n / (nth * 4) / 4 * 4, 4, gemm_rows_max);
}

/// Most rows in a GEMM chunk (a multiple of 8, so the r8 layouts' alignment keeps it).
pub const gemm_rows_max = 128;

/// Phase 1: quantize this thread's share of the activation rows into `activations`. With fewer
/// rows than threads (a GEMV), every row is split into pieces over the threads instead, so the
/// others do not wait at the barrier while one quantizes a long row (10944 elements: ~8 µs of a
/// ~370 µs GEMV).
pub fn quantizeActivations(traits: *const quants.Traits, x: [*]const f32, x_row_stride: usize, k: usize, t: usize, activations: [*]u8, ith: usize, nth: usize) void {
    const format = traits.activation;
    if (format == .f32) return;
    const act_row_bytes = format.rowBytes(k);
    if (t >= nth) {
        const range = ThreadPool.splitRange(t, ith, nth);
        for (range.start..range.end) |row| {
            format.quantizeRow(x[row * x_row_stride ..][0..k], activations + row * act_row_bytes);
        }
        return;
    }
    const piece = format.pieceElements();
    const range = ThreadPool.splitRange(std.math.divCeil(usize, k, piece) catch unreachable, ith, nth);
    if (range.start == range.end) return;
    const start = range.start * piece;
    const end = @min(k, range.end * piece);
    for (0..t) |row| {
        format.quantizeRow(x[row * x_row_stride ..][start..end], activations + row * act_row_bytes + format.rowBytes(start));
    }
}

/// Every thread calls this once; see the file comment for the phases.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    std.debug.assert(args.traits.rowLengthValid(args.k));
    std.debug.assert(args.scratch.len >= scratchBytes(args.traits, args.k, args.t));
    const view = ScratchView.of(args.scratch);
    quantizeActivations(args.traits, args.x, args.x_row_stride, args.k, args.t, view.activations, ith, nth);
    const gemm = args.traits.gemm_tile != null and args.t >= args.traits.gemm_tokens_min;
    // With several token chunks, row chunks as tall as the GEMM's: each streams every token's
    // activations, which outgrow L2 in a long prefill.
    const tall = gemm or args.t > chunk_tokens;
    const rows_per_chunk = quants.alignRows(args.traits, if (tall) gemmRowsPerChunk(args.n, nth) else rowsPerChunk(args.n, nth));
    const tokens_per_chunk: usize = if (gemm) gemm_chunk_tokens else chunk_tokens;
    const row_chunks = std.math.divCeil(usize, args.n, rows_per_chunk) catch unreachable;
    const token_chunks = std.math.divCeil(usize, args.t, tokens_per_chunk) catch unreachable;
    const queues = ThreadPool.ChunkQueues{ .lines = view.queue_lines, .total = row_chunks * token_chunks, .nth = nth };
    queues.reset(ith);
    pool.barrier();

    const float_act = args.traits.activation == .f32;
    const act: [*]const u8 = if (float_act) @ptrCast(args.x) else view.activations;
    const act_stride = if (float_act) args.x_row_stride * 4 else args.traits.activation.rowBytes(args.k);
    var cursor = ThreadPool.ChunkQueues.Cursor.of(ith);
    while (queues.next(&cursor)) |chunk| {
        const row_start = (chunk / token_chunks) * rows_per_chunk;
        const token_start = (chunk % token_chunks) * tokens_per_chunk;
        computeTile(args, act, act_stride, .{
            .row_start = row_start,
            .row_end = @min(args.n, row_start + rows_per_chunk),
            .token_start = token_start,
            .token_end = @min(args.t, token_start + tokens_per_chunk),
        });
    }
}

/// A rectangle of outputs: rows [row_start, row_end) × tokens [token_start, token_end).
pub const Tile = struct { row_start: usize, row_end: usize, token_start: usize, token_end: usize };

/// Computes one tile: with many tokens through the type's GEMM kernel, else token tiles of up
/// to 4 share each decoded weight block in the dots.
pub fn computeTile(args: *const Args, act: [*]const u8, act_stride: usize, tile: Tile) void {
    const n_tokens = tile.token_end - tile.token_start;
    if (args.traits.gemm_tile) |gemm| if (n_tokens >= args.traits.gemm_tokens_min) {
        gemm(
            args.weight + tile.row_start * args.weight_row_bytes,
            args.weight_row_bytes,
            tile.row_end - tile.row_start,
            act + tile.token_start * act_stride,
            act_stride,
            n_tokens,
            args.k,
            args.y + tile.token_start * args.y_row_stride + tile.row_start,
            args.y_row_stride,
        );
        return;
    };
    var token = tile.token_start;
    while (token < tile.token_end) {
        const ncols = @min(tile_tokens, tile.token_end - token);
        const y = args.y + token * args.y_row_stride + tile.row_start;
        quants.rowsDot(args.traits, ncols, args.weight, args.weight_row_bytes, args.n, tile.row_start, tile.row_end, act + token * act_stride, act_stride, args.k, y, args.y_row_stride);
        token += ncols;
    }
}

/// Runs one matmul on the pool (standalone use: tests, benches).
pub fn run(args: *const Args, pool: *ThreadPool) void {
    pool.runOp(@This(), args);
}

test "matmul matches per-row dots for every thread count" {
    const k = 256;
    const n = 37;
    const t = 6;
    const traits = quants.traits(20).?;
    var prng = std.Random.DefaultPrng.init(5);
    const random = prng.random();
    var w_f32: [n * k]f32 = undefined;
    for (&w_f32) |*v| v.* = random.floatNorm(f32);
    var weight: [n * k]u8 = undefined;
    const row_bytes = traits.rowBytes(k);
    for (0..n) |row| traits.quantizeRow(w_f32[row * k ..][0..k], weight[row * row_bytes ..].ptr);
    var x: [t * k]f32 = undefined;
    for (&x) |*v| v.* = random.floatNorm(f32);
    var scratch: [4096 * 4]u8 = undefined;
    var expected: [t * n]f32 = undefined;
    for (1..4) |n_threads| {
        const pool = try ThreadPool.create(std.testing.allocator, n_threads);
        defer pool.destroy();
        var y: [t * n]f32 = undefined;
        const args = Args{ .traits = traits, .weight = &weight, .weight_row_bytes = row_bytes, .k = k, .n = n, .t = t, .x = &x, .x_row_stride = k, .y = &y, .y_row_stride = n, .scratch = &scratch };
        run(&args, pool);
        if (n_threads == 1) expected = y else try std.testing.expectEqualSlices(f32, &expected, &y);
    }
}

test {
    _ = quants;
}
