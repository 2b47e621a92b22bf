//! The routed-expert FFN of one MoE layer as one graph node (MLA_SPEC §1.9 step 7):
//!   y[t] = Σ_j w[t][j] · down_e( silu(gate_e·x[t]) ⊙ (up_e·x[t]) ),  e = ids[t][j].
//! Built from matmul.zig's pieces (activation quantization, `computeTile`) until the quants
//! helper's moe.zig lands; kept apart from graph.zig so it can be swapped out whole.
//! Token-expert pairs are sorted by expert so each expert's weights stream once per step for all
//! its tokens (prefill), and work is handed out as (expert, row chunk) items from an atomic
//! counter so at one token both threads share all selected experts' rows.
const std = @import("std");
const ThreadPool = @import("ThreadPool.zig");
const matmul = @import("matmul.zig");
const quants = @import("quants/quants.zig");
const ops = @import("ops.zig");

/// Most experts per layer (DeepSeek-V3 has 256).
pub const n_expert_max: usize = 512;

pub const Args = struct {
    gate_up_traits: *const quants.Traits,
    down_traits: *const quants.Traits,
    /// {n_embd, n_ff, n_expert} stacks; expert e starts at e·gate_up_slice_bytes.
    gate: [*]const u8,
    up: [*]const u8,
    gate_up_row_bytes: usize,
    gate_up_slice_bytes: usize,
    /// {n_ff, n_embd, n_expert}.
    down: [*]const u8,
    down_row_bytes: usize,
    down_slice_bytes: usize,
    n_embd: usize,
    n_ff: usize,
    n_expert: usize,
    n_tokens: usize,
    /// Experts per token.
    k: usize,
    /// [n_tokens][n_embd] input rows (contiguous).
    x: [*]const f32,
    /// [n_tokens][k] expert ids and weights.
    ids: [*]const i32,
    weights: [*]const f32,
    /// [n_tokens][n_embd] output rows (overwritten).
    y: [*]f32,
    scratch: []u8,
};

const Layout = struct {
    counts: usize,
    order: usize,
    slot: usize,
    act: usize,
    act_sorted: usize,
    hidden_gate: usize,
    hidden_up: usize,
    act_hidden: usize,
    y_sorted: usize,
    total: usize,

    fn init(gate_up: *const quants.Traits, down: *const quants.Traits, n_embd: usize, n_ff: usize, n_tokens: usize, k: usize) Layout {
        const pairs = n_tokens * k;
        var l: Layout = undefined;
        var off: usize = 2 * std.atomic.cache_line; // two chunk counters, one line each
        l.counts = off;
        off += alignUp((n_expert_max + 1) * 4 * 2);
        l.order = off;
        off += alignUp(pairs * 4);
        l.slot = off;
        off += alignUp(pairs * 4);
        l.act = off;
        off += alignUp(n_tokens * gate_up.activation.rowBytes(n_embd));
        l.act_sorted = off;
        off += alignUp(pairs * gate_up.activation.rowBytes(n_embd));
        l.hidden_gate = off;
        off += alignUp(pairs * n_ff * 4);
        l.hidden_up = off;
        off += alignUp(pairs * n_ff * 4);
        l.act_hidden = off;
        off += alignUp(pairs * down.activation.rowBytes(n_ff));
        l.y_sorted = off;
        off += alignUp(pairs * n_embd * 4);
        l.total = off + 64;
        return l;
    }
};

fn alignUp(n: usize) usize {
    return std.mem.alignForward(usize, n, 64);
}

/// Scratch bytes one node needs.
pub fn scratchBytes(gate_up: *const quants.Traits, down: *const quants.Traits, n_embd: usize, n_ff: usize, n_tokens: usize, k: usize) usize {
    return Layout.init(gate_up, down, n_embd, n_ff, n_tokens, k).total;
}

fn at(comptime T: type, base: usize, offset: usize) T {
    return @ptrFromInt(base + offset);
}

/// Every thread calls it; four barriers inside, the caller's barrier after.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    const l = Layout.init(args.gate_up_traits, args.down_traits, args.n_embd, args.n_ff, args.n_tokens, args.k);
    std.debug.assert(args.scratch.len >= l.total and args.k >= 1 and args.n_expert <= n_expert_max);
    const base = std.mem.alignForward(usize, @intFromPtr(args.scratch.ptr), 64);
    const counters = [2]*std.atomic.Value(usize){ at(*std.atomic.Value(usize), base, 0), at(*std.atomic.Value(usize), base, std.atomic.cache_line) };
    const starts = at([*]u32, base, l.counts); // n_expert + 1 prefix sums
    const order = at([*]u32, base, l.order); // sorted pair → t·k + j
    const slot = at([*]u32, base, l.slot); // t·k + j → sorted pair
    const pairs = args.n_tokens * args.k;
    const act_row = args.gate_up_traits.activation.rowBytes(args.n_embd);
    const act_hidden_row = args.down_traits.activation.rowBytes(args.n_ff);

    // Phase 1: quantize x once per token; thread 0 sorts the pairs by expert.
    const token_range = ThreadPool.splitRange(args.n_tokens, ith, nth);
    for (token_range.start..token_range.end) |t| {
        args.gate_up_traits.activation.quantizeRow(args.x[t * args.n_embd ..][0..args.n_embd], at([*]u8, base, l.act) + t * act_row);
    }
    if (ith == 0) {
        sortPairs(args, starts, order, slot);
        counters[0].store(0, .monotonic);
        counters[1].store(0, .monotonic);
    }
    pool.barrier();

    // Phase 2: activation rows in expert order, so each expert's tokens are contiguous.
    const pair_range = ThreadPool.splitRange(pairs, ith, nth);
    for (pair_range.start..pair_range.end) |i| {
        const t = order[i] / args.k;
        @memcpy(at([*]u8, base, l.act_sorted)[i * act_row ..][0..act_row], at([*]u8, base, l.act)[t * act_row ..][0..act_row]);
    }
    pool.barrier();

    // Phase 3: gate and up rows of every used expert for all of its tokens.
    const gate_up_chunk = matmul.rowsPerChunk(args.n_ff * @min(pairs, args.n_expert), nth);
    runExperts(args, starts, counters[0], gate_up_chunk, args.n_ff, 2, struct {
        fn tile(a: *const Args, b: usize, lay: Layout, e: usize, which: usize, first: usize, count: usize, rows: [2]usize) void {
            const w = if (which == 0) a.gate else a.up;
            const hidden = if (which == 0) lay.hidden_gate else lay.hidden_up;
            const mm: matmul.Args = .{
                .traits = a.gate_up_traits,
                .weight = w + e * a.gate_up_slice_bytes,
                .weight_row_bytes = a.gate_up_row_bytes,
                .k = a.n_embd,
                .n = a.n_ff,
                .t = count,
                .x = undefined,
                .x_row_stride = a.n_embd,
                .y = at([*]f32, b, hidden) + first * a.n_ff,
                .y_row_stride = a.n_ff,
                .scratch = &.{},
            };
            const row = a.gate_up_traits.activation.rowBytes(a.n_embd);
            matmul.computeTile(&mm, at([*]u8, b, lay.act_sorted) + first * row, row, .{ .row_start = rows[0], .row_end = rows[1], .token_start = 0, .token_end = count });
        }
    }.tile, base, l);
    pool.barrier();

    // Phase 4: silu(gate) ⊙ up, quantized for the down projection.
    for (pair_range.start..pair_range.end) |i| {
        const g = at([*]f32, base, l.hidden_gate)[i * args.n_ff ..][0..args.n_ff];
        const u = at([*]f32, base, l.hidden_up)[i * args.n_ff ..][0..args.n_ff];
        for (g, u) |*gv, uv| gv.* = gv.* / (1.0 + @exp(-gv.*)) * uv;
        args.down_traits.activation.quantizeRow(g, at([*]u8, base, l.act_hidden) + i * act_hidden_row);
    }
    pool.barrier();

    // Phase 5: down rows per expert.
    const down_chunk = matmul.rowsPerChunk(args.n_embd * @min(pairs, args.n_expert), nth);
    runExperts(args, starts, counters[1], down_chunk, args.n_embd, 1, struct {
        fn tile(a: *const Args, b: usize, lay: Layout, e: usize, which: usize, first: usize, count: usize, rows: [2]usize) void {
            _ = which;
            const mm: matmul.Args = .{
                .traits = a.down_traits,
                .weight = a.down + e * a.down_slice_bytes,
                .weight_row_bytes = a.down_row_bytes,
                .k = a.n_ff,
                .n = a.n_embd,
                .t = count,
                .x = undefined,
                .x_row_stride = a.n_ff,
                .y = at([*]f32, b, lay.y_sorted) + first * a.n_embd,
                .y_row_stride = a.n_embd,
                .scratch = &.{},
            };
            const row = a.down_traits.activation.rowBytes(a.n_ff);
            matmul.computeTile(&mm, at([*]u8, b, lay.act_hidden) + first * row, row, .{ .row_start = rows[0], .row_end = rows[1], .token_start = 0, .token_end = count });
        }
    }.tile, base, l);
    pool.barrier();

    // Phase 6: weighted sum per token, in the router's order of experts.
    const span = ops.split.span(args.n_tokens, args.n_embd, ith, nth);
    for (span.row_start..span.row_end) |t| {
        const out = args.y[t * args.n_embd ..][span.col_start..span.col_end];
        @memset(out, 0);
        for (0..args.k) |j| {
            const i = slot[t * args.k + j];
            const w = args.weights[t * args.k + j];
            const src = at([*]f32, base, l.y_sorted)[i * args.n_embd ..][span.col_start..span.col_end];
            for (out, src) |*o, s| o.* += w * s;
        }
    }
}

/// Counting sort of the (token, j) pairs by expert id: starts[e] = first sorted pair of e.
fn sortPairs(args: *const Args, starts: [*]u32, order: [*]u32, slot: [*]u32) void {
    const next = starts + n_expert_max + 1;
    @memset(starts[0 .. args.n_expert + 1], 0);
    const pairs = args.n_tokens * args.k;
    for (0..pairs) |p| starts[@as(usize, @intCast(args.ids[p])) + 1] += 1;
    for (0..args.n_expert) |e| starts[e + 1] += starts[e];
    @memcpy(next[0..args.n_expert], starts[0..args.n_expert]);
    for (0..pairs) |p| {
        const e: usize = @intCast(args.ids[p]);
        order[next[e]] = @intCast(p);
        slot[p] = next[e];
        next[e] += 1;
    }
}

/// Deals (expert, matrix, row chunk) items from `counter` until none are left.
fn runExperts(
    args: *const Args,
    starts: [*]const u32,
    counter: *std.atomic.Value(usize),
    rows_per_chunk: usize,
    n_rows: usize,
    n_matrices: usize,
    comptime tile: fn (*const Args, usize, Layout, usize, usize, usize, usize, [2]usize) void,
    base: usize,
    l: Layout,
) void {
    const chunks_per_matrix = std.math.divCeil(usize, n_rows, rows_per_chunk) catch unreachable;
    const per_expert = chunks_per_matrix * n_matrices;
    // Items are numbered over all experts; unused experts' items are skipped cheaply.
    while (true) {
        const item = counter.fetchAdd(1, .monotonic);
        if (item >= per_expert * args.n_expert) return;
        const e = item / per_expert;
        const first = starts[e];
        const count = starts[e + 1] - first;
        if (count == 0) continue;
        const which = (item % per_expert) / chunks_per_matrix;
        const row_start = (item % chunks_per_matrix) * rows_per_chunk;
        tile(args, base, l, e, which, first, count, .{ row_start, @min(n_rows, row_start + rows_per_chunk) });
    }
}

test "moe node matches a scalar reference of routed SwiGLU experts" {
    const allocator = std.testing.allocator;
    const n_embd = 64;
    const n_ff = 32;
    const n_expert = 5;
    const n_tokens = 3;
    const k = 2;
    var prng = std.Random.DefaultPrng.init(3);
    const random = prng.random();
    const gate = try allocator.alloc(f32, n_embd * n_ff * n_expert);
    defer allocator.free(gate);
    const up = try allocator.alloc(f32, n_embd * n_ff * n_expert);
    defer allocator.free(up);
    const down = try allocator.alloc(f32, n_ff * n_embd * n_expert);
    defer allocator.free(down);
    for (gate) |*v| v.* = random.floatNorm(f32) * 0.2;
    for (up) |*v| v.* = random.floatNorm(f32) * 0.2;
    for (down) |*v| v.* = random.floatNorm(f32) * 0.2;
    var x: [n_tokens * n_embd]f32 = undefined;
    for (&x) |*v| v.* = random.floatNorm(f32);
    const ids = [_]i32{ 4, 1, 1, 0, 4, 1 };
    const weights = [_]f32{ 0.7, 0.3, 0.5, 0.25, 1, 2 };
    var y: [n_tokens * n_embd]f32 = undefined;
    const traits = quants.traits(0).?;
    const scratch = try allocator.alloc(u8, scratchBytes(traits, traits, n_embd, n_ff, n_tokens, k));
    defer allocator.free(scratch);
    const args: Args = .{
        .gate_up_traits = traits, .down_traits = traits,
        .gate = @ptrCast(gate.ptr), .up = @ptrCast(up.ptr), .gate_up_row_bytes = n_embd * 4, .gate_up_slice_bytes = n_embd * n_ff * 4,
        .down = @ptrCast(down.ptr), .down_row_bytes = n_ff * 4, .down_slice_bytes = n_ff * n_embd * 4,
        .n_embd = n_embd, .n_ff = n_ff, .n_expert = n_expert, .n_tokens = n_tokens, .k = k,
        .x = &x, .ids = &ids, .weights = &weights, .y = &y, .scratch = scratch,
    };
    for (1..4) |n_threads| {
        const pool = try ThreadPool.create(allocator, n_threads);
        defer pool.destroy();
        const Task = struct {
            a: *const Args,
            p: *ThreadPool,
            fn work(self: *const @This(), ith: usize, nth: usize) void {
                compute(self.a, self.p, ith, nth);
            }
        };
        pool.parallel(Task, &.{ .a = &args, .p = pool }, Task.work);
        for (0..n_tokens) |t| {
            var expect: [n_embd]f64 = @splat(0);
            for (0..k) |j| {
                const e: usize = @intCast(ids[t * k + j]);
                var hidden: [n_ff]f64 = undefined;
                for (0..n_ff) |f| {
                    var g: f64 = 0;
                    var u: f64 = 0;
                    for (0..n_embd) |i| {
                        g += gate[(e * n_ff + f) * n_embd + i] * x[t * n_embd + i];
                        u += up[(e * n_ff + f) * n_embd + i] * x[t * n_embd + i];
                    }
                    hidden[f] = g / (1 + @exp(-g)) * u;
                }
                for (0..n_embd) |o| {
                    var s: f64 = 0;
                    for (0..n_ff) |f| s += down[(e * n_embd + o) * n_ff + f] * hidden[f];
                    expect[o] += weights[t * k + j] * s;
                }
            }
            for (0..n_embd) |o| try std.testing.expectApproxEqAbs(expect[o], y[t * n_embd + o], 1e-4);
        }
    }
}
