//! The graph executor: runs a whole forward step — every node of the table TypeScript built once
//! per context (src/deepseek2/graph.ts) — inside ONE `pool.run`, the way ggml's CPU backend walks
//! its node list: every thread visits every node, does its share through the op's
//! `compute(args, pool, ith, nth)`, and the threads meet at a barrier only after a node the next
//! one depends on. One exhaustive `switch` over `Op` dispatches to each module; this file owns
//! no math beyond strided row copies (graph plumbing). Nothing here allocates: every buffer is
//! an address inside memory TypeScript planned at context creation.
//!
//! Node arguments are untyped u64 slots (addresses, element counts, strides in elements, f32 bit
//! patterns); the layout of each op's slots is documented at its `Op` tag and mirrored by the
//! node writer in src/deepseek2/graph.ts. Row counts are not in the table: an op works on the
//! step's `n_tokens` rows, or its `n_outputs` rows when the node has `flag_output_rows`.
const std = @import("std");
const ThreadPool = @import("ThreadPool.zig");
const ops = @import("ops.zig");
const kv_cache_rows = @import("kv_cache_rows.zig");
const matmul = @import("matmul.zig");
const quants = @import("quants/quants.zig");
const flash_mla = @import("flash_mla.zig");
const moe = @import("moe.zig");

/// Node slots per node; the table stride is @sizeOf(Node) = 128 bytes.
pub const n_args: usize = 15;

/// Most nodes a table may have (27 layers need ~700; the bound catches a corrupt count).
pub const n_nodes_max: usize = 1 << 16;

/// Every op the executor runs. Slot layouts (a0, a1, …) are listed per op.
pub const Op = enum(u32) {
    /// dst[r·dst_stride + group·dst_group + c] = src[r·src_stride + group·src_group + c] for
    /// c < width, every group < n_groups. a0 src, a1 src_stride, a2 dst, a3 dst_stride,
    /// a4 width, a5 n_groups, a6 src_group, a7 dst_group, a8 src_row_offset_from_outputs (1:
    /// read rows starting at n_tokens − n_outputs, for the output head).
    copy_rows = 0,
    /// RMSNorm over [offset, offset+width) of each row. a0 src, a1 dst, a2 src_stride,
    /// a3 dst_stride, a4 offset, a5 width, a6 weight (0 = none), a7 eps (f32 bits).
    rms_norm = 1,
    /// YaRN RoPE on n_heads head rows per token, in place. a0 buf, a1 token_stride,
    /// a2 head_stride, a3 n_heads, a4 offset, a5 n_dims, a6 freq_base, a7 freq_scale,
    /// a8 ext_factor, a9 attn_factor, a10 beta_fast, a11 beta_slow (f32 bits), a12 n_ctx_orig.
    rope = 2,
    /// Element-wise dst = a + b / s·a / a + s·b / a (ops/add_scale.zig). a0 add_scale.Op,
    /// a1 a, a2 b, a3 dst, a4 a_stride, a5 b_stride, a6 dst_stride, a7 width, a8 s (f32 bits).
    add_scale = 3,
    /// dst = silu(gate) ⊙ up. a0 gate, a1 up, a2 dst, a3 gate_stride, a4 up_stride,
    /// a5 dst_stride, a6 width.
    silu_mul = 4,
    /// Router logits → top-k expert ids and weights (ops/moe_route.zig). a0 logits, a1 stride,
    /// a2 n_expert, a3 k, a4 gating, a5 bias (0 = none), a6 normalize (0/1), a7 scale (f32
    /// bits), a8 out_ids (i32, rows × k), a9 out_weights (f32, rows × k).
    moe_route = 5,
    /// Quantizes rows of 576 f32 into a layer's cache at rows n_past… (kv_cache_rows.zig).
    /// a0 cache type id, a1 cache base of the layer, a2 src rows (stride 576), a3 row capacity.
    kv_write = 6,
    /// y = W·x for rows tokens, optionally batched over `n_batch` weight slices (per-head W_UK /
    /// W_UV): slice b uses weight + b·a12 bytes, x + b·a13 and y + b·a14 elements.
    /// a0 type id, a1 weight, a2 weight_row_bytes, a3 k, a4 n, a5 x, a6 x_stride, a7 y,
    /// a8 y_stride, a9 scratch, a10 scratch_len, a11 n_batch, a12..a14 batch strides.
    matmul = 7,
    /// Absorbed MLA attention over the layer's cache rows 0..n_past+rows (flash_mla.zig).
    /// a0 cache type id, a1 cache, a2 q [rows][n_head][576], a3 n_head, a4 kq_scale (f32 bits),
    /// a5 strategy (0 auto, 1 heads, 2 kvsplit), a6 out [rows][n_head][512], a7 scratch,
    /// a8 scratch_len.
    flash_mla = 8,
    /// Embedding lookup: dst[t] = dequantize(table row ids[t]). a0 type id, a1 table,
    /// a2 row_bytes, a3 n_cols, a4 dst, a5 dst_stride, a6 n_rows_in_table. Ids: step.token_ids.
    get_rows = 9,
    /// Routed experts of a MoE layer (moe.zig): y (+)= Σ_j w_j·down_e(silu(gate_e x) ⊙ up_e x).
    /// a0 gate/up type | down type << 16 | accumulate << 32, a1 gate, a2 up, a3 down,
    /// a4 gate/up row bytes, a5 down row bytes, a6 gate/up expert bytes, a7 down expert bytes,
    /// a8 n_embd | n_ff << 32, a9 x, a10 ids, a11 weights, a12 k | n_expert << 16 |
    /// scratch_len << 32, a13 y (rows n_embd apart), a14 scratch.
    moe = 10,
};

/// Node rows are the step's n_outputs instead of n_tokens.
pub const flag_output_rows: u32 = 1;
/// The next node does not read what this one wrote: skip the barrier after it.
pub const flag_no_barrier: u32 = 2;

/// One node: 128 bytes, written by TypeScript.
pub const Node = extern struct {
    op: u32,
    flags: u32,
    args: [n_args]u64,
};

/// What changes from one step to the next (written by TypeScript before each run).
pub const Step = extern struct {
    /// Tokens in this batch (1 for decode).
    n_tokens: u32,
    /// Tokens already in the cache before this batch.
    n_past: u32,
    /// Rows at the end of the batch whose logits are wanted.
    n_outputs: u32,
    _reserved: u32 = 0,
    /// n_tokens token positions (i32), n_past + t.
    positions: u64,
    /// n_tokens token ids (i32).
    token_ids: u64,
};

/// Why a table cannot run.
pub const ValidateError = error{ UnknownOp, BadFlags, BadArgs, TooManyNodes, BadStep };

/// Checks every node's op and flags; called by the export before any pointer is used.
pub fn validate(nodes: []const Node, step: *const Step, nth: usize) ValidateError!void {
    if (nodes.len > n_nodes_max) return error.TooManyNodes;
    if (step.n_tokens == 0 or step.n_outputs > step.n_tokens or step.positions == 0) return error.BadStep;
    for (nodes) |node| {
        _ = std.meta.intToEnum(Op, node.op) catch return error.UnknownOp;
        if (node.flags & ~(flag_output_rows | flag_no_barrier) != 0) return error.BadFlags;
        try validateArgs(node);
    }
    for (nodes) |node| {
        const a = node.args;
        const rows: usize = if (node.flags & flag_output_rows != 0) step.n_outputs else step.n_tokens;
        switch (@as(Op, @enumFromInt(node.op))) {
            .kv_write => if (step.n_past + step.n_tokens > a[3]) return error.BadStep,
            .get_rows => {
                if (step.token_ids == 0) return error.BadStep;
                const ids = ptr([*]const i32, step.token_ids)[0..step.n_tokens];
                for (ids) |id| if (id < 0 or id >= a[6]) return error.BadStep;
            },
            .matmul => if (a[10] < matmulScratchBytes(@intCast(a[0]), a[3], rows, a[11])) return error.BadStep,
            .moe => {
                const m = moeArgs(a, rows);
                if (m.scratch.len < moe.scratchBytes(m.gate.traits, m.down.traits, m.n_embd, m.n_ff, m.n_expert, rows, m.k_used)) return error.BadStep;
            },
            .flash_mla => {
                if (rows > flash_mla.n_tokens_max) return error.BadStep;
                if (a[8] < flash_mla.scratchBytes(@enumFromInt(@as(u32, @intCast(a[0]))), rows, a[3], nth)) return error.BadStep;
            },
            else => {},
        }
    }
}

/// Enum-valued slots must hold a tag of their enum (a bad value would be undefined behaviour).
fn validateArgs(node: Node) ValidateError!void {
    const a = node.args;
    const ok = switch (@as(Op, @enumFromInt(node.op))) {
        .add_scale => a[0] <= 3,
        .moe_route => isTag(ops.moe_route.Gating, a[4]) and a[3] >= 1 and a[3] <= a[2] and a[2] <= ops.moe_route.n_expert_max,
        .kv_write => isTag(kv_cache_rows.CacheType, a[0]),
        .rope => a[5] > 0 and a[5] % 2 == 0 and a[5] <= ops.rope.n_dims_max,
        .matmul => matmulArgsValid(a),
        .moe => moeArgsValid(a),
        .flash_mla => isTag(kv_cache_rows.CacheType, a[0]) and isTag(flash_mla.Strategy, a[5]) and
            a[3] >= 1 and a[3] <= flash_mla.n_head_max,
        .get_rows => if (quants.traits(@intCast(@min(a[0], 1 << 31)))) |t| t.rowBytes(a[3]) == a[2] else false,
        else => true,
    };
    if (!ok) return error.BadArgs;
}

fn matmulArgsValid(a: [n_args]u64) bool {
    const traits = quants.traits(@intCast(@min(a[0], 1 << 31))) orelse return false;
    if (!traits.rowLengthValid(a[3]) or a[2] < traits.rowBytes(a[3]) or a[4] == 0 or a[11] == 0) return false;
    return a[9] != 0;
}

fn isTag(comptime E: type, value: u64) bool {
    if (value > std.math.maxInt(u32)) return false;
    _ = std.meta.intToEnum(E, @as(u32, @intCast(value))) catch return false;
    return true;
}

/// Everything one run needs; lives on the caller's stack for the duration of `pool.run`.
const Run = struct {
    pool: *ThreadPool,
    nodes: []const Node,
    step: *const Step,
    /// Optional per-node nanoseconds (accumulated by thread 0, barrier wait included).
    profile_ns: ?[*]u64,
};

/// Runs the table once on the pool. `validate` must have passed.
pub fn run(pool: *ThreadPool, nodes: []const Node, step: *const Step, profile_ns: ?[*]u64) void {
    const context: Run = .{ .pool = pool, .nodes = nodes, .step = step, .profile_ns = profile_ns };
    pool.parallel(Run, &context, task);
}

fn task(r: *const Run, ith: usize, nth: usize) void {
    var timer: ?std.time.Timer = if (r.profile_ns != null and ith == 0) std.time.Timer.start() catch null else null;
    for (r.nodes, 0..) |*node, i| {
        dispatch(node, r, ith, nth);
        if (node.flags & flag_no_barrier == 0) r.pool.barrier();
        if (timer) |*t| r.profile_ns.?[i] += t.lap();
    }
}

fn f32Arg(bits: u64) f32 {
    return @bitCast(@as(u32, @truncate(bits)));
}

fn ptr(comptime T: type, address: u64) T {
    return @ptrFromInt(@as(usize, @intCast(address)));
}

fn dispatch(node: *const Node, r: *const Run, ith: usize, nth: usize) void {
    const a = node.args;
    const rows: usize = if (node.flags & flag_output_rows != 0) r.step.n_outputs else r.step.n_tokens;
    const op: Op = @enumFromInt(node.op);
    switch (op) {
        .copy_rows => copyRows(a, rows, r.step, ith, nth),
        .rms_norm => {
            const args: ops.rms_norm.Args = .{
                .src = ptr([*]const f32, a[0]),
                .dst = ptr([*]f32, a[1]),
                .src_row_stride = a[2],
                .dst_row_stride = a[3],
                .n_rows = rows,
                .offset = a[4],
                .width = a[5],
                .weight = if (a[6] == 0) null else ptr([*]const f32, a[6]),
                .eps = f32Arg(a[7]),
            };
            ops.rms_norm.compute(&args, r.pool, ith, nth);
        },
        .rope => {
            const buf = ptr([*]f32, a[0]);
            const args: ops.rope.Args = .{
                .src = buf,
                .dst = buf,
                .n_tokens = rows,
                .n_heads = a[3],
                .token_stride = a[1],
                .head_stride = a[2],
                .offset = a[4],
                .positions = ptr([*]const i32, r.step.positions),
                .params = .{
                    .n_dims = a[5],
                    .freq_base = f32Arg(a[6]),
                    .freq_scale = f32Arg(a[7]),
                    .ext_factor = f32Arg(a[8]),
                    .attn_factor = f32Arg(a[9]),
                    .beta_fast = f32Arg(a[10]),
                    .beta_slow = f32Arg(a[11]),
                    .n_ctx_orig = @intCast(a[12]),
                },
            };
            ops.rope.compute(&args, r.pool, ith, nth);
        },
        .add_scale => {
            const args: ops.add_scale.Args = .{
                .op = @enumFromInt(@as(u32, @intCast(a[0]))),
                .a = ptr([*]const f32, a[1]),
                .b = ptr([*]const f32, if (a[2] == 0) a[1] else a[2]),
                .dst = ptr([*]f32, a[3]),
                .a_row_stride = a[4],
                .b_row_stride = a[5],
                .dst_row_stride = a[6],
                .n_rows = rows,
                .width = a[7],
                .s = f32Arg(a[8]),
            };
            ops.add_scale.compute(&args, r.pool, ith, nth);
        },
        .silu_mul => {
            const args: ops.silu_mul.Args = .{
                .gate = ptr([*]const f32, a[0]),
                .up = ptr([*]const f32, a[1]),
                .dst = ptr([*]f32, a[2]),
                .gate_row_stride = a[3],
                .up_row_stride = a[4],
                .dst_row_stride = a[5],
                .n_rows = rows,
                .width = a[6],
            };
            ops.silu_mul.compute(&args, r.pool, ith, nth);
        },
        .moe_route => {
            const args: ops.moe_route.Args = .{
                .logits = ptr([*]const f32, a[0]),
                .logits_row_stride = a[1],
                .n_tokens = rows,
                .n_expert = a[2],
                .k = a[3],
                .gating = @enumFromInt(@as(u32, @intCast(a[4]))),
                .bias = if (a[5] == 0) null else ptr([*]const f32, a[5]),
                .normalize = a[6] != 0,
                .scale = f32Arg(a[7]),
                .out_ids = ptr([*]i32, a[8]),
                .out_weights = ptr([*]f32, a[9]),
            };
            ops.moe_route.compute(&args, r.pool, ith, nth);
        },
        .matmul => matmulNode(a, rows, r.pool, ith, nth),
        .flash_mla => {
            const n_kv = r.step.n_past + rows;
            const args: flash_mla.Args = .{
                .cache_type = @enumFromInt(@as(u32, @intCast(a[0]))),
                .cache = ptr([*]const u8, a[1]),
                .n_kv = n_kv,
                .q = ptr([*]const f32, a[2]),
                .n_tokens = rows,
                .n_head = a[3],
                .positions = ptr([*]const i32, r.step.positions),
                .kq_scale = f32Arg(a[4]),
                .strategy = flash_mla.resolveStrategy(@enumFromInt(@as(u32, @intCast(a[5]))), n_kv, rows, a[3], nth),
                .out = ptr([*]f32, a[6]),
                .scratch = ptr([*]u8, a[7]),
                .scratch_len = a[8],
            };
            flash_mla.compute(&args, r.pool, ith, nth);
        },
        .get_rows => {
            const args: ops.get_rows.Args = .{
                .traits = quants.traits(@intCast(a[0])).?,
                .weight = ptr([*]const u8, a[1]),
                .n_weight_rows = a[6],
                .width = a[3],
                .ids = ptr([*]const i32, r.step.token_ids),
                .n_ids = rows,
                .dst = ptr([*]f32, a[4]),
                .dst_row_stride = a[5],
            };
            ops.get_rows.compute(&args, r.pool, ith, nth);
        },
        .moe => {
            const args = moeArgs(a, rows);
            moe.compute(&args, r.pool, ith, nth);
        },
        .kv_write => {
            const args: kv_cache_rows.WriteArgs = .{
                .cache_type = @enumFromInt(@as(u32, @intCast(a[0]))),
                .cache = ptr([*]u8, a[1]),
                .first_row = r.step.n_past,
                .rows = ptr([*]const f32, a[2]),
                .n_rows = rows,
            };
            kv_cache_rows.computeWrite(&args, r.pool, ith, nth);
        },
    }
}

/// One matmul, or `n_batch` independent ones sharing one activation-quantization phase and one
/// chunk counter, so a batch of 16 per-head products costs one barrier, not sixteen.
fn matmulNode(a: [n_args]u64, rows: usize, pool: *ThreadPool, ith: usize, nth: usize) void {
    const traits = quants.traits(@intCast(a[0])).?;
    const scratch = ptr([*]u8, a[9])[0..a[10]];
    const n_batch = a[11];
    const base: matmul.Args = .{
        .traits = traits,
        .weight = ptr([*]const u8, a[1]),
        .weight_row_bytes = a[2],
        .k = a[3],
        .n = a[4],
        .t = rows,
        .x = ptr([*]const f32, a[5]),
        .x_row_stride = a[6],
        .y = ptr([*]f32, a[7]),
        .y_row_stride = a[8],
        .scratch = scratch,
    };
    if (n_batch == 1) return matmul.compute(&base, pool, ith, nth);
    const view = matmul.ScratchView.of(scratch);
    const act_row_bytes = traits.activation.rowBytes(base.k);
    const float_act = traits.activation == .f32;
    // Phase 1: quantize every (slice, token) activation row once.
    if (!float_act) {
        const range = ThreadPool.splitRange(n_batch * rows, ith, nth);
        for (range.start..range.end) |i| {
            const b = i / rows;
            const t = i % rows;
            const x = base.x + b * a[13] + t * base.x_row_stride;
            traits.activation.quantizeRow(x[0..base.k], view.activations + i * act_row_bytes);
        }
    }
    // Phase 2: chunks of (slice, row range), every token of a chunk at once, from per-thread
    // queues over contiguous ranges (own range first, then stealing), as matmul.compute does:
    // one shared counter dealt the 32-row chunks of the 16 short per-head products alternately,
    // so each 2 KB chunk paid a contended atomic and broke both threads' streaming (attn_k_b ran
    // at ~5 GB/s against ~20 for ordinary GEMVs).
    const rows_per_chunk = quants.alignRows(traits, matmul.rowsPerChunk(base.n * n_batch, nth));
    const chunks_per_slice = std.math.divCeil(usize, base.n, rows_per_chunk) catch unreachable;
    const queues = ThreadPool.ChunkQueues{ .lines = view.queue_lines, .total = chunks_per_slice * n_batch, .nth = nth };
    queues.reset(ith);
    pool.barrier();
    var cursor = ThreadPool.ChunkQueues.Cursor.of(ith);
    while (queues.next(&cursor)) |chunk| {
        const b = chunk / chunks_per_slice;
        const row_start = (chunk % chunks_per_slice) * rows_per_chunk;
        var slice = base;
        slice.weight = base.weight + b * a[12];
        slice.x = base.x + b * a[13];
        slice.y = base.y + b * a[14];
        const act: [*]const u8 = if (float_act) @ptrCast(slice.x) else view.activations + b * rows * act_row_bytes;
        const act_stride = if (float_act) base.x_row_stride * 4 else act_row_bytes;
        matmul.computeTile(&slice, act, act_stride, .{
            .row_start = row_start,
            .row_end = @min(base.n, row_start + rows_per_chunk),
            .token_start = 0,
            .token_end = rows,
        });
    }
}

fn moeArgs(a: [n_args]u64, rows: usize) moe.Args {
    const gate_up = quants.traits(@intCast(a[0] & 0xffff)).?;
    const n_embd = a[8] & 0xffff_ffff;
    return .{
        .gate = .{ .traits = gate_up, .data = ptr([*]const u8, a[1]), .row_bytes = a[4], .expert_bytes = a[6] },
        .up = .{ .traits = gate_up, .data = ptr([*]const u8, a[2]), .row_bytes = a[4], .expert_bytes = a[6] },
        .down = .{ .traits = quants.traits(@intCast((a[0] >> 16) & 0xffff)).?, .data = ptr([*]const u8, a[3]), .row_bytes = a[5], .expert_bytes = a[7] },
        .n_embd = n_embd,
        .n_ff = a[8] >> 32,
        .n_expert = (a[12] >> 16) & 0xffff,
        .t = rows,
        .k_used = a[12] & 0xffff,
        .ids = ptr([*]const i32, a[10]),
        .weights = ptr([*]const f32, a[11]),
        .x = ptr([*]const f32, a[9]),
        .x_row_stride = n_embd,
        .y = ptr([*]f32, a[13]),
        .y_row_stride = n_embd,
        .accumulate = (a[0] >> 32) & 1 == 1,
        .scratch = ptr([*]u8, a[14])[0 .. a[12] >> 32],
    };
}

fn moeArgsValid(a: [n_args]u64) bool {
    const gu = quants.traits(@intCast(a[0] & 0xffff)) orelse return false;
    const down = quants.traits(@intCast((a[0] >> 16) & 0xffff)) orelse return false;
    const n_embd = a[8] & 0xffff_ffff;
    const n_ff = a[8] >> 32;
    const k = a[12] & 0xffff;
    const n_expert = (a[12] >> 16) & 0xffff;
    if (a[0] >> 33 != 0 or !moe.typesCompatible(gu, gu, down, n_embd, n_ff)) return false;
    if (a[4] < gu.rowBytes(n_embd) or a[5] < down.rowBytes(n_ff)) return false;
    return k >= 1 and k <= n_expert and a[14] != 0;
}

/// Scratch bytes of a matmul node over `t` tokens (batched: one activation area per slice).
pub fn matmulScratchBytes(type_id: u32, k: usize, t: usize, n_batch: usize) usize {
    const traits = quants.traits(type_id) orelse return 0;
    return matmul.scratchBytes(traits, k, t * n_batch);
}

/// Strided gather/scatter of `rows × n_groups` runs of `width` floats; runs split over threads.
fn copyRows(a: [n_args]u64, rows: usize, step: *const Step, ith: usize, nth: usize) void {
    const src = ptr([*]const f32, a[0]);
    const dst = ptr([*]f32, a[2]);
    const width = a[4];
    const n_groups = a[5];
    const first_row: usize = if (a[8] != 0) step.n_tokens - step.n_outputs else 0;
    const range = ThreadPool.splitRange(rows * n_groups, ith, nth);
    for (range.start..range.end) |run_index| {
        const row = run_index / n_groups;
        const group = run_index % n_groups;
        const from = src[(first_row + row) * a[1] + group * a[6] ..][0..width];
        const to = dst[row * a[3] + group * a[7] ..][0..width];
        @memcpy(to, from);
    }
}

test "copy_rows gathers head slices and the output rows" {
    const pool = try ThreadPool.create(std.testing.allocator, 3);
    defer pool.destroy();
    // 3 tokens × 2 heads × 4 values; gather element [1, 3) of each head into [head][token][2].
    var src: [24]f32 = undefined;
    for (&src, 0..) |*v, i| v.* = @floatFromInt(i);
    var dst = [_]f32{0} ** 12;
    const positions = [_]i32{ 0, 1, 2 };
    const step: Step = .{ .n_tokens = 3, .n_past = 0, .n_outputs = 1, .positions = @intFromPtr(&positions), .token_ids = 0 };
    var node: Node = .{ .op = @intFromEnum(Op.copy_rows), .flags = 0, .args = @splat(0) };
    node.args[0..8].* = .{ @intFromPtr(&src) + 4, 8, @intFromPtr(&dst), 2, 2, 2, 4, 6 };
    const nodes = [_]Node{node};
    try validate(&nodes, &step, 3);
    run(pool, &nodes, &step, null);
    try std.testing.expectEqualSlices(f32, &.{ 1, 2, 9, 10, 17, 18, 5, 6, 13, 14, 21, 22 }, &dst);
    // Output-rows mode: the last token only.
    var last = [_]f32{0} ** 8;
    node.flags = flag_output_rows;
    node.args[0..9].* = .{ @intFromPtr(&src), 8, @intFromPtr(&last), 8, 8, 1, 0, 0, 1 };
    const nodes2 = [_]Node{node};
    var profile = [_]u64{0};
    run(pool, &nodes2, &step, &profile);
    try std.testing.expectEqualSlices(f32, src[16..24], &last);
    try std.testing.expect(profile[0] > 0);
}

test "validate refuses unknown ops, flags and bad steps" {
    const positions = [_]i32{0};
    const step: Step = .{ .n_tokens = 1, .n_past = 0, .n_outputs = 1, .positions = @intFromPtr(&positions), .token_ids = 0 };
    var node: Node = .{ .op = 999, .flags = 0, .args = @splat(0) };
    try std.testing.expectError(error.UnknownOp, validate(&.{node}, &step, 1));
    node.op = 0;
    node.flags = 8;
    try std.testing.expectError(error.BadFlags, validate(&.{node}, &step, 1));
    node.flags = 0;
    const bad: Step = .{ .n_tokens = 1, .n_past = 0, .n_outputs = 2, .positions = @intFromPtr(&positions), .token_ids = 0 };
    try std.testing.expectError(error.BadStep, validate(&.{node}, &bad, 1));
}
