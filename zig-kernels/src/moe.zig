//! Mixture-of-experts FFN for a batch of tokens, inside one pool task:
//!
//!     for each token t and each of its k_used experts e (weight w_te):
//!         h_te = silu(W_gate,e · x_t) ⊙ (W_up,e · x_t)          (n_ff)
//!         y_t += w_te · W_down,e · h_te                          (n_embd)
//!
//! Expert tensors are ggml 3-D: gate/up ne = {n_embd, n_ff, n_expert}, down ne = {n_ff, n_embd,
//! n_expert}; expert e's matrix starts at byte e·expert_bytes (nb2).
//!
//! How to call it (graph executor; every thread calls compute, scratch from scratchBytes):
//!
//!     const moe = @import("moe.zig");
//!     const args = moe.Args{ .gate = .{ .traits = tg, .data = gate_ptr, .row_bytes = rb, .expert_bytes = nb2 },
//!         .up = ..., .down = ..., .n_embd = 2048, .n_ff = 1408, .n_expert = 64, .t = T, .k_used = 6,
//!         .ids = ids, .weights = w, .x = x, .x_row_stride = 2048, .y = y, .y_row_stride = 2048,
//!         .accumulate = false, .scratch = scratch };
//!     moe.compute(&args, pool, ith, nth);
//!
//! Phases (four `pool.barrier()` calls on every thread; nothing allocated):
//! 0. thread 0 groups the (token, slot) pairs by expert (counting sort); barrier.
//! 1. each pair's token row is quantized into the gate/up activation format at its sorted
//!    position, so an expert's tokens are contiguous rows; each thread rewinds its chunk queues
//!    (ThreadPool.ChunkQueues); barrier.
//! 2. chunks of (expert, n_ff rows) from per-thread queues over contiguous ranges of the list of
//!    all selected experts' row chunks (own range first, in order, then stealing): for one token
//!    and 2 threads, thread 0 streams experts 1-3 and thread 1 experts 4-6 front to back, which
//!    streams from DRAM much faster than alternating chunks of one shared counter. An expert
//!    with ≥ Traits.gemm_tokens_min (8; the r8 layouts' tiles: 48 to 128) tokens, in a batch
//!    averaging that many per expert (prefill), runs the chunk's rows × all its tokens through the
//!    type's GEMM tile kernel (`Traits.gemm_tile`, up to 128 rows per chunk): gate products into
//!    h, up products into the still unused `out` area, then h = silu(g)·u over the tile.
//!    Otherwise (token generation) each row gets the gate and up dot products of up to 4 of the
//!    expert's tokens at once, h = silu(g)·u; barrier.
//! 3. h rows are quantized for the down projection; barrier.
//! 4. chunks of (expert, n_embd rows), queued the same way: down products (GEMM tiles or dots,
//!    as in phase 2) into per-pair outputs; barrier.
//! 5. y[t] (= or +=) Σ_slot w·out[pair] over this thread's share of elements, in slot order
//!    (deterministic).
//! Each expert's weights therefore stream once per batch, however many tokens chose it.
const std = @import("std");
const ThreadPool = @import("ThreadPool.zig");
const quants = @import("quants/quants.zig");
const matmul = @import("matmul.zig");
const cpu_path = @import("cpu_path.zig");
const vm = @import("ops/vec_math.zig");

/// One 3-D expert tensor.
pub const Experts = struct {
    traits: *const quants.Traits,
    data: [*]const u8,
    /// Bytes between rows of one expert's matrix (nb1).
    row_bytes: usize,
    /// Bytes between experts (nb2).
    expert_bytes: usize,
};

pub const Args = struct {
    gate: Experts,
    up: Experts,
    down: Experts,
    n_embd: usize,
    n_ff: usize,
    n_expert: usize,
    /// Tokens.
    t: usize,
    /// Experts per token.
    k_used: usize,
    /// (t, k_used) expert ids, each < n_expert (checked by the caller).
    ids: [*]const i32,
    /// (t, k_used) routing weights.
    weights: [*]const f32,
    /// (t, x_row_stride) f32 input.
    x: [*]const f32,
    x_row_stride: usize,
    /// (t, y_row_stride) f32 output; `accumulate` adds to it instead of overwriting.
    y: [*]f32,
    y_row_stride: usize,
    accumulate: bool,
    scratch: []u8,
};

const line = std.atomic.cache_line;

/// Byte offsets of every scratch area (relative to the 64-byte aligned base).
const Layout = struct {
    counters: usize = 0, // 2 × ChunkQueues.bytes: gate/up queues, down queues
    counts: usize, // [n_expert + 1] u32 — pair offsets per expert after phase 0
    order: usize, // [t·k_used] u32 — sorted position → pair index (t·k_used + slot)
    position: usize, // [t·k_used] u32 — pair index → sorted position
    active: usize, // [n_expert + 1] u32 — ids of experts with pairs, then their count
    xq: usize, // [t·k_used] gate/up activation rows
    h: usize, // [t·k_used][n_ff] f32
    hq: usize, // [t·k_used] down activation rows
    out: usize, // [t·k_used][n_embd] f32; in phase 2, [t·k_used][n_ff] f32 up products (GEMM path)
    total: usize,

    fn of(gate: *const quants.Traits, down: *const quants.Traits, n_embd: usize, n_ff: usize, n_expert: usize, pairs: usize) Layout {
        var at: usize = 2 * ThreadPool.ChunkQueues.bytes;
        const take = struct {
            fn f(cursor: *usize, bytes: usize) usize {
                const start = cursor.*;
                cursor.* = std.mem.alignForward(usize, start + bytes, line);
                return start;
            }
        }.f;
        const counts = take(&at, 4 * (n_expert + 1));
        const order = take(&at, 4 * pairs);
        const position = take(&at, 4 * pairs);
        const active = take(&at, 4 * (n_expert + 1));
        const xq = take(&at, pairs * actRowBytes(gate, n_embd));
        const h = take(&at, pairs * n_ff * 4);
        const hq = take(&at, pairs * actRowBytes(down, n_ff));
        const out = take(&at, pairs * @max(n_embd, n_ff) * 4);
        return .{ .counts = counts, .order = order, .position = position, .active = active, .xq = xq, .h = h, .hq = hq, .out = out, .total = at };
    }
};

fn actRowBytes(traits: *const quants.Traits, k: usize) usize {
    return traits.activation.rowBytes(k);
}

/// Scratch bytes for a batch of `t` tokens with `k_used` experts each.
pub fn scratchBytes(gate: *const quants.Traits, down: *const quants.Traits, n_embd: usize, n_ff: usize, n_expert: usize, t: usize, k_used: usize) usize {
    return Layout.of(gate, down, n_embd, n_ff, n_expert, t * k_used).total + line;
}

/// Whether the three tensors can run together: gate and up share an activation format and row
/// lengths fit each type's blocks.
pub fn typesCompatible(gate: *const quants.Traits, up: *const quants.Traits, down: *const quants.Traits, n_embd: usize, n_ff: usize) bool {
    return gate.activation == up.activation and gate.rowLengthValid(n_embd) and up.rowLengthValid(n_embd) and down.rowLengthValid(n_ff);
}

const View = struct {
    base: [*]u8,
    layout: Layout,

    fn of(args: *const Args) View {
        const base = std.mem.alignForward(usize, @intFromPtr(args.scratch.ptr), line);
        return .{ .base = @ptrFromInt(base), .layout = Layout.of(args.gate.traits, args.down.traits, args.n_embd, args.n_ff, args.n_expert, args.t * args.k_used) };
    }
    /// Queues of phase 2 (`i` = 0) or phase 4 (`i` = 1) over `total` chunks.
    fn queues(self: View, i: usize, total: usize, nth: usize) ThreadPool.ChunkQueues {
        return .{ .lines = self.base + self.layout.counters + i * ThreadPool.ChunkQueues.bytes, .total = total, .nth = nth };
    }
    fn u32s(self: View, offset: usize) [*]u32 {
        return @ptrCast(@alignCast(self.base + offset));
    }
    fn f32s(self: View, offset: usize) [*]f32 {
        return @ptrCast(@alignCast(self.base + offset));
    }
};

/// Every thread calls this once; see the file comment for the phases.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    std.debug.assert(typesCompatible(args.gate.traits, args.up.traits, args.down.traits, args.n_embd, args.n_ff));
    std.debug.assert(args.scratch.len >= scratchBytes(args.gate.traits, args.down.traits, args.n_embd, args.n_ff, args.n_expert, args.t, args.k_used));
    const view = View.of(args);
    const pairs = args.t * args.k_used;
    if (ith == 0) groupByExpert(args, view);
    pool.barrier();

    // Phase 1: each sorted pair row gets its token's activations.
    const order = view.u32s(view.layout.order);
    const xq_row = actRowBytes(args.gate.traits, args.n_embd);
    const r1 = ThreadPool.splitRange(pairs, ith, nth);
    for (r1.start..r1.end) |p| {
        const token = order[p] / args.k_used;
        args.gate.traits.activation.quantizeRow(args.x[token * args.x_row_stride ..][0..args.n_embd], view.base + view.layout.xq + p * xq_row);
    }
    const split = Split.of(args, view, nth);
    split.gate_up.queues.reset(ith);
    split.down.queues.reset(ith);
    pool.barrier();

    gateUpPhase(args, view, split.gate_up, ith);
    pool.barrier();

    // Phase 3: quantize h for the down projection.
    const hq_row = actRowBytes(args.down.traits, args.n_ff);
    const h = view.f32s(view.layout.h);
    for (r1.start..r1.end) |p| {
        args.down.traits.activation.quantizeRow(h[p * args.n_ff ..][0..args.n_ff], view.base + view.layout.hq + p * hq_row);
    }
    pool.barrier();

    downPhase(args, view, split.down, ith);
    pool.barrier();

    combinePhase(args, view, ith, nth);
}

/// Counting sort of the (token, slot) pairs by expert id; also lists the active experts.
fn groupByExpert(args: *const Args, view: View) void {
    const pairs = args.t * args.k_used;
    const counts = view.u32s(view.layout.counts);
    const order = view.u32s(view.layout.order);
    const position = view.u32s(view.layout.position);
    const active = view.u32s(view.layout.active);
    @memset(counts[0 .. args.n_expert + 1], 0);
    for (0..pairs) |p| counts[@intCast(args.ids[p])] += 1;
    var n_active: u32 = 0;
    var sum: u32 = 0;
    for (0..args.n_expert) |e| {
        const c = counts[e];
        counts[e] = sum; // now the first sorted position of expert e
        if (c > 0) {
            active[n_active] = @intCast(e);
            n_active += 1;
        }
        sum += c;
    }
    counts[args.n_expert] = sum;
    active[args.n_expert] = n_active;
    // Stable fill: pairs keep token order within an expert; counts[] advances to the end offsets.
    for (0..pairs) |p| {
        const e: usize = @intCast(args.ids[p]);
        order[counts[e]] = @intCast(p);
        position[p] = counts[e];
        counts[e] += 1;
    }
    // Shift back so counts[e] is the start again and counts[e+1] the end.
    var e = args.n_expert;
    while (e > 0) : (e -= 1) counts[e] = counts[e - 1];
    counts[0] = 0;
}

fn rowsPerChunk(rows_total: usize, nth: usize) usize {
    return std.math.clamp(rows_total / (nth * 8), 1, 32);
}

/// Most rows in any chunk: a GEMM phase's chunks also serve its experts with too few tokens for
/// the GEMM kernel, through the dots.
const max_chunk_rows = matmul.gemm_rows_max;

/// How one phase's rows (`rows` per active expert) are cut into chunks and queued.
const PhaseSplit = struct {
    rows_per_chunk: usize,
    chunks_per_expert: usize,
    queues: ThreadPool.ChunkQueues,
    /// Whether experts with at least `tokens_min` tokens go through the type's GEMM kernel.
    /// Chosen per phase from the average tokens per active expert, so a token generation step
    /// (one token per expert) keeps the dots' chunking exactly.
    gemm: bool,
    /// The phase's weights' Traits.gemm_tokens_min (the larger of gate's and up's).
    tokens_min: usize,

    /// `group`: the traits whose row groups chunks must respect (the phase's weights).
    fn of(view: View, queue_set: usize, n_active: usize, pairs: usize, rows: usize, has_gemm: bool, tokens_min: usize, group: *const quants.Traits, nth: usize) PhaseSplit {
        const gemm = has_gemm and n_active > 0 and pairs >= tokens_min * n_active;
        // The GEMM kernels decode 4-row panels and build activation panels once per call, so
        // they want long row chunks (up to 128); the dots want short ones for balance.
        const rpc = quants.alignRows(group, if (gemm) matmul.gemmRowsPerChunk(n_active * rows, nth) else rowsPerChunk(n_active * rows, nth));
        const per_expert = std.math.divCeil(usize, rows, rpc) catch unreachable;
        return .{ .rows_per_chunk = rpc, .chunks_per_expert = per_expert, .queues = view.queues(queue_set, n_active * per_expert, nth), .gemm = gemm, .tokens_min = tokens_min };
    }
};

/// Of gate and up (which share chunks), the one with the larger row groups (both are 1 or 8).
fn coarserGroups(a: *const quants.Traits, b: *const quants.Traits) *const quants.Traits {
    return if (a.group_rows >= b.group_rows) a else b;
}

/// Both phases' splits; valid once phase 0 has listed the active experts.
const Split = struct {
    gate_up: PhaseSplit,
    down: PhaseSplit,

    fn of(args: *const Args, view: View, nth: usize) Split {
        const n_active = view.u32s(view.layout.active)[args.n_expert];
        const pairs = args.t * args.k_used;
        const gate_up_gemm = args.gate.traits.gemm_tile != null and args.up.traits.gemm_tile != null;
        return .{
            .gate_up = .of(view, 0, n_active, pairs, args.n_ff, gate_up_gemm, @max(args.gate.traits.gemm_tokens_min, args.up.traits.gemm_tokens_min), coarserGroups(args.gate.traits, args.up.traits), nth),
            .down = .of(view, 1, n_active, pairs, args.n_embd, args.down.traits.gemm_tile != null, args.down.traits.gemm_tokens_min, args.down.traits, nth),
        };
    }
};

fn silu(v: f32) f32 {
    return v / (1.0 + @exp(-v));
}

/// h[i] = silu(h[i])·u[i]: SIMD with the small ops' polynomial exp (~2 ulp), or scalar.
fn siluMulInPlace(h: []f32, u: []const f32, simd: bool) void {
    var i: usize = 0;
    if (simd) {
        const one: vm.F32x8 = @splat(1.0);
        while (i + vm.lanes <= h.len) : (i += vm.lanes) {
            const g = vm.load(h, i);
            vm.store(h, i, g / (one + vm.exp(-g)) * vm.load(u, i));
        }
    }
    for (h[i..], u[i..]) |*y, v| y.* = silu(y.*) * v;
}

/// A chunk of one phase: rows [row_start, row_end) of active expert `e`.
const Chunk = struct { e: usize, row_start: usize, row_end: usize };

fn chunkOf(split: PhaseSplit, active: [*]const u32, chunk: usize, rows: usize) Chunk {
    const row_start = (chunk % split.chunks_per_expert) * split.rows_per_chunk;
    return .{ .e = active[chunk / split.chunks_per_expert], .row_start = row_start, .row_end = @min(rows, row_start + split.rows_per_chunk) };
}

/// Phase 2: h[p][r] = silu(gate_e[r]·x_p) · (up_e[r]·x_p) for the pairs p of each active expert.
fn gateUpPhase(args: *const Args, view: View, split: PhaseSplit, ith: usize) void {
    const counts = view.u32s(view.layout.counts);
    const active = view.u32s(view.layout.active);
    const xq_row = actRowBytes(args.gate.traits, args.n_embd);
    const h = view.f32s(view.layout.h);
    // The down phase's outputs are not written yet: the GEMM path parks the up products there
    // (Layout sizes the area for n_ff columns too).
    const u_area = view.f32s(view.layout.out);
    const simd = cpu_path.simd();
    var cursor = ThreadPool.ChunkQueues.Cursor.of(ith);
    while (split.queues.next(&cursor)) |index| {
        const c = chunkOf(split, active, index, args.n_ff);
        const gate = args.gate.data + c.e * args.gate.expert_bytes;
        const up = args.up.data + c.e * args.up.expert_bytes;
        const p_start: usize = counts[c.e];
        const p_end: usize = counts[c.e + 1];
        if (split.gemm and p_end - p_start >= split.tokens_min) {
            // (rows × tokens) tiles: each weight row decoded once for all of the expert's tokens.
            const act = view.base + view.layout.xq + p_start * xq_row;
            const n_rows = c.row_end - c.row_start;
            const n_tokens = p_end - p_start;
            const h_tile = h + p_start * args.n_ff + c.row_start;
            const u_tile = u_area + p_start * args.n_ff + c.row_start;
            args.gate.traits.gemm_tile.?(gate + c.row_start * args.gate.row_bytes, args.gate.row_bytes, n_rows, act, xq_row, n_tokens, args.n_embd, h_tile, args.n_ff);
            args.up.traits.gemm_tile.?(up + c.row_start * args.up.row_bytes, args.up.row_bytes, n_rows, act, xq_row, n_tokens, args.n_embd, u_tile, args.n_ff);
            for (0..n_tokens) |t| siluMulInPlace(h_tile[t * args.n_ff ..][0..n_rows], u_tile[t * args.n_ff ..][0..n_rows], simd);
            continue;
        }
        var p = p_start;
        while (p < p_end) {
            const ncols = @min(quants.ncols_max, p_end - p);
            const act = view.base + view.layout.xq + p * xq_row;
            const n_rows = c.row_end - c.row_start;
            std.debug.assert(n_rows <= max_chunk_rows);
            // Gate products into h, up products beside them, then h = silu(gate)·up in place.
            var u: [quants.ncols_max * max_chunk_rows]f32 = undefined;
            const h_rows = h + p * args.n_ff + c.row_start;
            quants.rowsDot(args.gate.traits, ncols, gate, args.gate.row_bytes, args.n_ff, c.row_start, c.row_end, act, xq_row, args.n_embd, h_rows, args.n_ff);
            quants.rowsDot(args.up.traits, ncols, up, args.up.row_bytes, args.n_ff, c.row_start, c.row_end, act, xq_row, args.n_embd, &u, n_rows);
            for (0..ncols) |col| siluMulInPlace(h_rows[col * args.n_ff ..][0..n_rows], u[col * n_rows ..][0..n_rows], simd);
            p += ncols;
        }
    }
}

/// Phase 4: out[p][r] = down_e[r] · h_p for the pairs p of each active expert.
fn downPhase(args: *const Args, view: View, split: PhaseSplit, ith: usize) void {
    const counts = view.u32s(view.layout.counts);
    const active = view.u32s(view.layout.active);
    const hq_row = actRowBytes(args.down.traits, args.n_ff);
    const out = view.f32s(view.layout.out);
    var cursor = ThreadPool.ChunkQueues.Cursor.of(ith);
    while (split.queues.next(&cursor)) |index| {
        const c = chunkOf(split, active, index, args.n_embd);
        const down = args.down.data + c.e * args.down.expert_bytes;
        const p_start: usize = counts[c.e];
        const p_end: usize = counts[c.e + 1];
        if (split.gemm and p_end - p_start >= split.tokens_min) {
            const act = view.base + view.layout.hq + p_start * hq_row;
            args.down.traits.gemm_tile.?(down + c.row_start * args.down.row_bytes, args.down.row_bytes, c.row_end - c.row_start, act, hq_row, p_end - p_start, args.n_ff, out + p_start * args.n_embd + c.row_start, args.n_embd);
            continue;
        }
        var p = p_start;
        while (p < p_end) {
            const ncols = @min(quants.ncols_max, p_end - p);
            const act = view.base + view.layout.hq + p * hq_row;
            quants.rowsDot(args.down.traits, ncols, down, args.down.row_bytes, args.n_embd, c.row_start, c.row_end, act, hq_row, args.n_ff, out + p * args.n_embd + c.row_start, args.n_embd);
            p += ncols;
        }
    }
}

/// Phase 5: y[t][i] (+)= Σ_slot weight[t][slot] · out[position(t, slot)][i].
fn combinePhase(args: *const Args, view: View, ith: usize, nth: usize) void {
    const position = view.u32s(view.layout.position);
    const out = view.f32s(view.layout.out);
    const range = ThreadPool.splitRange(args.t * args.n_embd, ith, nth);
    for (range.start..range.end) |flat| {
        const token = flat / args.n_embd;
        const i = flat % args.n_embd;
        var sum: f32 = if (args.accumulate) args.y[token * args.y_row_stride + i] else 0;
        for (0..args.k_used) |slot| {
            const pair = token * args.k_used + slot;
            sum += args.weights[pair] * out[position[pair] * args.n_embd + i];
        }
        args.y[token * args.y_row_stride + i] = sum;
    }
}

/// Runs one MoE FFN on the pool (standalone use: tests, benches).
pub fn run(args: *const Args, pool: *ThreadPool) void {
    pool.runOp(@This(), args);
}

test "moe equals per-pair matmuls for 1..3 threads" {
    const n_embd = 64;
    const n_ff = 96;
    const n_expert = 5;
    const t = 3;
    const k_used = 2;
    const traits = quants.traits(8).?;
    var prng = std.Random.DefaultPrng.init(9);
    const random = prng.random();
    var gate: [n_expert * n_ff * 68]u8 = undefined;
    var up: [n_expert * n_ff * 68]u8 = undefined;
    var down: [n_expert * n_embd * 102]u8 = undefined;
    var buf: [n_ff]f32 = undefined;
    for (0..n_expert * n_ff) |r| {
        for (buf[0..n_embd]) |*v| v.* = random.floatNorm(f32);
        traits.quantizeRow(buf[0..n_embd], gate[r * 68 ..].ptr);
        for (buf[0..n_embd]) |*v| v.* = random.floatNorm(f32);
        traits.quantizeRow(buf[0..n_embd], up[r * 68 ..].ptr);
    }
    for (0..n_expert * n_embd) |r| {
        for (&buf) |*v| v.* = random.floatNorm(f32);
        traits.quantizeRow(&buf, down[r * 102 ..].ptr);
    }
    var x: [t * n_embd]f32 = undefined;
    for (&x) |*v| v.* = random.floatNorm(f32);
    const ids = [t * k_used]i32{ 4, 1, 1, 0, 4, 2 };
    const weights = [t * k_used]f32{ 0.7, 0.3, 0.5, 0.5, 0.9, 0.1 };
    var scratch: [1 << 16]u8 = undefined;
    var first: [t * n_embd]f32 = undefined;
    for (1..4) |n_threads| {
        const pool = try ThreadPool.create(std.testing.allocator, n_threads);
        defer pool.destroy();
        var y: [t * n_embd]f32 = undefined;
        const args = Args{
            .gate = .{ .traits = traits, .data = &gate, .row_bytes = 68, .expert_bytes = n_ff * 68 },
            .up = .{ .traits = traits, .data = &up, .row_bytes = 68, .expert_bytes = n_ff * 68 },
            .down = .{ .traits = traits, .data = &down, .row_bytes = 102, .expert_bytes = n_embd * 102 },
            .n_embd = n_embd,
            .n_ff = n_ff,
            .n_expert = n_expert,
            .t = t,
            .k_used = k_used,
            .ids = &ids,
            .weights = &weights,
            .x = &x,
            .x_row_stride = n_embd,
            .y = &y,
            .y_row_stride = n_embd,
            .accumulate = false,
            .scratch = &scratch,
        };
        run(&args, pool);
        if (n_threads == 1) first = y else try std.testing.expectEqualSlices(f32, &first, &y);
    }
    // Token 0 by hand through matmul's per-row dots: 0.7·down4(h4) + 0.3·down1(h1).
    var expected: [n_embd]f32 = @splat(0);
    for ([_]usize{ 4, 1 }, [_]f32{ 0.7, 0.3 }) |e, wgt| {
        var act: [n_embd / 32 * 40]u8 = undefined;
        traits.activation.quantizeRow(x[0..n_embd], &act);
        var h: [n_ff]f32 = undefined;
        for (0..n_ff) |r| {
            var g: [4]f32 = undefined;
            var u: [4]f32 = undefined;
            traits.dots[0](gate[(e * n_ff + r) * 68 ..].ptr, &act, 0, n_embd, &g);
            traits.dots[0](up[(e * n_ff + r) * 68 ..].ptr, &act, 0, n_embd, &u);
            h[r] = silu(g[0]) * u[0];
        }
        var hact: [n_ff / 32 * 40]u8 = undefined;
        traits.activation.quantizeRow(&h, &hact);
        for (0..n_embd) |r| {
            var d: [4]f32 = undefined;
            traits.dots[0](down[(e * n_embd + r) * 102 ..].ptr, &hact, 0, n_ff, &d);
            expected[r] += wgt * d[0];
        }
    }
    for (expected, first[0..n_embd]) |a, b| try std.testing.expectApproxEqAbs(a, b, 1e-4 * (1 + @abs(a)));
}

test {
    _ = matmul;
}
