//! Top-k selection over f32 rows (the MoE router picks k ≤ 8 experts of 64..256): ids and values
//! in descending value order, ties broken by the lower index first — the order a stable
//! descending sort gives. llama.cpp has no defined tie order to match: older ggml's argsort is an
//! exchange sort that is not stable (e.g. it orders [2, 1, 0, 0, 1] as ids 0, 1, 4, 3, 2), newer
//! versions use std::sort / std::partial_sort; ties between real router logits do not occur in
//! practice. k is small, so an insertion into a k-long sorted list beats a sort.
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");

/// Largest k supported; bounds the per-row list kept on the stack.
pub const k_max: usize = 32;

/// One node: for each of `n_rows` rows of `width` values, the `k` largest.
pub const Args = struct {
    src: [*]const f32,
    src_row_stride: usize,
    n_rows: usize,
    width: usize,
    k: usize,
    /// `n_rows × k` ids (row-major).
    out_ids: [*]i32,
    /// `n_rows × k` values, or null when only the ids are wanted.
    out_values: ?[*]f32,
};

/// Rows split evenly over threads. Scalar only: k·width ≤ 32·256 compares per row is noise
/// next to the matmuls that produced the row.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    std.debug.assert(args.k >= 1 and args.k <= k_max and args.k <= args.width);
    const range = ThreadPool.splitRange(args.n_rows, ith, nth);
    for (range.start..range.end) |row| {
        const ids = args.out_ids[row * args.k ..][0..args.k];
        var values: [k_max]f32 = undefined;
        selectRow(args.src[row * args.src_row_stride ..][0..args.width], ids, values[0..args.k]);
        if (args.out_values) |out| @memcpy(out[row * args.k ..][0..args.k], values[0..args.k]);
    }
}

/// The `ids.len` largest of `row`, descending, lower index first among equals. NaN ranks below
/// every number (a NaN logit never wins a place a number could take).
pub fn selectRow(row: []const f32, ids: []i32, values: []f32) void {
    const k = ids.len;
    std.debug.assert(values.len == k and k <= row.len);
    var count: usize = 0;
    for (row, 0..) |v, index| {
        // Position: after every kept value ≥ v (so earlier indices stay first among ties).
        var at = count;
        while (at > 0 and ranksAbove(v, values[at - 1])) at -= 1;
        if (at >= k) continue;
        var j = @min(count, k - 1);
        while (j > at) : (j -= 1) {
            values[j] = values[j - 1];
            ids[j] = ids[j - 1];
        }
        values[at] = v;
        ids[at] = @intCast(index);
        count = @min(count + 1, k);
    }
}

/// Whether a later value `v` must be placed before an already kept `kept`.
inline fn ranksAbove(v: f32, kept: f32) bool {
    if (std.math.isNan(v)) return false;
    return v > kept or std.math.isNan(kept);
}

test "selectRow keeps the lower index first among ties and ranks NaN last" {
    const row = [_]f32{ 1, 5, 3, 5, std.math.nan(f32), 3, -std.math.inf(f32), 5 };
    var ids: [4]i32 = undefined;
    var values: [4]f32 = undefined;
    selectRow(&row, &ids, &values);
    try std.testing.expectEqualSlices(i32, &.{ 1, 3, 7, 2 }, &ids);
    try std.testing.expectEqualSlices(f32, &.{ 5, 5, 5, 3 }, &values);
    const nan_first = [_]f32{ std.math.nan(f32), -std.math.inf(f32) };
    var two: [2]i32 = undefined;
    var two_v: [2]f32 = undefined;
    selectRow(&nan_first, &two, &two_v);
    try std.testing.expectEqualSlices(i32, &.{ 1, 0 }, &two);
}
