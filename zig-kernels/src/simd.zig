//! x86 AVX2 integer primitives that Zig's portable vectors cannot express (data-dependent byte
//! shuffles, the u8×i8 and i16×i16 multiply-add pairs behind every int8 dot product), as LLVM
//! intrinsics. Callers keep a scalar twin of every use; see quants/ and flash_mla.zig.
const std = @import("std");

/// 32 unsigned bytes.
pub const U8x32 = @Vector(32, u8);
/// 32 signed bytes.
pub const I8x32 = @Vector(32, i8);
/// 16 signed 16-bit lanes.
pub const I16x16 = @Vector(16, i16);
/// 8 signed 32-bit lanes.
pub const I32x8 = @Vector(8, i32);
/// 8 f32 lanes.
pub const F32x8 = @Vector(8, f32);

extern fn @"llvm.x86.avx2.pshuf.b"(I8x32, I8x32) I8x32;
extern fn @"llvm.x86.avx2.pmadd.ub.sw"(U8x32, I8x32) I16x16;
extern fn @"llvm.x86.avx2.pmadd.wd"(I16x16, I16x16) I32x8;
extern fn @"llvm.x86.avx2.packssdw"(I32x8, I32x8) I16x16;
extern fn @"llvm.x86.avx2.packsswb"(I16x16, I16x16) I8x32;

/// vpshufb: per 128-bit lane, out[i] = table[index[i] & 15], or 0 when index[i] has its top bit.
pub inline fn shuffleBytes(table: I8x32, index: I8x32) I8x32 {
    return @"llvm.x86.avx2.pshuf.b"(table, index);
}

/// vpmaddubsw: out[i] = sat16(a[2i]·b[2i] + a[2i+1]·b[2i+1]) with a unsigned, b signed.
pub inline fn mulAddBytes(a: U8x32, b: I8x32) I16x16 {
    return @"llvm.x86.avx2.pmadd.ub.sw"(a, b);
}

/// vpmaddwd: out[i] = a[2i]·b[2i] + a[2i+1]·b[2i+1] in 32 bits.
pub inline fn mulAddPairs(a: I16x16, b: I16x16) I32x8 {
    return @"llvm.x86.avx2.pmadd.wd"(a, b);
}

/// Σ a[i]·b[i] over 32 signed bytes as 8 partial i32 sums, the usual sign trick: |a| × sign(b, a).
/// Both inputs must lie in [-127, 127] (negating -128 wraps).
pub inline fn dotBytes(a: I8x32, b: I8x32) I32x8 {
    const zero: I8x32 = @splat(0);
    const abs_a: U8x32 = @bitCast(@select(i8, a < zero, -%a, a));
    const signed_b = @select(i8, a < zero, -%b, @select(i8, a == zero, zero, b));
    return mulAddPairs(mulAddBytes(abs_a, signed_b), @as(I16x16, @splat(1)));
}

/// 32 i32 lanes (4 registers, each lane in [−128, 127]) narrowed to 32 bytes in order: two
/// vpackssdw and a vpacksswb (which interleave the registers per 128-bit lane) and one vpermd
/// to undo the interleave. Out-of-range lanes saturate.
pub inline fn narrowToBytes(q: [4]I32x8) I8x32 {
    const words = @"llvm.x86.avx2.packsswb"(@"llvm.x86.avx2.packssdw"(q[0], q[1]), @"llvm.x86.avx2.packssdw"(q[2], q[3]));
    // Dword j of `words`: 4 bytes of register j % 4, from its low half (j < 4) or high half.
    const dwords: I32x8 = @bitCast(words);
    return @bitCast(@shuffle(i32, dwords, undefined, [8]i32{ 0, 4, 1, 5, 2, 6, 3, 7 }));
}

/// The largest lane of non-negative, non-NaN floats: their bit patterns order as integers,
/// so a tree of integer maxima finds it (a float @reduce(.Max) lowers to a serial chain with
/// NaN blends, the slowest part of an activation block's quantization).
pub inline fn maxNonNegative(v: F32x8) f32 {
    const U32x8 = @Vector(8, u32);
    var m: U32x8 = @bitCast(v);
    m = @max(m, @shuffle(u32, m, undefined, [8]i32{ 4, 5, 6, 7, 0, 1, 2, 3 }));
    m = @max(m, @shuffle(u32, m, undefined, [8]i32{ 2, 3, 0, 1, 6, 7, 4, 5 }));
    m = @max(m, @shuffle(u32, m, undefined, [8]i32{ 1, 0, 3, 2, 5, 4, 7, 6 }));
    return @bitCast(m[0]);
}

/// Horizontal sum of 8 i32 lanes.
pub inline fn sumI32(v: I32x8) i32 {
    return @reduce(.Add, v);
}

test "dotBytes matches a scalar dot product including the saturation corner" {
    var prng = std.Random.DefaultPrng.init(7);
    const random = prng.random();
    for (0..200) |round| {
        var a: [32]i8 = undefined;
        var b: [32]i8 = undefined;
        for (&a, &b) |*x, *y| {
            x.* = random.int(i8);
            y.* = random.int(i8);
            // int8 quants are symmetric in [-127, 127]; -128 would wrap under negation.
            if (x.* == -128) x.* = -127;
            if (y.* == -128) y.* = -127;
        }
        if (round == 0) {
            a = @splat(127);
            b = @splat(-127);
        }
        var expected: i32 = 0;
        for (a, b) |x, y| expected += @as(i32, x) * y;
        try std.testing.expectEqual(expected, sumI32(dotBytes(a, b)));
    }
}

test "narrowToBytes keeps element order and saturates; maxNonNegative finds the largest lane" {
    var prng = std.Random.DefaultPrng.init(8);
    const random = prng.random();
    for (0..50) |_| {
        var values: [32]i32 = undefined;
        for (&values) |*v| v.* = random.intRangeAtMost(i32, -300, 300);
        var q: [4]I32x8 = undefined;
        for (&q, 0..) |*reg, j| reg.* = values[8 * j ..][0..8].*;
        const bytes: [32]i8 = narrowToBytes(q);
        for (bytes, values) |b, v| try std.testing.expectEqual(@as(i8, @intCast(std.math.clamp(v, -128, 127))), b);
        var lanes: [8]f32 = undefined;
        for (&lanes) |*l| l.* = @abs(random.floatNorm(f32)) * 1e3;
        lanes[random.uintLessThan(usize, 8)] = 0;
        try std.testing.expectEqual(std.mem.max(f32, &lanes), maxNonNegative(lanes));
    }
}

test "shuffleBytes looks up a 16-entry table per lane" {
    const table: [32]i8 = .{ -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 } ** 2;
    var index: [32]i8 = undefined;
    for (&index, 0..) |*x, i| x.* = @intCast((i * 7) % 16);
    const out: [32]i8 = shuffleBytes(table, index);
    for (out, index) |value, i| try std.testing.expectEqual(table[@intCast(i)], value);
}
