//! Row-wise softmax and sigmoid over f32 rows (the MoE router's gating, MLA_SPEC §1.9 step 2).
//! Softmax subtracts the row maximum first, so any finite logits are safe.
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");
const cpu_path = @import("../cpu_path.zig");
const vm = @import("vec_math.zig");

/// Which function each row gets.
pub const Func = enum(u32) { softmax = 0, sigmoid = 1 };

/// One node: `n_rows` rows of `width` values; `dst` may equal `src`.
pub const Args = struct {
    func: Func,
    src: [*]const f32,
    dst: [*]f32,
    src_row_stride: usize,
    dst_row_stride: usize,
    n_rows: usize,
    width: usize,
};

/// Rows split evenly over threads.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    std.debug.assert(args.width > 0);
    const range = ThreadPool.splitRange(args.n_rows, ith, nth);
    const simd = cpu_path.simd();
    for (range.start..range.end) |row| {
        const src = args.src[row * args.src_row_stride ..][0..args.width];
        const dst = args.dst[row * args.dst_row_stride ..][0..args.width];
        switch (args.func) {
            .softmax => if (simd) softmaxSimd(src, dst) else softmaxScalar(src, dst),
            .sigmoid => if (simd) sigmoidSimd(src, dst) else sigmoidScalar(src, dst),
        }
    }
}

/// Softmax of one row, scalar reference (sum in f64).
pub fn softmaxScalar(src: []const f32, dst: []f32) void {
    var max: f32 = -std.math.inf(f32);
    for (src) |x| max = @max(max, x);
    var sum: f64 = 0;
    for (dst, src) |*y, x| {
        y.* = @exp(x - max);
        sum += y.*;
    }
    const inv: f32 = @floatCast(1.0 / sum);
    for (dst) |*y| y.* *= inv;
}

fn softmaxSimd(src: []const f32, dst: []f32) void {
    const n = src.len;
    var max_v: vm.F32x8 = @splat(-std.math.inf(f32));
    var i: usize = 0;
    while (i + 8 <= n) : (i += 8) max_v = @max(max_v, vm.load(src, i));
    var max = @reduce(.Max, max_v);
    while (i < n) : (i += 1) max = @max(max, src[i]);
    const max_s: vm.F32x8 = @splat(max);
    var sum_v: vm.F32x8 = @splat(0);
    i = 0;
    while (i + 8 <= n) : (i += 8) {
        const e = vm.exp(vm.load(src, i) - max_s);
        vm.store(dst, i, e);
        sum_v += e;
    }
    var sum = @reduce(.Add, sum_v);
    while (i < n) : (i += 1) {
        dst[i] = @exp(src[i] - max);
        sum += dst[i];
    }
    const inv: vm.F32x8 = @splat(1.0 / sum);
    i = 0;
    while (i + 8 <= n) : (i += 8) vm.store(dst, i, vm.load(dst, i) * inv);
    while (i < n) : (i += 1) dst[i] *= inv[0];
}

/// 1 / (1 + e^-x), scalar reference.
pub fn sigmoidScalar(src: []const f32, dst: []f32) void {
    for (dst, src) |*y, x| y.* = 1.0 / (1.0 + @exp(-x));
}

fn sigmoidSimd(src: []const f32, dst: []f32) void {
    const one: vm.F32x8 = @splat(1.0);
    var i: usize = 0;
    while (i + 8 <= src.len) : (i += 8) vm.store(dst, i, one / (one + vm.exp(-vm.load(src, i))));
    if (i < src.len) sigmoidScalar(src[i..], dst[i..]);
}

test "softmax rows sum to one on both paths and sigmoid(0) is one half" {
    var src: [3 * 67]f32 = undefined;
    for (&src, 0..) |*x, i| x.* = @as(f32, @floatFromInt(i % 13)) * 7.5 - 40.0;
    for ([_]bool{ true, false }) |simd| {
        cpu_path.use_simd.store(simd, .monotonic);
        var dst: [src.len]f32 = undefined;
        const args: Args = .{ .func = .softmax, .src = &src, .dst = &dst, .src_row_stride = 67, .dst_row_stride = 67, .n_rows = 3, .width = 67 };
        compute(&args, undefined, 0, 1);
        for (0..3) |r| {
            var sum: f64 = 0;
            for (dst[r * 67 ..][0..67]) |y| sum += y;
            try std.testing.expectApproxEqAbs(@as(f64, 1), sum, 1e-5);
        }
        const zeros = [_]f32{0} ** 9;
        var half: [9]f32 = undefined;
        const sig: Args = .{ .func = .sigmoid, .src = &zeros, .dst = &half, .src_row_stride = 9, .dst_row_stride = 9, .n_rows = 1, .width = 9 };
        compute(&sig, undefined, 0, 1);
        for (half) |y| try std.testing.expectApproxEqAbs(@as(f32, 0.5), y, 1e-7);
    }
    cpu_path.use_simd.store(true, .monotonic);
}
