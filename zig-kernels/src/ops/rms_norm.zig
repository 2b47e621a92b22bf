//! RMSNorm with weight over f32 rows: y = x / sqrt(mean(x²) + eps) · w (MLA_SPEC §1.4 steps 1, 5,
//! 9). It works on the sub-range [offset, offset + width) of each row, so the 512-wide latent of a
//! 576-wide kv_a row is normed in place while its 64 rope values are left alone. src and dst may
//! be the same buffer.
const std = @import("std");
const ThreadPool = @import("../ThreadPool.zig");
const cpu_path = @import("../cpu_path.zig");
const vm = @import("vec_math.zig");

/// One RMSNorm node: `n_rows` rows, each normed over `width` elements starting at `offset`.
pub const Args = struct {
    /// Row 0 of the input (element `offset` of it is the first normed one).
    src: [*]const f32,
    /// Row 0 of the output; may equal `src`.
    dst: [*]f32,
    /// Elements from one row to the next in `src` / `dst`.
    src_row_stride: usize,
    dst_row_stride: usize,
    n_rows: usize,
    offset: usize,
    width: usize,
    /// `width` per-element weights, or null for a plain normalization.
    weight: ?[*]const f32,
    eps: f32,
};

/// Rows split evenly by thread; no scratch, no barrier.
pub fn compute(args: *const Args, pool: *ThreadPool, ith: usize, nth: usize) void {
    _ = pool;
    std.debug.assert(args.width > 0 and args.eps >= 0);
    const range = ThreadPool.splitRange(args.n_rows, ith, nth);
    const simd = cpu_path.simd();
    for (range.start..range.end) |row| {
        const src = args.src[row * args.src_row_stride + args.offset ..][0..args.width];
        const dst = args.dst[row * args.dst_row_stride + args.offset ..][0..args.width];
        const weight: ?[]const f32 = if (args.weight) |w| w[0..args.width] else null;
        if (simd) normRowSimd(src, dst, weight, args.eps) else normRowScalar(src, dst, weight, args.eps);
    }
}

/// 1 / sqrt(mean of squares + eps), the factor every element of a row is multiplied by.
fn inverseRms(sum_squares: f64, width: usize, eps: f32) f32 {
    return @floatCast(1.0 / @sqrt(sum_squares / @as(f64, @floatFromInt(width)) + eps));
}

/// Reference twin: the sum of squares in f64, then one f32 multiply per factor.
fn normRowScalar(src: []const f32, dst: []f32, weight: ?[]const f32, eps: f32) void {
    var sum: f64 = 0;
    for (src) |x| sum += @as(f64, x) * x;
    const scale = inverseRms(sum, src.len, eps);
    for (dst, src, 0..) |*y, x, i| y.* = x * scale * (if (weight) |w| w[i] else 1.0);
}

/// Four 8-lane f32 accumulators (32 partial sums) keep the rounding error of the sum of squares
/// near (width/32)·ε relative, well inside the tests' bound, at one FMA per 8 elements.
fn normRowSimd(src: []const f32, dst: []f32, weight: ?[]const f32, eps: f32) void {
    const n = src.len;
    var acc: [4]vm.F32x8 = @splat(@splat(0));
    var i: usize = 0;
    while (i + 32 <= n) : (i += 32) {
        inline for (0..4) |a| {
            const x = vm.load(src, i + 8 * a);
            acc[a] = @mulAdd(vm.F32x8, x, x, acc[a]);
        }
    }
    while (i + 8 <= n) : (i += 8) {
        const x = vm.load(src, i);
        acc[0] = @mulAdd(vm.F32x8, x, x, acc[0]);
    }
    var sum: f32 = @reduce(.Add, (acc[0] + acc[1]) + (acc[2] + acc[3]));
    while (i < n) : (i += 1) sum += src[i] * src[i];
    const scale = inverseRms(sum, n, eps);
    const scale_v: vm.F32x8 = @splat(scale);
    i = 0;
    while (i + 8 <= n) : (i += 8) {
        var y = vm.load(src, i) * scale_v;
        if (weight) |w| y *= vm.load(w, i);
        vm.store(dst, i, y);
    }
    while (i < n) : (i += 1) dst[i] = src[i] * scale * (if (weight) |w| w[i] else 1.0);
}

test "rms_norm SIMD and scalar twins agree on a strided sub-range and leave the rest alone" {
    var prng = std.Random.DefaultPrng.init(3);
    const random = prng.random();
    const pool = try ThreadPool.create(std.testing.allocator, 3);
    defer pool.destroy();
    const n_rows = 5;
    const stride = 576;
    var src: [n_rows * stride]f32 = undefined;
    for (&src) |*x| x.* = random.floatNorm(f32) * 3;
    var weight: [512]f32 = undefined;
    for (&weight) |*w| w.* = 0.5 + random.float(f32);
    var outs: [2][n_rows * stride]f32 = undefined;
    for (0..2) |path| {
        cpu_path.use_simd.store(path == 0, .monotonic);
        outs[path] = src;
        const args: Args = .{ .src = &src, .dst = &outs[path], .src_row_stride = stride, .dst_row_stride = stride, .n_rows = n_rows, .offset = 0, .width = 512, .weight = &weight, .eps = 1e-6 };
        pool.parallel(Args, &args, struct {
            fn work(a: *const Args, ith: usize, nth: usize) void {
                compute(a, undefined, ith, nth);
            }
        }.work);
    }
    cpu_path.use_simd.store(true, .monotonic);
    for (0..n_rows) |r| {
        for (512..576) |c| try std.testing.expectEqual(src[r * stride + c], outs[0][r * stride + c]);
        for (0..512) |c| try std.testing.expectApproxEqRel(outs[1][r * stride + c], outs[0][r * stride + c], 1e-5);
    }
}
