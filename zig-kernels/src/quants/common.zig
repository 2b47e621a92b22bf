//! What every quantized type shares: fp16/bf16 conversion, the activation formats the int8
//! dot products consume, and their quantizers (SIMD path plus scalar twin).
//!
//! Activation formats (scratch only, never in files):
//! * Q8A — 32-element blocks, each `d` f32, `s` f32 = d·Σq, `q[32]` i8 (40 bytes). A row of nb
//!   blocks is stored as floor(nb/4) `GroupQ8A` (4 scales, 4 sums, 128 quants: the same 160
//!   bytes as 4 `BlockQ8A`) followed by nb mod 4 single `BlockQ8A`, so the dot product loads 4
//!   scales at once. Used against Q8_0 and Q4_0 weights; `s` lets Q4_0's −8 offset cost
//!   one multiply per block.
//! * `BlockQ8K` — 256 elements: `d` f32, `q[256]` i8, `bsums[16]` i16 (292 bytes, mainline
//!   ggml's Q8_K). Used against Q4_K, Q5_K and Q6_K; `bsums` carry the K-quant mins/offsets.
//! * Q8P — Q8A's bytes with a scale chosen so that every even-aligned pair of quants has
//!   |q_2j| + |q_2j+1| ≤ 136: d = max(amax/127, pmax/135), pmax the largest |x_2j| + |x_2j+1|
//!   (rounding adds at most 1 to a pair). Used against IQ4_NL weights, whose r8 kernels multiply
//!   the codebook shifted to unsigned, K + 127 in [0, 240], with vpmaddubsw: a pair then stays
//!   within 240·136 = 32640 < 2^15, so vpmaddubsw cannot saturate and no sign trick is needed.
//!   The scale is at most 2·127/135 ≈ 1.9× Q8A's (typically ~1.3×): activation rounding
//!   error stays ~10× below the 4-bit weights' own error.
//! All round x/d to nearest-even (the SIMD-friendly rounding); |x − d·q| ≤ d/2 (Q8A: amax/254).
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");

pub const F32x8 = simd.F32x8;

/// 32-element activation block for Q8_0 / Q4_0 weights (Q8A) and IQ4_NL weights (Q8P).
pub const BlockQ8A = extern struct {
    d: f32,
    s: f32,
    q: [32]i8,
};

/// 256-element activation block for the K-quants (mainline ggml Q8_K layout).
pub const BlockQ8K = extern struct {
    d: f32,
    q: [256]i8,
    bsums: [16]i16,
};

comptime {
    std.debug.assert(@sizeOf(BlockQ8A) == 40);
    std.debug.assert(@sizeOf(BlockQ8K) == 292);
}

/// IEEE binary16 bits (little-endian, unaligned) → f32.
/// Hot loops read one fp16 scale per block: LLVM's own lowering inserts the half into whatever
/// register it likes (`vpinsrw` into the accumulator), chaining every block to the previous one;
/// a zero-extended `vmovd` + `vcvtph2ps` has no such false dependency.
pub inline fn f16At(bytes: [*]const u8) f32 {
    const bits = std.mem.readInt(u16, bytes[0..2], .little);
    const wide: @Vector(4, u32) = .{ bits, 0, 0, 0 };
    const out = asm ("vcvtph2ps %[in], %[out]"
        : [out] "=x" (-> @Vector(4, f32)),
        : [in] "x" (wide),
    );
    return out[0];
}

/// f32 → IEEE binary16 bits, round-to-nearest-even.
pub inline fn f16Bits(value: f32) u16 {
    return @bitCast(@as(f16, @floatCast(value)));
}

/// bf16 bits → f32.
pub inline fn bf16ToF32(bits: u16) f32 {
    return @bitCast(@as(u32, bits) << 16);
}

/// f32 → bf16 bits: NaN stays a quiet NaN, everything else rounds to nearest-even.
pub inline fn f32ToBf16(value: f32) u16 {
    const bits: u32 = @bitCast(value);
    if (std.math.isNan(value)) return @truncate((bits >> 16) | 0x40);
    return @truncate((bits +% 0x7FFF +% ((bits >> 16) & 1)) >> 16);
}

/// 1.5·2^23: added to |x| < 2^22, it leaves round-to-nearest-even(x) in the low mantissa bits.
const round_magic: f32 = 12582912.0;

/// Round to nearest, ties to even, for |x| < 2^22: adding 1.5·2^23 pushes the fraction out.
pub inline fn roundEven(x: anytype) @TypeOf(x) {
    const magic: @TypeOf(x) = if (@typeInfo(@TypeOf(x)) == .vector) @splat(round_magic) else round_magic;
    return (x + magic) - magic;
}

/// Activation block pointer at byte `ptr` (scratch may be only 4-byte aligned).
pub inline fn q8a(ptr: [*]const u8) *align(1) const BlockQ8A {
    return @ptrCast(ptr);
}

/// Activation block pointer at byte `ptr`.
pub inline fn q8k(ptr: [*]const u8) *align(1) const BlockQ8K {
    return @ptrCast(ptr);
}

/// Activation blocks in groups of 4: the 4 scales, the 4 sums, then 4×32 quants (160 bytes, the
/// same bytes as 4 BlockQ8A), so a dot product loads 4 blocks' scales with one load.
pub const GroupQ8A = extern struct {
    d: [4]f32,
    s: [4]f32,
    q: [128]i8,
};

/// The group of 4 activation blocks at byte `ptr`.
pub inline fn q8aGroup(ptr: [*]const u8) *align(1) const GroupQ8A {
    return @ptrCast(ptr);
}

/// Block b of a Q8A activation row of `n_full` grouped blocks (then singles).
pub inline fn activationBlock(row: [*]const u8, b: usize, n_full: usize) struct { d: f32, s: f32, q: *align(1) const [32]i8 } {
    if (b < n_full) {
        const g = q8aGroup(row + (b / 4) * @sizeOf(GroupQ8A));
        return .{ .d = g.d[b % 4], .s = g.s[b % 4], .q = g.q[32 * (b % 4) ..][0..32] };
    }
    const a = q8a(row + b * @sizeOf(BlockQ8A));
    return .{ .d = a.d, .s = a.s, .q = &a.q };
}

/// Largest pair sum |q_2j| + |q_2j+1| of a Q8P block (see the file comment).
pub const q8p_pair_max = 136;

/// Quantizes `x` (a multiple of 32 long): floor(nb/4) GroupQ8A then nb%4 BlockQ8A, nb = len/32.
pub fn quantizeRowQ8A(x: []const f32, dst: [*]u8) void {
    quantizeRow32(false, x, dst);
}

/// Quantizes `x` as Q8P: Q8A's layout, pair-bounded scale (see the file comment).
pub fn quantizeRowQ8P(x: []const f32, dst: [*]u8) void {
    quantizeRow32(true, x, dst);
}

fn quantizeRow32(comptime pair_bounded: bool, x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 32 == 0);
    const nb = x.len / 32;
    const grouped = nb / 4 * 4;
    const use_simd = cpu_path.simd();
    for (0..nb) |b| {
        const src = x[b * 32 ..][0..32];
        const single: *align(1) BlockQ8A = @ptrCast(dst + b * @sizeOf(BlockQ8A));
        const group = groupAt(dst, b);
        const q: *align(1) [32]i8 = if (b < grouped) group.q[32 * (b % 4) ..][0..32] else &single.q;
        const scales = if (use_simd) quantizeBlock32Simd(pair_bounded, src, q) else quantizeBlock32Scalar(pair_bounded, src, q);
        if (b < grouped) {
            group.d[b % 4] = scales.d;
            group.s[b % 4] = scales.s;
        } else {
            single.d = scales.d;
            single.s = scales.s;
        }
    }
}

/// A quantized 32-block's scale d and its sum s = d·Σq.
const BlockScales = struct { d: f32, s: f32 };

/// The group holding block b of a Q8A row being written (for b in the grouped part).
inline fn groupAt(dst: [*]u8, b: usize) *align(1) GroupQ8A {
    return @ptrCast(dst + (b / 4) * @sizeOf(GroupQ8A));
}

/// A block's scale: amax/127, or for Q8P the larger of that and pmax/135 (one less than the
/// pair bound, for the rounding of two quants).
inline fn blockScale(comptime pair_bounded: bool, amax: f32, pmax: f32) f32 {
    const d = amax / 127.0;
    return if (pair_bounded) @max(d, pmax / @as(f32, q8p_pair_max - 1)) else d;
}

/// Round to nearest-even as an integer, for |x| < 2^22: after adding 1.5·2^23 the integer
/// sits in the low mantissa bits, so one integer subtraction replaces the float subtraction
/// and the conversion (the same values as @intFromFloat(roundEven(x))).
inline fn roundToInt(x: F32x8) @Vector(8, i32) {
    const magic: F32x8 = @splat(round_magic);
    return @as(@Vector(8, i32), @bitCast(x + magic)) - @as(@Vector(8, i32), @bitCast(magic));
}

/// One block: its quants into `q`; returns its scale and sum.
fn quantizeBlock32Simd(comptime pair_bounded: bool, x: *const [32]f32, q: *align(1) [32]i8) BlockScales {
    var v: [4]F32x8 = undefined;
    var amax: F32x8 = @splat(0);
    var pmax: F32x8 = @splat(0);
    inline for (0..4) |i| {
        v[i] = x[i * 8 ..][0..8].*;
        const a = @abs(v[i]);
        amax = @max(amax, a);
        if (pair_bounded) {
            // Lane 2j: |x_2j| + |x_2j+1| (odd lanes hold the same sums).
            pmax = @max(pmax, a + @shuffle(f32, a, undefined, [8]i32{ 1, 0, 3, 2, 5, 4, 7, 6 }));
        }
    }
    // @max drops NaN lanes (as the scalar twin's), so both maxima are non-negative and not NaN.
    const d = blockScale(pair_bounded, simd.maxNonNegative(amax), if (pair_bounded) simd.maxNonNegative(pmax) else 0);
    const id: F32x8 = @splat(if (d != 0) 1.0 / d else 0);
    var qi: [4]@Vector(8, i32) = undefined;
    inline for (0..4) |i| qi[i] = roundToInt(v[i] * id);
    q.* = simd.narrowToBytes(qi);
    return .{ .d = d, .s = d * @as(f32, @floatFromInt(@reduce(.Add, (qi[0] + qi[1]) + (qi[2] + qi[3])))) };
}

fn quantizeBlock32Scalar(comptime pair_bounded: bool, x: *const [32]f32, q_out: *align(1) [32]i8) BlockScales {
    var amax: f32 = 0;
    var pmax: f32 = 0;
    for (x) |value| amax = @max(amax, @abs(value));
    for (0..16) |j| pmax = @max(pmax, @abs(x[2 * j]) + @abs(x[2 * j + 1]));
    const d = blockScale(pair_bounded, amax, pmax);
    const id: f32 = if (d != 0) 1.0 / d else 0;
    var sum: i32 = 0;
    for (x, 0..) |value, i| {
        const q: i32 = @intFromFloat(roundEven(value * id));
        q_out[i] = @intCast(q);
        sum += q;
    }
    return .{ .d = d, .s = d * @as(f32, @floatFromInt(sum)) };
}

/// The signed element of largest magnitude (the first on ties; 0 for an all-zero slice): ggml's
/// reference quantizers map it to the most negative code so the scale keeps its sign.
pub fn signedAbsMax(values: []const f32) f32 {
    var amax: f32 = 0;
    var max: f32 = 0;
    for (values) |v| if (@abs(v) > amax) {
        amax = @abs(v);
        max = v;
    };
    return max;
}

/// ggml's reference codes of one 32-block of an offset type (Q4_0: 16 levels, Q5_0: 32): the
/// signed element of largest magnitude maps to code 0, d = max/(−levels/2), and
/// q = min(levels − 1, trunc(x/d + levels/2 + 0.5)). Returns d.
pub fn offsetCodes(comptime levels: f32, src: *const [32]f32, codes: *[32]u8) f32 {
    const d = signedAbsMax(src) / -(levels / 2);
    const id: f32 = if (d != 0) 1.0 / d else 0;
    for (src, codes) |x, *q| q.* = @intFromFloat(@min(levels - 1, @max(0.0, x * id + levels / 2 + 0.5)));
    return d;
}

/// ggml's reference codes of one 32-block of a min type (Q4_1: 16 levels, Q5_1: 32):
/// d = (max − min)/(levels − 1), m = min, q = min(levels − 1, trunc((x − min)/d + 0.5)).
pub fn minCodes(comptime levels: f32, src: *const [32]f32, codes: *[32]u8) struct { d: f32, m: f32 } {
    const lo = std.mem.min(f32, src);
    const d = (std.mem.max(f32, src) - lo) / (levels - 1);
    const id: f32 = if (d != 0) 1.0 / d else 0;
    for (src, codes) |x, *q| q.* = @intFromFloat(@min(levels - 1, (x - lo) * id + 0.5));
    return .{ .d = d, .m = lo };
}

/// The scalar inverse of packNibbles: 32 codes in element order, minus `offset` (the value the
/// code 0 stands for in the offset types: −8 for Q4_0, −16 for Q5_0; 0 for raw codes); `qh`
/// holds the 5-bit types' fifth bits (0 for the 4-bit types).
pub fn unpackCodes(qs: *const [16]u8, qh: u32, comptime offset: i32, values: *[32]i32) void {
    for (0..16) |j| {
        const fifth_lo: i32 = @intCast((qh >> @intCast(j)) & 1);
        const fifth_hi: i32 = @intCast((qh >> @intCast(j + 16)) & 1);
        values[j] = (@as(i32, qs[j] & 0x0F) | (fifth_lo << 4)) + offset;
        values[j + 16] = (@as(i32, qs[j] >> 4) | (fifth_hi << 4)) + offset;
    }
}

/// Packs 32 codes in element order as ggml's nibbles (qs[j] low = element j, high = element
/// j + 16) and returns their fifth bits as the 5-bit types' qh (bit j = bit 4 of code j).
pub fn packNibbles(codes: *const [32]u8, qs: *[16]u8) u32 {
    var qh: u32 = 0;
    for (0..16) |j| {
        qs[j] = (codes[j] & 0x0F) | ((codes[j + 16] & 0x0F) << 4);
        qh |= @as(u32, codes[j] >> 4) << @intCast(j);
        qh |= @as(u32, codes[j + 16] >> 4) << @intCast(j + 16);
    }
    return qh;
}

/// Quantizes `x` (a multiple of 256 long) into `x.len/256` BlockQ8K blocks at `dst`.
/// As ggml: the signed element of largest magnitude maps to −127, so d may be negative.
pub fn quantizeRowQ8K(x: []const f32, dst: [*]u8) void {
    std.debug.assert(x.len % 256 == 0);
    const blocks: [*]align(1) BlockQ8K = @ptrCast(dst);
    const use_simd = cpu_path.simd();
    for (0..x.len / 256) |b| {
        const src = x[b * 256 ..][0..256];
        if (use_simd) quantizeBlockQ8KSimd(src, &blocks[b]) else quantizeBlockQ8KScalar(src, &blocks[b]);
    }
}

fn quantizeBlockQ8KScalar(src: *const [256]f32, out: *align(1) BlockQ8K) void {
    const max = signedAbsMax(src);
    if (max == 0) {
        out.* = std.mem.zeroes(BlockQ8K);
        return;
    }
    const iscale = -127.0 / max;
    for (src, 0..) |value, i| out.q[i] = @intFromFloat(@min(127, roundEven(iscale * value)));
    for (0..16) |j| {
        var sum: i16 = 0;
        for (out.q[j * 16 ..][0..16]) |q| sum += q;
        out.bsums[j] = sum;
    }
    out.d = 1.0 / iscale;
}

/// quantizeBlockQ8KScalar's values: the signed maximum found as the first element whose
/// magnitude equals the vector maximum, the quants and block sums 8 lanes at a time.
fn quantizeBlockQ8KSimd(src: *const [256]f32, out: *align(1) BlockQ8K) void {
    var amax: F32x8 = @splat(0);
    for (0..32) |i| amax = @max(amax, @abs(@as(F32x8, src[8 * i ..][0..8].*)));
    const magnitude = simd.maxNonNegative(amax); // @max drops NaN lanes, as signedAbsMax does
    if (magnitude == 0) {
        out.* = std.mem.zeroes(BlockQ8K);
        return;
    }
    const max = for (0..32) |i| {
        const v: F32x8 = src[8 * i ..][0..8].*;
        const hits: u8 = @bitCast(@abs(v) == @as(F32x8, @splat(magnitude)));
        if (hits != 0) break v[@ctz(hits)];
    } else unreachable;
    const iscale = -127.0 / max;
    const top: @Vector(8, i32) = @splat(127);
    for (0..8) |g| {
        var qi: [4]@Vector(8, i32) = undefined;
        inline for (0..4) |i| qi[i] = @min(top, roundToInt(@as(F32x8, src[32 * g + 8 * i ..][0..8].*) * @as(F32x8, @splat(iscale))));
        out.q[32 * g ..][0..32].* = simd.narrowToBytes(qi);
        out.bsums[2 * g] = @intCast(@reduce(.Add, qi[0] + qi[1]));
        out.bsums[2 * g + 1] = @intCast(@reduce(.Add, qi[2] + qi[3]));
    }
    out.d = 1.0 / iscale;
}

/// Test helper: `x` quantized by the SIMD path into `simd_out` and by the scalar twin into
/// `scalar_out`, leaving SIMD on.
fn quantizeBothPaths(quantize: fn ([]const f32, [*]u8) void, x: []const f32, simd_out: [*]u8, scalar_out: [*]u8) void {
    cpu_path.use_simd.store(true, .monotonic);
    quantize(x, simd_out);
    cpu_path.use_simd.store(false, .monotonic);
    quantize(x, scalar_out);
    cpu_path.use_simd.store(true, .monotonic);
}

test "quantizeRowQ8A SIMD and scalar agree and bound the error by d/2" {
    var prng = std.Random.DefaultPrng.init(3);
    const random = prng.random();
    var x: [96]f32 = undefined;
    for (&x) |*v| v.* = (random.float(f32) - 0.5) * 7.0;
    x[40] = 0;
    var a: [3]BlockQ8A = undefined;
    var b: [3]BlockQ8A = undefined;
    quantizeBothPaths(quantizeRowQ8A, &x, @ptrCast(&a), @ptrCast(&b));
    for (a, b, 0..) |ba, bb, blk| {
        try std.testing.expectEqual(ba.d, bb.d);
        try std.testing.expectEqual(ba.s, bb.s);
        try std.testing.expectEqual(ba.q, bb.q);
        for (0..32) |i| {
            const err = @abs(x[blk * 32 + i] - ba.d * @as(f32, @floatFromInt(ba.q[i])));
            try std.testing.expect(err <= ba.d * 0.5001);
        }
    }
}

test "quantizeRowQ8P keeps every pair within the bound, SIMD and scalar alike" {
    var prng = std.Random.DefaultPrng.init(5);
    const random = prng.random();
    var x: [160]f32 = undefined;
    for (&x) |*v| v.* = random.floatNorm(f32);
    // Block 1: one outlier with a zero partner (amax sets d); block 2: two equal neighbours (the
    // pair sets d); block 3: all zero. Five blocks: a group of 4, then a single block.
    x[32 + 6] = 0;
    x[32 + 7] = 9;
    x[64 + 10] = -3;
    x[64 + 11] = 3;
    @memset(x[96..128], 0);
    var a: [5 * @sizeOf(BlockQ8A)]u8 = undefined;
    var b: [5 * @sizeOf(BlockQ8A)]u8 = undefined;
    quantizeBothPaths(quantizeRowQ8P, &x, &a, &b);
    for (0..5) |blk| {
        const one = activationBlock(&a, blk, 4);
        const two = activationBlock(&b, blk, 4);
        try std.testing.expectEqual(one.d, two.d);
        try std.testing.expectEqual(one.s, two.s);
        try std.testing.expectEqual(one.q.*, two.q.*);
        var widest: u32 = 0;
        for (0..16) |j| {
            const pair = @abs(@as(i32, one.q[2 * j])) + @abs(@as(i32, one.q[2 * j + 1]));
            try std.testing.expect(pair <= q8p_pair_max);
            widest = @max(widest, pair);
        }
        for (0..32) |i| {
            const err = @abs(x[blk * 32 + i] - one.d * @as(f32, @floatFromInt(one.q[i])));
            try std.testing.expect(err <= one.d * 0.5001);
        }
        if (blk == 1) try std.testing.expectEqual(@as(i8, 127), one.q[7]);
        if (blk == 2) try std.testing.expect(widest >= q8p_pair_max - 1);
        if (blk == 3) try std.testing.expectEqual(@as(f32, 0), one.d);
    }
}

test "quantizeRowQ8K SIMD and scalar agree: the first extreme sets the sign, zero blocks stay zero" {
    var prng = std.Random.DefaultPrng.init(9);
    const random = prng.random();
    var x: [4 * 256]f32 = undefined;
    for (&x) |*v| v.* = random.floatNorm(f32) * 3;
    // Block 1: +50 before −50 (the first extreme maps to −127); block 2: −50 before +50;
    // block 3: all zero.
    x[256 + 17] = 50;
    x[256 + 200] = -50;
    x[512 + 3] = -50;
    x[512 + 250] = 50;
    @memset(x[768..], 0);
    var a: [4]BlockQ8K = undefined;
    var b: [4]BlockQ8K = undefined;
    quantizeBothPaths(quantizeRowQ8K, &x, @ptrCast(&a), @ptrCast(&b));
    for (a, b) |one, two| {
        try std.testing.expectEqual(two.d, one.d);
        try std.testing.expectEqual(two.q, one.q);
        try std.testing.expectEqual(two.bsums, one.bsums);
    }
    try std.testing.expectEqual(@as(i8, -127), a[1].q[17]);
    try std.testing.expectEqual(@as(i8, 127), a[1].q[200]);
    try std.testing.expectEqual(@as(i8, -127), a[2].q[3]);
    try std.testing.expectEqual(@as(f32, 0), a[3].d);
}

test "quantizeRowQ8K bsums are sums of 16 quants" {
    var x: [256]f32 = undefined;
    for (&x, 0..) |*v, i| v.* = @sin(@as(f32, @floatFromInt(i)));
    var out: BlockQ8K = undefined;
    quantizeRowQ8K(&x, @ptrCast(&out));
    var total: i32 = 0;
    for (out.bsums) |s| total += s;
    var direct: i32 = 0;
    for (out.q) |q| direct += q;
    try std.testing.expectEqual(direct, total);
    for (x, out.q) |v, q| try std.testing.expect(@abs(v - out.d * @as(f32, @floatFromInt(q))) <= @abs(out.d) * 0.5001);
}
