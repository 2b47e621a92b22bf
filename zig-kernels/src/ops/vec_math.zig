//! Vectorized exp for the small ops (softmax, sigmoid, SiLU). LLVM lowers `@exp` on vectors to one
//! libm call per lane; this polynomial (Cephes expf: range reduction by ln 2, degree-6 polynomial,
//! exponent rebuilt in the float's bits) keeps all 8 lanes in registers at ~2 ulp.
const std = @import("std");

/// 8 f32 lanes, one AVX2 register.
pub const F32x8 = @Vector(8, f32);
/// Lanes per vector.
pub const lanes: usize = 8;

/// e^x per lane; exact 0 below ln(2^-126) (no denormals), +inf above ln(f32 max).
pub inline fn exp(x: F32x8) F32x8 {
    const log2e: F32x8 = @splat(1.44269504088896341);
    // ln 2 split so n·ln2_hi is exact for |n| < 2^9.
    const ln2_hi: F32x8 = @splat(0.693359375);
    const ln2_lo: F32x8 = @splat(-2.12194440e-4);
    const x_max: F32x8 = @splat(88.72283);
    const x_min: F32x8 = @splat(-87.33654);
    const clamped = @min(@max(x, x_min), x_max);
    const n = @round(clamped * log2e);
    const r = (clamped - n * ln2_hi) - n * ln2_lo;
    var p: F32x8 = @splat(1.9875691500e-4);
    p = @mulAdd(F32x8, p, r, @splat(1.3981999507e-3));
    p = @mulAdd(F32x8, p, r, @splat(8.3334519073e-3));
    p = @mulAdd(F32x8, p, r, @splat(4.1665795894e-2));
    p = @mulAdd(F32x8, p, r, @splat(1.6666665459e-1));
    p = @mulAdd(F32x8, p, r, @splat(5.0000001201e-1));
    p = @mulAdd(F32x8, p, r * r, r + @as(F32x8, @splat(1.0)));
    // 2^n for n in [-126, 128]: n = 128 happens only at x_max, where we return inf below.
    const n_int: @Vector(8, i32) = @intFromFloat(@min(n, @as(F32x8, @splat(127.0))));
    const two_n: F32x8 = @bitCast((n_int + @as(@Vector(8, i32), @splat(127))) << @splat(23));
    const y = p * two_n;
    const zero: F32x8 = @splat(0.0);
    const inf: F32x8 = @splat(std.math.inf(f32));
    return @select(f32, x < x_min, zero, @select(f32, x > x_max, inf, y));
}

/// Loads 8 floats from `s[i..]`.
pub inline fn load(s: []const f32, i: usize) F32x8 {
    return s[i..][0..lanes].*;
}

/// Stores 8 floats at `d[i..]`.
pub inline fn store(d: []f32, i: usize, v: F32x8) void {
    d[i..][0..lanes].* = v;
}

test "exp matches std.math.exp within 3 ulp over the softmax range" {
    var x: f32 = -87.0;
    while (x < 88.0) : (x += 0.0137) {
        const got: [8]f32 = exp(@splat(x));
        const want = @exp(@as(f64, x));
        const rel = @abs(@as(f64, got[0]) - want) / want;
        try std.testing.expect(rel < 3.0 * std.math.floatEps(f32));
    }
    const edges: [8]f32 = exp(.{ -1000, -88, 0, 1, 89, 1000, -std.math.inf(f32), std.math.inf(f32) });
    try std.testing.expectEqual(@as(f32, 0), edges[0]);
    try std.testing.expectEqual(@as(f32, 0), edges[1]);
    try std.testing.expectEqual(@as(f32, 1), edges[2]);
    try std.testing.expect(std.math.isInf(edges[4]) and std.math.isInf(edges[5]));
    try std.testing.expectEqual(@as(f32, 0), edges[6]);
    try std.testing.expect(std.math.isInf(edges[7]));
}
