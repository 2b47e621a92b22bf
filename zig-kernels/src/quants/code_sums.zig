//! One 32-element sub-block of an 8-row group of unsigned codes (the r8 K-quants: Q4_K, Q5_K,
//! Q6_K) against up to 4 tokens, weighted by the rows' scales, in inline asm:
//!
//!     isum[c] lane r += Σ_i sc_i,r · Σ_{e in sum i} code(r, e) · q_c[e]
//!
//! The layout's decoder (asm text) unpacks the 8 code registers (register p: elements 4p..4p+3
//! of the 8 rows) once; they are held while each token's byte products are summed in 16 bits,
//! per_sum registers at a time (the longest run the codes' width allows: 4-bit 8, as
//! 8 · 2 · 15 · 127 = 30480 < 2^15; 5-bit 4; 6-bit 2), then one vpmaddwd applies a scale and
//! widens. For 4-bit codes, per 256 products: 8 broadcasts, 8 vpmaddubsw, 7 vpaddw, 1 vpmaddwd,
//! 1 vpaddd. Written in Zig over a whole super-block, LLVM hoisted the unpacked registers of all
//! 8 sub-blocks and spilled them, one reload per product (Q4_K_R8: 125 GOP/s per core on
//! 2048×1408 against Q4_0_R8's 166, whose dots hold one block's registers; 139–147 with this).
//! Unpacked in Zig into memory for a shared asm body, Q4_K_R8 read 124–129: LLVM again hoisted
//! and copied, so the decoders are asm too.
const std = @import("std");
const simd = @import("../simd.zig");

const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const U8x32 = simd.U8x32;

/// Masks the decoders' asm reads at %[masks]: +0 the low nibble, +32 bit 4, +64 bits 4–5.
const masks = [3]U8x32{ @splat(0x0f), @splat(0x10), @splat(0x30) };

/// Adds one sub-block's sums to `isum[0..ncols]`. `Decode.text(p)` is asm that writes code
/// register p (elements 4p..4p+3 of the 8 rows, unsigned) to %[c<p>] from memory at %[src],
/// using %[masks] (see `masks`) and the scratch %[t]; `q[c]` points at token c's 32 activation
/// quants. The byte products of registers per_sum·i .. per_sum·(i + 1) − 1 are summed in 16
/// bits, the caller bounding per_sum · 2 · max code · 127 below 2^15, and weighted by
/// `scales[i · n_scales / (8 / per_sum)]` (row r's scale in 16-bit lanes 2r and 2r+1). The asm
/// reads memory (src, q), hence the memory clobber. All 16 ymm registers are operands (a scale
/// from memory cost Q4_K_R8 3%).
pub inline fn subBlockSums(comptime Decode: type, comptime ncols: usize, comptime per_sum: usize, comptime n_scales: usize, src: [*]const u8, q: [ncols][*]const u8, scales: *const [n_scales]I16x16, isum: *[ncols]I32x8) void {
    comptime std.debug.assert(ncols >= 1 and ncols <= 4 and 8 % per_sum == 0 and (8 / per_sum) % n_scales == 0 and n_scales <= 2);
    @setEvalBranchQuota(1_000_000);
    const n_sums = comptime 8 / per_sum;
    comptime var text: []const u8 = "";
    inline for (0..8) |p| text = text ++ comptime Decode.text(p);
    inline for (0..ncols) |c| {
        inline for (0..8) |p| {
            text = text ++ std.fmt.comptimePrint("vpbroadcastd {d}(%[q{d}]), %[t]\n", .{ 4 * p, c });
            text = text ++ if (p % per_sum == 0)
                std.fmt.comptimePrint("vpmaddubsw %[t], %[c{d}], %[s16]\n", .{p})
            else
                std.fmt.comptimePrint("vpmaddubsw %[t], %[c{d}], %[t]\nvpaddw %[t], %[s16], %[s16]\n", .{p});
            if (p % per_sum == per_sum - 1) text = text ++ std.fmt.comptimePrint(
                \\vpmaddwd %[sc{d}], %[s16], %[s16]
                \\vpaddd %[s16], %[i{d}], %[i{d}]
                \\
            , .{ p / per_sum * n_scales / n_sums, c, c });
        }
    }
    var sums: [4]I32x8 = undefined;
    inline for (0..4) |c| sums[c] = if (c < ncols) isum[c] else @splat(0);
    var s0, var s1, var s2, var s3 = sums;
    var qs: [4][*]const u8 = undefined;
    inline for (0..4) |c| qs[c] = q[@min(c, ncols - 1)];
    var c0: U8x32, var c1: U8x32, var c2: U8x32, var c3: U8x32 = .{ undefined, undefined, undefined, undefined };
    var c4: U8x32, var c5: U8x32, var c6: U8x32, var c7: U8x32 = .{ undefined, undefined, undefined, undefined };
    var t: I16x16 = undefined;
    var s16: I16x16 = undefined;
    asm (text
        : [c0] "=&x" (c0),
          [c1] "=&x" (c1),
          [c2] "=&x" (c2),
          [c3] "=&x" (c3),
          [c4] "=&x" (c4),
          [c5] "=&x" (c5),
          [c6] "=&x" (c6),
          [c7] "=&x" (c7),
          [t] "=&x" (t),
          [s16] "=&x" (s16),
          [i0] "+x" (s0),
          [i1] "+x" (s1),
          [i2] "+x" (s2),
          [i3] "+x" (s3),
        : [src] "r" (src),
          [masks] "r" (&masks),
          [q0] "r" (qs[0]),
          [q1] "r" (qs[1]),
          [q2] "r" (qs[2]),
          [q3] "r" (qs[3]),
          [sc0] "x" (scales[0]),
          [sc1] "x" (scales[n_scales - 1]),
        : .{ .memory = true });
    sums = .{ s0, s1, s2, s3 };
    inline for (0..ncols) |c| isum[c] = sums[c];
}

/// Scalar twin of subBlockSums over codes already decoded (`codes[p]`: register p).
pub fn subBlockSumsScalar(comptime ncols: usize, comptime per_sum: usize, comptime n_scales: usize, codes: *const [8]U8x32, q: [ncols][*]const u8, scales: *const [n_scales]I16x16, isum: *[ncols]I32x8) void {
    const n_sums = 8 / per_sum;
    for (0..ncols) |c| {
        for (0..8) |r| {
            for (0..n_sums) |i| {
                var sum: i32 = 0;
                for (per_sum * i..per_sum * (i + 1)) |p| {
                    for (0..4) |e| sum += @as(i32, codes[p][4 * r + e]) * @as(i8, @bitCast(q[c][4 * p + e]));
                }
                isum[c][r] += sum * scales[i * n_scales / n_sums][2 * r];
            }
        }
    }
}

/// A decoder for the test: register p is 32 bytes at 32p.
const PlainCodes = struct {
    fn text(comptime p: usize) []const u8 {
        return std.fmt.comptimePrint("vmovdqu {d}(%[src]), %[c{d}]\n", .{ 32 * p, p });
    }
};

/// Q4_K_R8's decoder: the low (`high` false) or high nibbles of 8 pieces 32 bytes apart.
pub fn NibbleCodes(comptime high: bool) type {
    return struct {
        pub fn text(comptime p: usize) []const u8 {
            return std.fmt.comptimePrint("vmovdqu {d}(%[src]), %[c{d}]\n", .{ 32 * p, p }) ++
                (if (high) std.fmt.comptimePrint("vpsrlw $4, %[c{d}], %[c{d}]\n", .{ p, p }) else "") ++
                std.fmt.comptimePrint("vpand (%[masks]), %[c{d}], %[c{d}]\n", .{ p, p });
        }
    };
}

test "subBlockSums matches its scalar twin exactly, at the 16-bit edge too (largest codes, q = ±127)" {
    var prng = std.Random.DefaultPrng.init(5);
    const random = prng.random();
    var acts: [4][32]u8 = undefined;
    // 4-, 5- and 6-bit codes with the sum lengths their bounds allow and their scale counts
    // (Q4_K, Q5_K: one per sub-block; Q6_K: one per 16 elements).
    inline for (.{ .{ 8, 15, 1 }, .{ 4, 31, 1 }, .{ 2, 63, 2 } }) |shape| {
        const per_sum = shape[0];
        const max_code: u8 = shape[1];
        const n_scales = shape[2];
        for (0..24) |round| {
            var codes: [8]U8x32 align(32) = undefined;
            for (&codes) |*reg| {
                for (0..32) |i| reg[i] = random.intRangeAtMost(u8, 0, max_code);
            }
            for (&acts) |*a| {
                for (a) |*v| v.* = @bitCast(random.intRangeAtMost(i8, -127, 127));
            }
            if (round % 3 == 0) {
                // Every code at its largest and every quant of one sign: the largest 16-bit sums.
                codes = @splat(@splat(max_code));
                const v: u8 = if (round % 2 == 0) 0x7f else 0x81;
                for (&acts) |*a| @memset(a, v);
            }
            var scales: [n_scales]I16x16 = undefined;
            for (&scales) |*sc| {
                for (0..8) |r| {
                    const value = random.intRangeAtMost(i16, -128, 127);
                    sc[2 * r] = value;
                    sc[2 * r + 1] = value;
                }
            }
            var q: [4][*]const u8 = undefined;
            for (&q, &acts) |*p, *a| p.* = a;
            inline for (1..5) |ncols| {
                var start: [ncols]I32x8 = undefined;
                for (&start) |*sum| {
                    for (0..8) |r| sum[r] = random.intRangeAtMost(i32, -1 << 20, 1 << 20);
                }
                var got = start;
                var want = start;
                subBlockSums(PlainCodes, ncols, per_sum, scales.len, @ptrCast(&codes), q[0..ncols].*, &scales, &got);
                subBlockSumsScalar(ncols, per_sum, scales.len, &codes, q[0..ncols].*, &scales, &want);
                for (0..ncols) |c| try std.testing.expectEqual(want[c], got[c]);
            }
        }
    }
}
