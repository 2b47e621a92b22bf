//! FlashMLA: absorbed MLA attention of one layer over the latent KV cache (MLA_SPEC §1.4 step 7,
//! §2). Query rows are 576 wide in cache order [W_UKᵀ·q_nope (512) ‖ rope(q_pe) (64)], one per
//! head per token; cache rows are [c (512) ‖ rope(k_r) (64)] and V is their first 512 values.
//!   out[t][h] = Σ_{s ≤ pos_t} softmax_s(kq_scale·⟨q[t][h], K[s]⟩) · V[s]        (512 f32)
//!
//! Work is cut into tiles of `tile_rows` cache rows. For each tile the K·q scores of a group of
//! heads are a small GEMM (the K tile is loaded once for every head of the group), then an online
//! softmax per head keeps a running max M, a running sum S and an unnormalised 512-wide
//! accumulator, and P·V is a second small GEMM. Two strategies share these tile kernels:
//! - `heads`: a thread owns (token, head) pairs and streams the whole visible cache for one head
//!   at a time (a GEMV; the pre-FlashMLA strategy, every thread reads the whole cache).
//! - `kvsplit`: a thread owns a contiguous chunk of cache rows and runs all heads on it; after one
//!   barrier head j's partials (M, S, acc) are merged by thread j mod nth with max-rescaling
//!   (the log-sum-exp merge of ik_llama.cpp, MLA_SPEC §2.3 A). With many query tokens (prefill)
//!   whole tokens are dealt to threads instead, which needs no merge at all.
//! Cache types: f16 rows are converted to f32 in registers as the K·q and P·V loops load them,
//! q8_0 rows into an f32 tile a few rows at a time, and every product is an f32 FMA; q8_KV runs K·q as int8 products (vpmaddubsw) against q quantized once per call (7 bits +
//! offset, see `query_levels`), and P·V as i16 products (vpmaddwd) of the int8 V rows with the
//! probabilities (row scale folded in) rounded to 15 bits per tile, summed exactly in i32 and
//! added to the f32 accumulators once per tile (see `quantizeProbabilities`).
//! Every SIMD path has a scalar twin, chosen by `cpu_path.simd()`.
const std = @import("std");
const ThreadPool = @import("ThreadPool.zig");
const cpu_path = @import("cpu_path.zig");
const simd = @import("simd.zig");
const kv_rows = @import("kv_cache_rows.zig");

pub const CacheType = kv_rows.CacheType;
pub const dim_k = kv_rows.dim_k;
pub const dim_v = kv_rows.dim_v;

/// Most cache rows per tile (the stride of the per-tile score rows): one K·q GEMM and one P·V
/// GEMM per tile and head group. The tile of a call is `tileRows(cache_type)`.
pub const tile_rows: usize = 128;

/// Cache rows per tile. Larger tiles cut the per-tile work around the P·V loops (loading,
/// rescaling and storing the 512-wide accumulators, the softmax bookkeeping): against 32 rows,
/// 64 made q8_KV 4% faster at depth 16384 and 128 another 4%. f16 and q8_0 gain at most 1-2%
/// (their tile copy is gone) and keep 32: the tile also sets where the online softmax rescales,
/// and the llama.cpp conformance test of the (MoE) Q8_0-weight model, where tiny rounding
/// changes can flip an expert choice, fails with 64 (q8_0 top-1 94.7% < 95%) and 128 (f16
/// largest log-prob gap 0.83 > 0.6), KL means unchanged; 32 keeps their numerics as they were.
pub fn tileRows(cache_type: CacheType) usize {
    return if (cache_type == .q8_KV) 128 else 32;
}

comptime {
    // Whole-tile vector passes, row pairs for the i16 P·V, and exact i32 P·V sums per tile.
    std.debug.assert(tile_rows % 8 == 0);
    std.debug.assert(tile_rows * 127 * 32767 < std.math.maxInt(i32));
}
/// Most heads per call (DeepSeek-V2 has 128, V2-Lite 16).
pub const n_head_max: usize = 128;
/// Most query tokens per call (a prefill batch).
pub const n_tokens_max: usize = 8192;
/// Query tokens that share each K tile in the many-token (prefill) path: the tile is converted
/// once for token_block·n_head query rows.
pub const token_block: usize = 4;
/// Floats per per-head partial: M, S, 6 floats of padding (keeps acc 32-byte aligned), acc[512].
const partial_stride: usize = 8 + dim_v;
/// Below this many visible rows `auto` picks `heads` for single-token queries. Measured on the
/// 2-core AVX2 machine, 16 heads, 2 threads, best of 400 calls (heads/kvsplit µs, 128-row tiles):
/// f16 5/9 at 1 row, 11/13 at 16, 15/14 at 24, 19/16 at 32, 63/35 at 128; q8_KV 12/17 at 1,
/// 16/19 at 16, 20/21 at 32, 25/23 at 48, 51/34 at 128 (kvsplit pays a barrier and a merge that
/// only amortise over a few rows per thread). At 32 f16 already gains and q8_KV is 1 µs short of
/// even, so one threshold serves both.
pub const auto_kvsplit_min_rows: usize = 32;

/// Thread strategy of a call.
pub const Strategy = enum(u32) {
    auto = 0,
    heads = 1,
    kvsplit = 2,
};

/// One call's inputs and outputs. `strategy` must be resolved (not `auto`): see `resolveStrategy`.
pub const Args = struct {
    cache_type: CacheType,
    /// Row 0 of the cache; rows are `kv_rows.rowBytes(cache_type)` bytes apart.
    cache: [*]const u8,
    /// Rows present in the cache (every query position is below this).
    n_kv: usize,
    /// [n_tokens][n_head][576] f32.
    q: [*]const f32,
    n_tokens: usize,
    n_head: usize,
    /// Position of each query token (0 ≤ pos < n_kv); null means the last n_tokens positions.
    positions: ?[*]const i32,
    kq_scale: f32,
    strategy: Strategy,
    /// [n_tokens][n_head][512] f32.
    out: [*]f32,
    /// At least `scratchBytes(cache_type, n_tokens, n_head, nth)` bytes, any alignment.
    scratch: [*]u8,
    scratch_len: usize,
};

/// `auto` resolved for a call: multi-token queries and single-threaded calls always use
/// `kvsplit` (all heads per K tile is never worse there); single tokens use `heads` only for
/// caches too short to give every thread a tile.
pub fn resolveStrategy(strategy: Strategy, n_kv: usize, n_tokens: usize, n_head: usize, nth: usize) Strategy {
    if (strategy != .auto) return strategy;
    if (n_tokens > 1 or nth == 1 or n_head == 1) return .kvsplit;
    return if (n_kv < auto_kvsplit_min_rows) .heads else .kvsplit;
}

/// Byte offsets of the scratch regions (relative to the 64-aligned base).
const Layout = struct {
    q8_offset: usize,
    q8_scale_offset: usize,
    threads_offset: usize,
    thread_bytes: usize,
    tile_offset: usize,
    scores_offset: usize,
    factors_offset: usize,
    row_scale_offset: usize,
    partial_offset: usize,
    limits_offset: usize,
    p16_offset: usize,
    p_step_offset: usize,
    total: usize,

    fn init(cache_type: CacheType, n_tokens: usize, n_head: usize, nth: usize) Layout {
        var l: Layout = undefined;
        const q_rows = if (cache_type == .q8_KV) n_tokens * n_head else 0;
        l.q8_offset = 0;
        l.q8_scale_offset = alignUp(q_rows * dim_k);
        l.threads_offset = l.q8_scale_offset + alignUp(q_rows * 4);
        l.tile_offset = 0;
        l.scores_offset = alignUp(tile_rows * dim_k * 4);
        // Query rows one thread works on at once: a block of tokens × all heads.
        const q_rows_max = n_head * @min(n_tokens, token_block);
        l.factors_offset = l.scores_offset + alignUp(q_rows_max * tile_rows * 4);
        l.row_scale_offset = l.factors_offset + alignUp(q_rows_max * 4);
        l.partial_offset = l.row_scale_offset + alignUp(tile_rows * 4);
        l.limits_offset = l.partial_offset + alignUp(q_rows_max * partial_stride * 4);
        l.p16_offset = l.limits_offset + alignUp(token_block * @sizeOf(usize));
        l.p_step_offset = l.p16_offset + alignUp(q_rows_max * tile_rows * 2);
        l.thread_bytes = l.p_step_offset + alignUp(q_rows_max * 4);
        l.total = l.threads_offset + nth * l.thread_bytes;
        return l;
    }
};

fn alignUp(n: usize) usize {
    return std.mem.alignForward(usize, n, 64);
}

/// Scratch bytes a call needs (64 bytes of slack let the caller pass any alignment).
pub fn scratchBytes(cache_type: CacheType, n_tokens: usize, n_head: usize, nth: usize) usize {
    return Layout.init(cache_type, n_tokens, n_head, nth).total + 64;
}

/// One thread's scratch, typed.
const Workspace = struct {
    /// tile_rows × 576 f32: the current K tile in f32 (q8_0, and the scalar twin of f16).
    tile: [*]f32,
    /// q8_KV: V as i16 row pairs (aliases `tile`): one column block (SIMD) or the whole tile,
    /// [tile_rows/2][512][2] (scalar twin).
    v16: [*]i16,
    /// n_head × tile_rows: scores, then probabilities.
    scores: [*]f32,
    /// n_head: factor to rescale each accumulator by before adding this tile.
    factors: [*]f32,
    /// tile_rows: q8_KV row scales of the current tile.
    row_scale: [*]f32,
    /// query rows × partial_stride: running (M, S, acc) per query row (token-major, then head).
    partial: [*]f32,
    /// token_block: rows visible to each token of the block (the causal limit).
    limits: [*]usize,
    /// q8_KV: query rows × tile_rows probabilities (row scale folded in) as i16 steps.
    p16: [*]i16,
    /// q8_KV: the step of each query row's p16 for the current tile.
    p_step: [*]f32,
};

const Scratch = struct {
    base: [*]align(64) u8,
    layout: Layout,

    fn init(args: *const Args, nth: usize) Scratch {
        const address = std.mem.alignForward(usize, @intFromPtr(args.scratch), 64);
        return .{
            .base = @ptrFromInt(address),
            .layout = Layout.init(args.cache_type, args.n_tokens, args.n_head, nth),
        };
    }

    fn workspace(self: Scratch, ith: usize) Workspace {
        const t = self.base + self.layout.threads_offset + ith * self.layout.thread_bytes;
        return .{
            .tile = @ptrCast(@alignCast(t + self.layout.tile_offset)),
            .v16 = @ptrCast(@alignCast(t + self.layout.tile_offset)),
            .scores = @ptrCast(@alignCast(t + self.layout.scores_offset)),
            .factors = @ptrCast(@alignCast(t + self.layout.factors_offset)),
            .row_scale = @ptrCast(@alignCast(t + self.layout.row_scale_offset)),
            .partial = @ptrCast(@alignCast(t + self.layout.partial_offset)),
            .limits = @ptrCast(@alignCast(t + self.layout.limits_offset)),
            .p16 = @ptrCast(@alignCast(t + self.layout.p16_offset)),
            .p_step = @ptrCast(@alignCast(t + self.layout.p_step_offset)),
        };
    }

    /// int8 query rows, [n_tokens][n_head][576] (q8_KV only).
    fn q8(self: Scratch) [*]i8 {
        return @ptrCast(self.base + self.layout.q8_offset);
    }

    /// Scale of each int8 query row (q8_KV only).
    fn q8Scale(self: Scratch) [*]f32 {
        return @ptrCast(@alignCast(self.base + self.layout.q8_scale_offset));
    }
};

/// Number of cache rows query token `t` sees (causal mask: rows 0..pos_t).
fn visibleRows(args: *const Args, t: usize) usize {
    const pos: usize = if (args.positions) |p| @intCast(p[t]) else args.n_kv - args.n_tokens + t;
    std.debug.assert(pos < args.n_kv);
    return pos + 1;
}

/// Checks everything `compute` relies on; the exports call it before running.
pub fn validate(args: *const Args, nth: usize) bool {
    if (args.n_head == 0 or args.n_head > n_head_max) return false;
    if (args.n_tokens == 0 or args.n_tokens > n_tokens_max) return false;
    if (args.n_kv == 0 or args.strategy == .auto) return false;
    if (!(std.math.isFinite(args.kq_scale))) return false;
    if (args.scratch_len < scratchBytes(args.cache_type, args.n_tokens, args.n_head, nth)) return false;
    if (args.positions) |positions| {
        for (positions[0..args.n_tokens]) |pos| if (pos < 0 or pos >= args.n_kv) return false;
    } else if (args.n_tokens > args.n_kv) return false;
    return true;
}

/// Runs on every thread of `pool` (ith of nth); barriers inside, allocation-free.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    std.debug.assert(args.strategy != .auto and ith < nth);
    const scratch = Scratch.init(args, nth);
    if (args.cache_type == .q8_KV) {
        quantizeQueries(args, scratch, ith, nth);
        pool.barrier();
    }
    const ws = scratch.workspace(ith);
    switch (args.strategy) {
        .heads => runHeads(args, scratch, ws, ith, nth),
        .kvsplit => if (args.n_tokens >= 4 * nth)
            runTokens(args, scratch, ws, ith, nth)
        else
            runKvSplit(args, scratch, ws, pool, ith, nth),
        .auto => unreachable,
    }
}

/// Largest |q| of a quantized query: 7 bits, so that q + 64 ∈ [1, 127] is an unsigned byte whose
/// vpmaddubsw pair sums with int8 K (2·127·127 = 32258) never saturate. That drops the sign trick
/// (vpabsb + vpsignb per K vector and head) from the int8 score loop; the +64 offset comes back
/// out through the row header's Σk: Σ (q+64)·k = Σ q·k + 64·Σk.
pub const query_levels: f32 = 63;

/// q8_KV: every query row quantized once per call with its own scale d = amax/63, stored as the
/// unsigned bytes q + 64.
fn quantizeQueries(args: *const Args, scratch: Scratch, ith: usize, nth: usize) void {
    const n_rows = args.n_tokens * args.n_head;
    const range = ThreadPool.splitRange(n_rows, ith, nth);
    for (range.start..range.end) |i| {
        const row = args.q[i * dim_k ..][0..dim_k];
        var amax: f32 = 0;
        for (row) |x| amax = @max(amax, @abs(x));
        const d = amax / query_levels;
        const id: f32 = if (d != 0) 1.0 / d else 0.0;
        const out = scratch.q8() + i * dim_k;
        for (row, 0..) |x, c| {
            const q: i32 = @intFromFloat(std.math.clamp(@round(x * id), -query_levels, query_levels));
            out[c] = @intCast(q + 64);
        }
        scratch.q8Scale()[i] = d;
    }
}

/// `heads`: (token, head) pairs dealt round-robin; each streams its visible rows alone.
fn runHeads(args: *const Args, scratch: Scratch, ws: Workspace, ith: usize, nth: usize) void {
    var unit = ith;
    while (unit < args.n_tokens * args.n_head) : (unit += nth) {
        const t = unit / args.n_head;
        const h = unit % args.n_head;
        ws.limits[0] = visibleRows(args, t);
        attendRange(args, scratch, ws, t, 1, h, 1, 0, ws.limits[0]);
        normalizeInto(ws.partial, 1, args.out + unit * dim_v);
    }
}

/// `kvsplit` with many tokens: blocks of `token_block` tokens × all heads share each K tile;
/// blocks are dealt round-robin (neighbouring blocks see almost the same number of rows, so the
/// causal imbalance evens out).
fn runTokens(args: *const Args, scratch: Scratch, ws: Workspace, ith: usize, nth: usize) void {
    var t0 = ith * token_block;
    while (t0 < args.n_tokens) : (t0 += nth * token_block) {
        const nt = @min(token_block, args.n_tokens - t0);
        var rows: usize = 0;
        for (0..nt) |j| {
            ws.limits[j] = visibleRows(args, t0 + j);
            rows = @max(rows, ws.limits[j]);
        }
        attendRange(args, scratch, ws, t0, nt, 0, args.n_head, 0, rows);
        normalizeInto(ws.partial, nt * args.n_head, args.out + t0 * args.n_head * dim_v);
    }
}

/// `kvsplit` per token: contiguous whole tiles per thread, barrier, merge of head j by thread
/// j mod nth.
fn runKvSplit(args: *const Args, scratch: Scratch, ws: Workspace, pool: *ThreadPool, ith: usize, nth: usize) void {
    for (0..args.n_tokens) |t| {
        ws.limits[0] = visibleRows(args, t);
        // Even contiguous chunks (not whole tiles), so short caches still use every thread.
        const chunk = ThreadPool.splitRange(ws.limits[0], ith, nth);
        attendRange(args, scratch, ws, t, 1, 0, args.n_head, chunk.start, chunk.end);
        pool.barrier();
        var h = ith;
        while (h < args.n_head) : (h += nth) {
            mergeHead(scratch, h, nth, args.out + (t * args.n_head + h) * dim_v);
        }
        // The next token overwrites the partials the other threads are still merging.
        if (t + 1 < args.n_tokens) pool.barrier();
    }
}

/// Log-sum-exp merge of head h's partials from every thread into `out`, then normalisation.
/// A thread whose chunk was empty left M = -inf and is skipped.
fn mergeHead(scratch: Scratch, h: usize, nth: usize, out: [*]f32) void {
    var m: f32 = -std.math.inf(f32);
    var s: f32 = 0;
    for (0..nth) |t| {
        const part = scratch.workspace(t).partial + h * partial_stride;
        const m_t = part[0];
        if (m_t == -std.math.inf(f32)) continue;
        const acc_t = part + 8;
        if (m == -std.math.inf(f32)) {
            @memcpy(out[0..dim_v], acc_t[0..dim_v]);
            s = part[1];
        } else if (m_t > m) {
            const c = @exp(m - m_t);
            for (0..dim_v) |i| out[i] = out[i] * c + acc_t[i];
            s = s * c + part[1];
        } else {
            const c = @exp(m_t - m);
            for (0..dim_v) |i| out[i] += c * acc_t[i];
            s += c * part[1];
        }
        m = @max(m, m_t);
    }
    // Every head sees at least row 0, so some partial is non-empty and s ≥ 1.
    std.debug.assert(s >= 1);
    const inv = 1.0 / s;
    for (out[0..dim_v]) |*x| x.* *= inv;
}

/// out[h] = acc_h / S_h for the first n_heads partials.
fn normalizeInto(partial: [*]const f32, n_heads: usize, out: [*]f32) void {
    for (0..n_heads) |h| {
        const part = partial + h * partial_stride;
        std.debug.assert(part[1] >= 1);
        const inv = 1.0 / part[1];
        for (0..dim_v) |i| out[h * dim_v + i] = part[8 + i] * inv;
    }
}

/// Online softmax over rows [row0, row1) for the query rows of tokens t0..t0+nt, heads
/// [head0, head0+n_heads) (nt > 1 only with all heads, so the query rows are contiguous), leaving
/// (M, S, acc) per query row in ws.partial. Token j's rows from ws.limits[j] on are masked.
/// An empty range leaves M = -inf, S = 0, acc = 0.
fn attendRange(args: *const Args, scratch: Scratch, ws: Workspace, t0: usize, nt: usize, head0: usize, n_heads_one: usize, row0: usize, row1: usize) void {
    if (args.cache_type == .q8_KV) {
        attendTiles(tileRows(.q8_KV), args, scratch, ws, t0, nt, head0, n_heads_one, row0, row1);
    } else {
        attendTiles(tileRows(.f16), args, scratch, ws, t0, nt, head0, n_heads_one, row0, row1);
    }
}

fn attendTiles(comptime rows: usize, args: *const Args, scratch: Scratch, ws: Workspace, t0: usize, nt: usize, head0: usize, n_heads_one: usize, row0: usize, row1: usize) void {
    comptime std.debug.assert(rows <= tile_rows and rows % 8 == 0);
    std.debug.assert(nt == 1 or n_heads_one == args.n_head);
    const n_heads = nt * n_heads_one;
    for (0..n_heads) |h| {
        const part = ws.partial + h * partial_stride;
        part[0] = -std.math.inf(f32);
        part[1] = 0;
        @memset(part[8 .. 8 + dim_v], 0);
    }
    const use_simd = cpu_path.simd();
    const q_row = t0 * args.n_head + head0;
    var row = row0;
    while (row < row1) : (row += rows) {
        const n = @min(rows, row1 - row);
        const f16_rows: [*]align(1) const f16 = @ptrCast(args.cache + row * kv_rows.rowBytes(.f16));
        if (args.cache_type == .q8_KV) {
            scoreTileQ8KV(args, scratch, ws, q_row, n_heads, row, n, use_simd);
        } else if (args.cache_type == .f16 and use_simd) {
            // f16 straight from the cache, converted in registers (vcvtph2ps from memory, once
            // per head group): the f32 copy of the tile it replaces (147 KB of stores through L2
            // per tile, re-read by P·V) took ~20% of the time; in chunks of 6 rows, which stay
            // in L1 while every head group multiplies them (whole-tile head loops: 6% slower).
            var i: usize = 0;
            while (i < n) : (i += score_chunk_rows) {
                const m = @min(score_chunk_rows, n - i);
                for (0..m) |r| prefetchRow(@ptrCast(f16_rows + (i + r + prefetch_rows) * dim_k), kv_rows.rowBytes(.f16));
                scoreTileSimd(f16, f16_rows + i * dim_k, m, args.q + q_row * dim_k, n_heads, ws.scores + i);
            }
        } else {
            // Convert and score a few rows at a time, so the rows just converted are still in L1
            // while every head group multiplies them.
            var i: usize = 0;
            while (i < n) : (i += score_chunk_rows) {
                const m = @min(score_chunk_rows, n - i);
                loadTileF32(args.cache_type, args.cache, row + i, m, ws.tile + i * dim_k, use_simd);
                scoreTileF32(ws.tile + i * dim_k, m, args.q + q_row * dim_k, n_heads, ws.scores + i, use_simd);
            }
        }
        scaleAndMask(rows, ws, nt, n_heads_one, row, n, args.kq_scale, use_simd);
        updateSoftmax(rows, ws, n_heads, n, args.cache_type == .q8_KV, use_simd);
        if (args.cache_type == .q8_KV) {
            quantizeProbabilities(rows, ws, n_heads, n, use_simd);
            if (use_simd) {
                accumulatePvI16Simd(args.cache + row * kv_rows.rowBytes(.q8_KV), ws, n_heads, n);
            } else accumulatePvI16Scalar(ws, n_heads, n);
        } else if (args.cache_type == .f16 and use_simd) {
            accumulatePvSimd(f16, f16_rows, ws, n_heads, n);
        } else {
            if (use_simd) accumulatePvSimd(f32, ws.tile, ws, n_heads, n) else accumulatePvScalar(ws, n_heads, n);
        }
    }
}

// ---------------------------------------------------------------- tiles to f32

/// How far ahead rows are prefetched. Cache rows stream from L3 or DRAM (27 layers of up to 19 MB
/// do not fit L3) and the loads stalled on them: at 4096 f16 rows (L3) the f32 conversion took
/// 22% of the time against 6% with the rows in L2, and without prefetching f16 kvsplit at depth
/// 16384 is 12% slower. 48, 64 and 128 rows ahead measured the same.
const prefetch_rows = 64;

/// Prefetches one cache row into L2 (prefetch never faults, so running past the cache is fine).
inline fn prefetchRow(row: [*]const u8, row_bytes: usize) void {
    var offset: usize = 0;
    while (offset < row_bytes) : (offset += 64) {
        @prefetch(row + offset, .{ .rw = .read, .locality = 2, .cache = .data });
    }
}

/// Converts n cache rows starting at `row` to f32 (f16, q8_0): tile[i][0..576].
noinline fn loadTileF32(cache_type: CacheType, cache: [*]const u8, row: usize, n: usize, tile: [*]f32, use_simd: bool) void {
    const row_bytes = kv_rows.rowBytes(cache_type);
    for (0..n) |i| {
        const src = cache + (row + i) * row_bytes;
        prefetchRow(src + prefetch_rows * row_bytes, row_bytes);
        const dst = tile + i * dim_k;
        switch (cache_type) {
            .f16 => if (use_simd) {
                const halves: [*]align(1) const f16 = @ptrCast(src);
                var c: usize = 0;
                while (c < dim_k) : (c += 8) {
                    const h8: @Vector(8, f16) = halves[c..][0..8].*;
                    dst[c..][0..8].* = @as(V8, @floatCast(h8));
                }
            } else kv_rows.readRow(.f16, src, dst[0..dim_k]),
            .q8_0 => if (use_simd) {
                for (0..dim_k / kv_rows.q8_0_block) |b| {
                    const block = src + b * kv_rows.q8_0_block_bytes;
                    const d: V8 = @splat(@as(f16, @bitCast(std.mem.readInt(u16, block[0..2], .little))));
                    const quants: [*]const i8 = @ptrCast(block + 2);
                    inline for (0..4) |j| {
                        const q8: @Vector(8, i8) = quants[j * 8 ..][0..8].*;
                        dst[b * 32 + j * 8 ..][0..8].* = d * @as(V8, @floatFromInt(q8));
                    }
                }
            } else kv_rows.readRow(.q8_0, src, dst[0..dim_k]),
            .q8_KV => unreachable,
        }
    }
}

// ---------------------------------------------------------------- K·q scores

const V8 = @Vector(8, f32);
/// Rows × heads of one register block of the f32 score GEMM (2 × 4 = 8 accumulators).
const score_block_rows = 3;
const score_block_heads = 4;
/// Rows converted and scored together: 6 f32 rows (14 KB) plus a head group's queries (9 KB)
/// fit the 32 KB L1.
const score_chunk_rows = 2 * score_block_rows;

/// scores[h][i] = ⟨q[h], tile[i]⟩ over 576 for i < n, h < n_heads.
noinline fn scoreTileF32(tile: [*]const f32, n: usize, q: [*]const f32, n_heads: usize, scores: [*]f32, use_simd: bool) void {
    if (!use_simd) {
        for (0..n_heads) |h| for (0..n) |i| {
            var sum: f32 = 0;
            for (0..dim_k) |c| sum += q[h * dim_k + c] * tile[i * dim_k + c];
            scores[h * tile_rows + i] = sum;
        };
        return;
    }
    scoreTileSimd(f32, tile, n, q, n_heads, scores);
}

/// K rows of element type T (the f32 tile, or f16 cache rows converted in registers), 576 apart.
fn KRows(comptime T: type) type {
    return if (T == f16) [*]align(1) const f16 else [*]const f32;
}

/// Eight values of a K/V row as f32.
inline fn loadV8(comptime T: type, p: KRows(T)) V8 {
    if (T == f16) return @floatCast(@as(@Vector(8, f16), p[0..8].*));
    return p[0..8].*;
}

noinline fn scoreTileSimd(comptime T: type, tile: KRows(T), n: usize, q: [*]const f32, n_heads: usize, scores: [*]f32) void {
    // Head groups outer: a group's 4 query rows (9 KB) stay in L1 while the tile streams by.
    var h: usize = 0;
    while (h + score_block_heads <= n_heads) : (h += score_block_heads) {
        scoreHeadsF32(T, score_block_heads, tile, n, q + h * dim_k, scores + h * tile_rows);
    }
    switch (n_heads - h) {
        0 => {},
        inline 1...score_block_heads - 1 => |H| scoreHeadsF32(T, H, tile, n, q + h * dim_k, scores + h * tile_rows),
        else => unreachable,
    }
}

fn scoreHeadsF32(comptime T: type, comptime H: usize, tile: KRows(T), n: usize, q: [*]const f32, scores: [*]f32) void {
    var i: usize = 0;
    while (i + score_block_rows <= n) : (i += score_block_rows) {
        dotBlockF32(T, score_block_rows, H, tile + i * dim_k, q, scores + i);
    }
    while (i < n) : (i += 1) dotBlockF32(T, 1, H, tile + i * dim_k, q, scores + i);
}

/// The register block: R K rows × H query rows, 8 lanes each, FMA over the 576 columns.
inline fn dotBlockF32(comptime T: type, comptime R: usize, comptime H: usize, k: KRows(T), q: [*]const f32, scores: [*]f32) void {
    var acc: [R][H]V8 = @splat(@splat(@splat(0)));
    var c: usize = 0;
    while (c < dim_k) : (c += 8) {
        var kv: [R]V8 = undefined;
        inline for (0..R) |r| kv[r] = loadV8(T, k + r * dim_k + c);
        inline for (0..H) |h| {
            const qv: V8 = q[h * dim_k + c ..][0..8].*;
            inline for (0..R) |r| acc[r][h] = @mulAdd(V8, kv[r], qv, acc[r][h]);
        }
    }
    inline for (0..R) |r| {
        if (H == 4) {
            const sums = sum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
            inline for (0..4) |h| scores[h * tile_rows + r] = sums[h];
        } else inline for (0..H) |h| {
            scores[h * tile_rows + r] = sum4(acc[r][h], @splat(0), @splat(0), @splat(0))[0];
        }
    }
}

/// The lane sums of four vectors as one 4-vector, by a shuffle-add tree (3 levels for all four
/// instead of a 7-step ordered reduction each).
inline fn sum4(a: V8, b: V8, c: V8, d: V8) @Vector(4, f32) {
    // ab[i] = a[2i] + a[2i+1] (i < 4), then b's pairs; likewise cd.
    const ab = @shuffle(f32, a, b, [8]i32{ 0, 2, 4, 6, -1, -3, -5, -7 }) +
        @shuffle(f32, a, b, [8]i32{ 1, 3, 5, 7, -2, -4, -6, -8 });
    const cd = @shuffle(f32, c, d, [8]i32{ 0, 2, 4, 6, -1, -3, -5, -7 }) +
        @shuffle(f32, c, d, [8]i32{ 1, 3, 5, 7, -2, -4, -6, -8 });
    // abcd = [a01+a23, a45+a67, b.., b.., c.., c.., d.., d..]
    const abcd = @shuffle(f32, ab, cd, [8]i32{ 0, 2, 4, 6, -1, -3, -5, -7 }) +
        @shuffle(f32, ab, cd, [8]i32{ 1, 3, 5, 7, -2, -4, -6, -8 });
    return @shuffle(f32, abcd, undefined, [4]i32{ 0, 2, 4, 6 }) +
        @shuffle(f32, abcd, undefined, [4]i32{ 1, 3, 5, 7 });
}

const I8x32 = @Vector(32, i8);
const I32x8 = @Vector(8, i32);

/// q8_KV tile: int8 K·q scores scaled by d_K·d_q, and the V part of the rows as i16 row pairs
/// (unscaled; the row scale goes into the probabilities).
noinline fn scoreTileQ8KV(args: *const Args, scratch: Scratch, ws: Workspace, q_row: usize, n_heads: usize, row: usize, n: usize, use_simd: bool) void {
    const row_bytes = kv_rows.rowBytes(.q8_KV);
    const rows = args.cache + row * row_bytes;
    const q8 = scratch.q8() + q_row * dim_k;
    const d_q = scratch.q8Scale() + q_row;
    for (0..n) |i| {
        const src = rows + i * row_bytes;
        prefetchRow(src + prefetch_rows * row_bytes, row_bytes);
        ws.row_scale[i] = kv_rows.rowScaleQ8KV(src);
    }
    // Rows past n get scale 0, so the vector passes over whole tiles stay finite.
    @memset(ws.row_scale[n..tileRows(.q8_KV)], 0);
    if (use_simd) {
        for (0..n) |i| scoreRowI8(rows + i * row_bytes, q8, d_q, ws.row_scale[i], n_heads, ws.scores + i);
    } else {
        for (0..n_heads) |h| for (0..n) |i| {
            const k: [*]const i8 = @ptrCast(rows + i * row_bytes + kv_rows.q8_kv_header_bytes);
            var sum: i32 = 0;
            for (0..dim_k) |c| sum += @as(i32, k[c]) * (@as(i32, q8[h * dim_k + c]) - 64);
            ws.scores[h * tile_rows + i] = @as(f32, @floatFromInt(sum)) * (d_q[h] * ws.row_scale[i]);
        };
    }
    // The SIMD P·V converts V one column block at a time (accumulatePvI16Simd).
    if (!use_simd) loadTileV16(rows, n, ws.v16, 0, dim_v, false);
}

/// Rows of one V16 pair: [512 columns][2 rows] i16.
const v16_pair_len = 2 * dim_v;

/// Columns [c0, c1) of the V part of n q8_KV rows as i16, rows 2k and 2k+1 interleaved per
/// column (pair k at v16[k·2(c1−c0)..]), so that one vpmaddwd multiplies a column of a row pair
/// by that pair's two probabilities (see `pvBlockI16`). An odd n gets a zero partner row.
fn loadTileV16(rows: [*]const u8, n: usize, v16: [*]i16, c0: usize, c1: usize, use_simd: bool) void {
    const row_bytes = kv_rows.rowBytes(.q8_KV);
    const zero_row: [dim_v]i8 = @splat(0);
    const pair_len = 2 * (c1 - c0);
    var k: usize = 0;
    while (2 * k < n) : (k += 1) {
        const a: [*]const i8 = @ptrCast(rows + 2 * k * row_bytes + kv_rows.q8_kv_header_bytes);
        const b: [*]const i8 = if (2 * k + 1 < n)
            @ptrCast(rows + (2 * k + 1) * row_bytes + kv_rows.q8_kv_header_bytes)
        else
            &zero_row;
        const dst = v16 + k * pair_len;
        if (use_simd) {
            // 16 columns per step: two 16-byte loads, vpunpck{l,h}bw, two vpmovsxbw.
            std.debug.assert((c1 - c0) % 16 == 0);
            var c = c0;
            while (c < c1) : (c += 16) {
                const va: @Vector(16, i8) = a[c..][0..16].*;
                const vb: @Vector(16, i8) = b[c..][0..16].*;
                const lo = @shuffle(i8, va, vb, [16]i32{ 0, -1, 1, -2, 2, -3, 3, -4, 4, -5, 5, -6, 6, -7, 7, -8 });
                const hi = @shuffle(i8, va, vb, [16]i32{ 8, -9, 9, -10, 10, -11, 11, -12, 12, -13, 13, -14, 14, -15, 15, -16 });
                dst[2 * (c - c0) ..][0..16].* = @as(@Vector(16, i16), lo);
                dst[2 * (c - c0) + 16 ..][0..16].* = @as(@Vector(16, i16), hi);
            }
        } else {
            for (c0..c1) |c| {
                dst[2 * (c - c0)] = a[c];
                dst[2 * (c - c0) + 1] = b[c];
            }
        }
    }
}

/// One q8_KV row against every head: d_q[h]·d_K·⟨q_h, k⟩ into scores[h·tile_rows].
fn scoreRowI8(row: [*]const u8, q8: [*]const i8, d_q: [*]const f32, d_k: f32, n_heads: usize, scores: [*]f32) void {
    var h: usize = 0;
    while (h + 8 <= n_heads) : (h += 8) dotRowI8(8, row, q8 + h * dim_k, d_q + h, d_k, scores + h * tile_rows);
    switch (n_heads - h) {
        0 => {},
        inline 1...7 => |H| dotRowI8(H, row, q8 + h * dim_k, d_q + h, d_k, scores + h * tile_rows),
        else => unreachable,
    }
}

extern fn @"llvm.x86.avx2.phadd.d"(I32x8, I32x8) I32x8;

/// One int8 K row × H query rows held as q + 64 (unsigned, ≤ 127): vpmaddubsw(q + 64, k) then
/// vpmaddwd against ones gives Σ (q+64)·k in i32 lanes; 64·Σk (row header) is subtracted after.
/// One row by 8 heads (rather than a 2 × 4 block) lets a 9-instruction vphaddd tree reduce the
/// 8 accumulators to one vector of 8 scores, scaled in one multiply; the 8 separate lane
/// reductions and the scalar scaling pass it replaces cost ~15% of the scoring.
inline fn dotRowI8(comptime H: usize, row: [*]const u8, q8: [*]const i8, d_q: [*]const f32, d_k: f32, scores: [*]f32) void {
    const ones: simd.I16x16 = @splat(1);
    const quants: [*]const i8 = @ptrCast(row + kv_rows.q8_kv_header_bytes);
    var acc: [H]I32x8 = @splat(@splat(0));
    var c: usize = 0;
    while (c < dim_k) : (c += 32) {
        const k: I8x32 = quants[c..][0..32].*;
        inline for (0..H) |h| {
            const qv: simd.U8x32 = @bitCast(@as(I8x32, q8[h * dim_k + c ..][0..32].*));
            acc[h] += simd.mulAddPairs(simd.mulAddBytes(qv, k), ones);
        }
    }
    const k_sum = std.mem.readInt(i32, row[4..8], .little);
    if (H == 8) {
        const hadd = @"llvm.x86.avx2.phadd.d";
        // [h0 h1 h2 h3 | h4 h5 h6 h7] sums of lanes, halves added last.
        const a = hadd(hadd(acc[0], acc[1]), hadd(acc[2], acc[3]));
        const b = hadd(hadd(acc[4], acc[5]), hadd(acc[6], acc[7]));
        const lo = @shuffle(i32, a, b, [8]i32{ 0, 1, 2, 3, -1, -2, -3, -4 });
        const hi = @shuffle(i32, a, b, [8]i32{ 4, 5, 6, 7, -5, -6, -7, -8 });
        const sums = lo + hi - @as(I32x8, @splat(64 * k_sum));
        const scale = @as(V8, d_q[0..8].*) * @as(V8, @splat(d_k));
        const out = @as(V8, @floatFromInt(sums)) * scale;
        inline for (0..8) |h| scores[h * tile_rows] = out[h];
    } else inline for (0..H) |h| {
        const sum = @reduce(.Add, acc[h]) - 64 * k_sum;
        scores[h * tile_rows] = @as(f32, @floatFromInt(sum)) * (d_q[h] * d_k);
    }
}

// ---------------------------------------------------------------- online softmax

/// Multiplies the visible scores by kq_scale and sets the rest to -inf: the tile's unused rows
/// (so the vector softmax can run over whole tiles) and rows past each token's causal limit.
noinline fn scaleAndMask(comptime rows: usize, ws: Workspace, nt: usize, n_heads: usize, row: usize, n: usize, kq_scale: f32, use_simd: bool) void {
    for (0..nt) |j| {
        const visible = std.math.clamp(ws.limits[j] -| row, 0, n);
        for (0..n_heads) |h| {
            const s = ws.scores + (j * n_heads + h) * tile_rows;
            if (use_simd and visible == rows) {
                inline for (0..rows / 8) |b| {
                    s[b * 8 ..][0..8].* = @as(V8, s[b * 8 ..][0..8].*) * @as(V8, @splat(kq_scale));
                }
                continue;
            }
            for (0..visible) |i| s[i] *= kq_scale;
            for (visible..rows) |i| s[i] = -std.math.inf(f32);
        }
    }
}

/// Per head: new max M' = max(M, tile max); factor = exp(M − M') rescales S and acc (0 on the
/// first tile, where M = -inf); p = exp(s − M') replaces the scores; S' = S·factor + Σp.
/// For q8_KV the probabilities are then multiplied by the row scales for P·V (S keeps raw p).
noinline fn updateSoftmax(comptime rows: usize, ws: Workspace, n_heads: usize, n: usize, fold_row_scale: bool, use_simd: bool) void {
    for (0..n_heads) |h| {
        const s = ws.scores + h * tile_rows;
        const part = ws.partial + h * partial_stride;
        // Rows from n on are -inf (scaleAndMask), so the vector max may run over the whole tile.
        var tile_max: f32 = -std.math.inf(f32);
        if (use_simd) {
            var max_v: V8 = s[0..8].*;
            inline for (1..rows / 8) |j| max_v = @max(max_v, @as(V8, s[j * 8 ..][0..8].*));
            tile_max = @reduce(.Max, max_v);
        } else {
            for (s[0..n]) |x| tile_max = @max(tile_max, x);
        }
        const m_old = part[0];
        const m_new = @max(m_old, tile_max);
        if (m_new == -std.math.inf(f32)) {
            // Nothing visible yet for this row: keep the empty state (exp(-inf − -inf) is NaN).
            @memset(s[0..rows], 0);
            ws.factors[h] = 1.0;
            continue;
        }
        ws.factors[h] = if (m_new > m_old) @exp(m_old - m_new) else 1.0;
        var sum: f32 = 0;
        if (use_simd) {
            var sum_v: V8 = @splat(0);
            inline for (0..rows / 8) |j| {
                const p = expV(s[j * 8 ..][0..8].* - @as(V8, @splat(m_new)));
                s[j * 8 ..][0..8].* = p;
                sum_v += p;
            }
            sum = @reduce(.Add, sum_v);
        } else {
            for (0..rows) |i| {
                s[i] = if (i < n) expScalar(s[i] - m_new) else 0;
                sum += s[i];
            }
        }
        part[0] = m_new;
        part[1] = part[1] * ws.factors[h] + sum;
        if (fold_row_scale) {
            // Rows from n on hold p = 0 and row scale 0 (scoreTileQ8KV).
            if (use_simd) {
                inline for (0..rows / 8) |j| {
                    s[j * 8 ..][0..8].* = @as(V8, s[j * 8 ..][0..8].*) * @as(V8, ws.row_scale[j * 8 ..][0..8].*);
                }
            } else for (0..n) |i| {
                s[i] *= ws.row_scale[i];
            }
        }
    }
}

/// e^x for 8 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-6 Taylor polynomial
/// (truncation ≤ r^7/7! ≈ 1.2e-7 relative), 2^n through the exponent bits. Inputs below -87
/// (including -inf) give exactly 0, which masks padded rows.
pub inline fn expV(x: V8) V8 {
    const low: V8 = @splat(-87.0);
    const xc = @max(@min(x, @as(V8, @splat(88.0))), low);
    const n = @floor(@mulAdd(V8, xc, @splat(std.math.log2e), @splat(0.5)));
    var r = @mulAdd(V8, n, @splat(-0.693359375), xc);
    r = @mulAdd(V8, n, @splat(2.12194440e-4), r);
    var p: V8 = @splat(1.0 / 720.0);
    p = @mulAdd(V8, p, r, @splat(1.0 / 120.0));
    p = @mulAdd(V8, p, r, @splat(1.0 / 24.0));
    p = @mulAdd(V8, p, r, @splat(1.0 / 6.0));
    p = @mulAdd(V8, p, r, @splat(0.5));
    p = @mulAdd(V8, p, r, @splat(1.0));
    p = @mulAdd(V8, p, r, @splat(1.0));
    const exponent: @Vector(8, i32) = @intFromFloat(n);
    const scale: V8 = @bitCast((exponent + @as(@Vector(8, i32), @splat(127))) << @splat(23));
    return @select(f32, x < low, @as(V8, @splat(0)), p * scale);
}

/// expV for one value, operation for operation, so the scalar twin's probabilities are the SIMD
/// path's bit for bit: q8_KV rounds them to i16 steps, and 1 ulp apart they can round to
/// neighbouring steps (a 3e-5 relative difference an MoE model's expert choice can amplify).
pub fn expScalar(x: f32) f32 {
    const low: f32 = -87.0;
    if (x < low) return 0;
    const xc = @min(x, 88.0);
    const n = @floor(@mulAdd(f32, xc, std.math.log2e, 0.5));
    var r = @mulAdd(f32, n, -0.693359375, xc);
    r = @mulAdd(f32, n, 2.12194440e-4, r);
    var p: f32 = 1.0 / 720.0;
    p = @mulAdd(f32, p, r, 1.0 / 120.0);
    p = @mulAdd(f32, p, r, 1.0 / 24.0);
    p = @mulAdd(f32, p, r, 1.0 / 6.0);
    p = @mulAdd(f32, p, r, 0.5);
    p = @mulAdd(f32, p, r, 1.0);
    p = @mulAdd(f32, p, r, 1.0);
    const exponent: i32 = @intFromFloat(n);
    const scale: f32 = @bitCast((exponent + 127) << 23);
    return p * scale;
}

// ---------------------------------------------------------------- P·V

/// acc[h] = acc[h]·factor[h] + Σ_i p[h][i]·V[i] for the tile's n rows (V = tile[i][0..512]).
fn accumulatePvScalar(ws: Workspace, n_heads: usize, n: usize) void {
    for (0..n_heads) |h| {
        const acc = ws.partial + h * partial_stride + 8;
        const f = ws.factors[h];
        for (0..dim_v) |c| {
            var sum = acc[c] * f;
            for (0..n) |i| sum += ws.scores[h * tile_rows + i] * ws.tile[i * dim_k + c];
            acc[c] = sum;
        }
    }
}

/// Largest i16 probability step: P' = p·d_V ∈ [0, max P'] maps to [0, 32767].
const p_levels: f32 = 32767;

/// q8_KV: per query row, P' (probabilities with the V row scale folded in, ws.scores) as
/// round(P'/step) in i16 with step = max P'/32767 over the tile. Rounding moves each P' by at most
/// step/2 (plus the f32 product P'·(1/step), < 0.002 step), i.e. 1.5e-5 of the tile's largest
/// P'. The products with int8 V are summed exactly in i32 over the tile, then multiplied by the
/// step once: the output moves by at most tile_rows·0.51/32767 ≈ 2e-3 of the largest row amax,
/// and by far less in practice (roundings of different rows cancel); the bound is derived in
/// tests/flash_mla_kernel_test.ts. 7-bit probabilities (vpmaddubsw) would be 2.4× faster in
/// P·V but err ~250× more (~1% of max|V| measured), beyond the cache's own int8 error.
noinline fn quantizeProbabilities(comptime rows: usize, ws: Workspace, n_heads: usize, n: usize, use_simd: bool) void {
    for (0..n_heads) |h| {
        const s = ws.scores + h * tile_rows;
        const p16 = ws.p16 + h * tile_rows;
        var p_max: f32 = 0;
        if (use_simd) {
            // p = 0 past n (updateSoftmax), so the whole tile may be scanned.
            var max_v: V8 = s[0..8].*;
            inline for (1..rows / 8) |j| max_v = @max(max_v, @as(V8, s[j * 8 ..][0..8].*));
            p_max = @reduce(.Max, max_v);
        } else {
            for (s[0..n]) |x| p_max = @max(p_max, x);
        }
        const inv: f32 = if (p_max > 0) p_levels / p_max else 0;
        ws.p_step[h] = p_max / p_levels;
        if (use_simd) {
            inline for (0..rows / 8) |j| {
                // p ≥ 0, so adding 0.5 and truncating rounds to nearest (ties up), like the
                // scalar twin; rows ≥ n hold p = 0.
                const x = @min(s[j * 8 ..][0..8].* * @as(V8, @splat(inv)) + @as(V8, @splat(0.5)), @as(V8, @splat(p_levels)));
                p16[j * 8 ..][0..8].* = @as(@Vector(8, i16), @intFromFloat(x));
            }
        } else {
            for (0..rows) |i| {
                const x = if (i < n) @min(s[i] * inv + 0.5, p_levels) else 0;
                p16[i] = @intFromFloat(x);
            }
        }
    }
}

/// q8_KV: acc[h] = acc[h]·factor[h] + step[h]·Σ_i p16[h][i]·V[i] (the sum exact in i32:
/// |Σ| ≤ tile_rows·127·32767 < 2^31).
fn accumulatePvI16Scalar(ws: Workspace, n_heads: usize, n: usize) void {
    const n_pairs = (n + 1) / 2;
    for (0..n_heads) |h| {
        const acc = ws.partial + h * partial_stride + 8;
        const p16 = ws.p16 + h * tile_rows;
        for (0..dim_v) |c| {
            var sum: i32 = 0;
            for (0..n_pairs) |k| {
                const v = ws.v16 + k * v16_pair_len + 2 * c;
                sum += @as(i32, p16[2 * k]) * v[0] + @as(i32, p16[2 * k + 1]) * v[1];
            }
            acc[c] = @mulAdd(f32, ws.p_step[h], @floatFromInt(sum), acc[c] * ws.factors[h]);
        }
    }
}

/// `rows`: the tile's q8_KV cache rows. V is converted to i16 pairs one column block at a time
/// into a slab of ≤ 8 KB that stays in L1 while every head group uses it; converting the whole
/// tile first (128 KB through L2 per tile) made 2 threads scale worse than f16, as the f32 tile
/// copy of f16 had.
noinline fn accumulatePvI16Simd(rows: [*]const u8, ws: Workspace, n_heads: usize, n: usize) void {
    const n_pairs = (n + 1) / 2;
    if (n_heads == 1) {
        var c: usize = 0;
        while (c < dim_v) : (c += 32) {
            loadTileV16(rows, n, ws.v16, c, c + 32, true);
            pvBlockI16(1, 4, ws, 0, n_pairs, c);
        }
        return;
    }
    // 32 column blocks of 16, head groups inner. vpmaddwd has no accumulating form, so each
    // product needs a temporary register: 4 heads × 2 column vectors (8 sums) + 2 V + 1
    // broadcast + 1 product fit the 16 registers (4 × 3 spilled and ran no faster than f32).
    var c: usize = 0;
    while (c < dim_v) : (c += 16) {
        loadTileV16(rows, n, ws.v16, c, c + 16, true);
        pvHeadsI16(2, ws, n_heads, n_pairs, c);
    }
}

fn pvHeadsI16(comptime NC: usize, ws: Workspace, n_heads: usize, n_pairs: usize, c0: usize) void {
    var h: usize = 0;
    while (h + 4 <= n_heads) : (h += 4) pvBlockI16(4, NC, ws, h, n_pairs, c0);
    switch (n_heads - h) {
        0 => {},
        inline 1...3 => |H| pvBlockI16(H, NC, ws, h, n_pairs, c0),
        else => unreachable,
    }
}

/// The register block: H heads × NC·8 columns of i32 sums; per row pair one vpmaddwd of the V
/// pair (8 columns × 2 rows, from the slab of columns c0..c0+8·NC) with the pair's two
/// probabilities broadcast gives 8 columns of p0·v0 + p1·v1, twice the multiply-adds of an f32
/// FMA per instruction.
inline fn pvBlockI16(comptime H: usize, comptime NC: usize, ws: Workspace, head0: usize, n_pairs: usize, c0: usize) void {
    var iacc: [H][NC]I32x8 = @splat(@splat(@splat(0)));
    for (0..n_pairs) |k| {
        var v: [NC]simd.I16x16 = undefined;
        inline for (0..NC) |j| v[j] = ws.v16[k * 16 * NC + 16 * j ..][0..16].*;
        inline for (0..H) |h| {
            const pair: [*]const i16 = ws.p16 + (head0 + h) * tile_rows + 2 * k;
            const p: simd.I16x16 = @bitCast(@as(I32x8, @splat(@bitCast(pair[0..2].*))));
            inline for (0..NC) |j| iacc[h][j] += simd.mulAddPairs(v[j], p);
        }
    }
    inline for (0..H) |h| {
        const row = ws.partial + (head0 + h) * partial_stride + 8 + c0;
        const f: V8 = @splat(ws.factors[head0 + h]);
        const step: V8 = @splat(ws.p_step[head0 + h]);
        inline for (0..NC) |j| {
            const old: V8 = row[j * 8 ..][0..8].*;
            row[j * 8 ..][0..8].* = @mulAdd(V8, step, @floatFromInt(iacc[h][j]), old * f);
        }
    }
}

/// V rows are the f32 tile (q8_0) or, for f16, the cache rows themselves, converted in registers
/// (once per head group: converting each column block once into an L1 slab first measured 5%
/// slower, the conversions run beside the FMAs).
noinline fn accumulatePvSimd(comptime T: type, v_rows: KRows(T), ws: Workspace, n_heads: usize, n: usize) void {
    if (n_heads == 1) {
        var c: usize = 0;
        while (c < dim_v) : (c += 32) pvBlock(T, 1, 4, v_rows, ws, 0, n, c);
        return;
    }
    // Column blocks outer, head groups inner: a block's V slab (n rows × 24 values) is read from
    // L2 once and then served from L1 to every head group. 21 blocks of 24 columns and one of 8;
    // in a block 3 V loads + 4 broadcasts feed 12 FMAs.
    var c: usize = 0;
    while (c + 24 <= dim_v) : (c += 24) pvHeads(T, 3, v_rows, ws, n_heads, n, c);
    pvHeads(T, 1, v_rows, ws, n_heads, n, c);
}

fn pvHeads(comptime T: type, comptime NC: usize, v_rows: KRows(T), ws: Workspace, n_heads: usize, n: usize, c0: usize) void {
    var h: usize = 0;
    while (h + 4 <= n_heads) : (h += 4) pvBlock(T, 4, NC, v_rows, ws, h, n, c0);
    switch (n_heads - h) {
        0 => {},
        inline 1...3 => |H| pvBlock(T, H, NC, v_rows, ws, h, n, c0),
        else => unreachable,
    }
}

/// The register block: H heads × NC·8 columns of the accumulator stay in registers while the
/// tile's rows stream by; one V load serves H heads.
inline fn pvBlock(comptime T: type, comptime H: usize, comptime NC: usize, v_rows: KRows(T), ws: Workspace, head0: usize, n: usize, c0: usize) void {
    var acc: [H][NC]V8 = undefined;
    inline for (0..H) |h| {
        const row = ws.partial + (head0 + h) * partial_stride + 8 + c0;
        const f: V8 = @splat(ws.factors[head0 + h]);
        inline for (0..NC) |j| acc[h][j] = @as(V8, row[j * 8 ..][0..8].*) * f;
    }
    for (0..n) |i| {
        var v: [NC]V8 = undefined;
        inline for (0..NC) |j| v[j] = loadV8(T, v_rows + i * dim_k + c0 + j * 8);
        inline for (0..H) |h| {
            const p: V8 = @splat(ws.scores[(head0 + h) * tile_rows + i]);
            inline for (0..NC) |j| acc[h][j] = @mulAdd(V8, v[j], p, acc[h][j]);
        }
    }
    inline for (0..H) |h| {
        const row = ws.partial + (head0 + h) * partial_stride + 8 + c0;
        inline for (0..NC) |j| row[j * 8 ..][0..8].* = acc[h][j];
    }
}

// ---------------------------------------------------------------- tests

test "expV matches exp within 2e-7 relative and masks -inf to 0" {
    var x: f32 = -87;
    while (x < 0.5) : (x += 0.0137) {
        const got = expV(@splat(x))[0];
        const want: f64 = @exp(@as(f64, x));
        try std.testing.expect(@abs(got - want) <= 2.5e-7 * want);
    }
    try std.testing.expectEqual(@as(f32, 0), expV(@splat(-std.math.inf(f32)))[0]);
}

test "expScalar equals expV bit for bit" {
    var x: f32 = -90;
    while (x < 1.0) : (x += 0.00731) {
        try std.testing.expectEqual(@as(u32, @bitCast(expV(@splat(x))[0])), @as(u32, @bitCast(expScalar(x))));
    }
    try std.testing.expectEqual(@as(f32, 0), expScalar(-std.math.inf(f32)));
}

test "compute agrees between SIMD and scalar paths and strategies" {
    const allocator = std.testing.allocator;
    const n_kv = 77;
    const n_head = 5;
    const n_tokens = 3;
    var prng = std.Random.DefaultPrng.init(3);
    const random = prng.random();
    const rows_f32 = try allocator.alloc(f32, n_kv * dim_k);
    defer allocator.free(rows_f32);
    for (rows_f32) |*x| x.* = random.float(f32) * 2 - 1;
    const q = try allocator.alloc(f32, n_tokens * n_head * dim_k);
    defer allocator.free(q);
    for (q) |*x| x.* = random.float(f32) * 4 - 2;
    const pool = try ThreadPool.create(allocator, 3);
    defer pool.destroy();
    test_pool = pool;
    for ([_]CacheType{ .f16, .q8_0, .q8_KV }) |cache_type| {
        const cache = try allocator.alloc(u8, n_kv * kv_rows.rowBytes(cache_type));
        defer allocator.free(cache);
        for (0..n_kv) |r| kv_rows.writeRow(cache_type, cache.ptr + r * kv_rows.rowBytes(cache_type), rows_f32[r * dim_k ..][0..dim_k]);
        const scratch = try allocator.alloc(u8, scratchBytes(cache_type, n_tokens, n_head, 3));
        defer allocator.free(scratch);
        var outs: [4][n_tokens * n_head * dim_v]f32 = undefined;
        for (0..4) |variant| {
            cpu_path.use_simd.store(variant % 2 == 0, .monotonic);
            defer cpu_path.use_simd.store(true, .monotonic);
            const args: Args = .{
                .cache_type = cache_type,
                .cache = cache.ptr,
                .n_kv = n_kv,
                .q = q.ptr,
                .n_tokens = n_tokens,
                .n_head = n_head,
                .positions = null,
                .kq_scale = 0.1147214,
                .strategy = if (variant < 2) .kvsplit else .heads,
                .out = &outs[variant],
                .scratch = scratch.ptr,
                .scratch_len = scratch.len,
            };
            try std.testing.expect(validate(&args, 3));
            pool.parallel(Args, &args, struct {
                fn work(a: *const Args, ith: usize, nth: usize) void {
                    // The pool is reachable through the closure-free global below.
                    compute(a, test_pool.?, ith, nth);
                }
            }.work);
        }
        // SIMD and scalar twins of one strategy agree to f32 rounding. Across strategies the tiles
        // start at different rows, and q8_KV rounds each tile's probabilities to its own i16 step:
        // each path is within tile_rows·0.51/32767·max|row| ≈ 2e-3 (rows here are in [-1, 1]) of
        // the exact result (see quantizeProbabilities), so two of them within 4e-3.
        for (outs[0], outs[1]) |x, y| try std.testing.expectApproxEqAbs(x, y, 2e-5);
        for (outs[2], outs[3]) |x, y| try std.testing.expectApproxEqAbs(x, y, 2e-5);
        const across: f32 = if (cache_type == .q8_KV) 4e-3 else 2e-5;
        for (outs[0], outs[2]) |x, y| try std.testing.expectApproxEqAbs(x, y, across);
    }
}

var test_pool: ?*ThreadPool = null;

test {
    _ = kv_rows;
}
