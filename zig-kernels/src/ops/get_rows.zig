//! Embedding lookup: dst row i = dequantized weight row ids[i], for any weight type the quants
//! dispatch table knows (F32, F16, BF16, Q8_0, Q4_0, IQ4_NL, Q4_K, Q5_K, Q6_K). The dequantizers
//! are the quants module's own; this op only picks rows and shares them among threads.
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");
const quants = @import("../quants/quants.zig");

/// One lookup node.
pub const Args = struct {
    /// Type traits of the weight (quants.traits(type_id)).
    traits: *const quants.Traits,
    /// Row 0 of the weight matrix; rows are `traits.rowBytes(width)` bytes apart.
    weight: [*]const u8,
    /// Rows in the weight matrix (ids must be below it).
    n_weight_rows: usize,
    /// Elements per row.
    width: usize,
    /// `n_ids` row ids.
    ids: [*]const i32,
    n_ids: usize,
    dst: [*]f32,
    dst_row_stride: usize,
};

/// Whether every id names a row of the matrix; exports check this before `compute`.
pub fn idsValid(ids: []const i32, n_weight_rows: usize) bool {
    for (ids) |id| if (id < 0 or @as(usize, @intCast(id)) >= n_weight_rows) return false;
    return true;
}

/// Ids split evenly over threads (SIMD or scalar dequantization per cpu_path, inside quants).
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    std.debug.assert(args.traits.rowLengthValid(args.width) or args.traits.block_elements == 1);
    const row_bytes = args.traits.rowBytes(args.width);
    const range = ThreadPool.splitRange(args.n_ids, ith, nth);
    for (range.start..range.end) |i| {
        const id: usize = @intCast(args.ids[i]);
        std.debug.assert(id < args.n_weight_rows);
        args.traits.dequantizeRow(args.weight + id * row_bytes, args.dst[i * args.dst_row_stride ..][0..args.width]);
    }
}

test "get_rows copies f32 rows and rejects out-of-range ids" {
    const weight = [_]f32{ 0, 1, 2, 10, 11, 12, 20, 21, 22 };
    const ids = [_]i32{ 2, 0, 2 };
    var dst: [9]f32 = undefined;
    const args: Args = .{ .traits = quants.traits(0).?, .weight = std.mem.sliceAsBytes(&weight).ptr, .n_weight_rows = 3, .width = 3, .ids = &ids, .n_ids = 3, .dst = &dst, .dst_row_stride = 3 };
    compute(&args, undefined, 0, 1);
    try std.testing.expectEqualSlices(f32, &.{ 20, 21, 22, 0, 1, 2, 20, 21, 22 }, &dst);
    try std.testing.expect(!idsValid(&.{ 0, 3 }, 3));
    try std.testing.expect(!idsValid(&.{-1}, 3));
}
