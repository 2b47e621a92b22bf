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

/// Node slots per node; the table stride is @sizeOf(Node) = 128 bytes.
pub const n_args: usize = 14;

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
pub const ValidateError = error{ UnknownOp, BadFlags, TooManyNodes, BadStep };

/// Checks every node's op and flags; called by the export before any pointer is used.
pub fn validate(nodes: []const Node, step: *const Step) ValidateError!void {
    if (nodes.len > n_nodes_max) return error.TooManyNodes;
    if (step.n_tokens == 0 or step.n_outputs > step.n_tokens or step.positions == 0) return error.BadStep;
    for (nodes) |node| {
        _ = std.meta.intToEnum(Op, node.op) catch return error.UnknownOp;
        if (node.flags & ~(flag_output_rows | flag_no_barrier) != 0) return error.BadFlags;
    }
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
    }
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
    try validate(&nodes, &step);
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
    try std.testing.expectError(error.UnknownOp, validate(&.{node}, &step));
    node.op = 0;
    node.flags = 8;
    try std.testing.expectError(error.BadFlags, validate(&.{node}, &step));
    node.flags = 0;
    const bad: Step = .{ .n_tokens = 1, .n_past = 0, .n_outputs = 2, .positions = @intFromPtr(&positions), .token_ids = 0 };
    try std.testing.expectError(error.BadStep, validate(&.{node}, &bad));
}
