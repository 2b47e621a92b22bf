//! One 32-element sub-block of an 8-row group of 4-bit codes (Q4_K_R8) against up to 4 tokens,
//! weighted by the rows' sub-block scales, in inline asm:
//!
//!     isum[c] lane r += sc_r · Σ_e code(r, e) · q_c[e]
//!
//! The 8 code registers (piece p: elements 4p..4p+3 of the 8 rows, one nibble of each byte) are
//! unpacked once and held while each token's 8 byte products are summed in 16 bits (codes ≤ 15,
//! |q| ≤ 127: 8 · 2 · 15 · 127 = 30480 < 2^15), then one vpmaddwd applies the scales and widens.
//! Per 256 products: 8 broadcasts, 8 vpmaddubsw, 7 vpaddw, 1 vpmaddwd, 1 vpaddd. Written in Zig
//! over a whole super-block, LLVM hoisted the 64 unpacked registers of all 8 sub-blocks and
//! spilled them, one reload per product (125 GOP/s per core on 2048×1408 against Q4_0_R8's 166,
//! whose dots hold one block's registers).
const std = @import("std");
const simd = @import("../simd.zig");

const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const U8x32 = simd.U8x32;

const low_nibbles: U8x32 = @splat(0x0f);

/// Adds sub-block sums to `isum[0..ncols]`: `pieces` holds 8 registers of 32 bytes (piece p at
/// 32p), whose low (`high` false) or high nibbles are the codes; `q[c]` points at token c's 32
/// activation quants of the sub-block; `sc` holds row r's scale in 16-bit lanes 2r and 2r+1.
/// The asm reads memory (pieces, q, the mask), hence the memory clobber.
pub inline fn subBlockSums(comptime ncols: usize, comptime high: bool, pieces: [*]const u8, q: [ncols][*]const u8, sc: I16x16, isum: *[ncols]I32x8) void {
    comptime std.debug.assert(ncols >= 1 and ncols <= 4);
    @setEvalBranchQuota(1_000_000);
    comptime var text: []const u8 = "";
    inline for (0..8) |p| {
        text = text ++ std.fmt.comptimePrint("vmovdqu {d}(%[pieces]), %[c{d}]\n", .{ 32 * p, p });
        if (high) text = text ++ std.fmt.comptimePrint("vpsrlw $4, %[c{d}], %[c{d}]\n", .{ p, p });
        text = text ++ std.fmt.comptimePrint("vpand (%[mask]), %[c{d}], %[c{d}]\n", .{ p, p });
    }
    inline for (0..ncols) |c| {
        inline for (0..8) |p| {
            text = text ++ std.fmt.comptimePrint("vpbroadcastd {d}(%[q{d}]), %[t]\n", .{ 4 * p, c });
            text = text ++ if (p == 0)
                std.fmt.comptimePrint("vpmaddubsw %[t], %[c0], %[s16]\n", .{})
            else
                std.fmt.comptimePrint("vpmaddubsw %[t], %[c{d}], %[t]\nvpaddw %[t], %[s16], %[s16]\n", .{p});
        }
        text = text ++ std.fmt.comptimePrint("vpmaddwd %[sc], %[s16], %[s16]\nvpaddd %[s16], %[i{d}], %[i{d}]\n", .{ c, c });
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
        : [pieces] "r" (pieces),
          [mask] "r" (&low_nibbles),
          [q0] "r" (qs[0]),
          [q1] "r" (qs[1]),
          [q2] "r" (qs[2]),
          [q3] "r" (qs[3]),
          [sc] "x" (sc),
        : .{ .memory = true });
    sums = .{ s0, s1, s2, s3 };
    inline for (0..ncols) |c| isum[c] = sums[c];
}

/// Scalar twin of subBlockSums: the same sums, element by element.
pub fn subBlockSumsScalar(comptime ncols: usize, high: bool, pieces: [*]const u8, q: [ncols][*]const u8, sc: I16x16, isum: *[ncols]I32x8) void {
    for (0..ncols) |c| {
        for (0..8) |r| {
            var sum: i32 = 0;
            for (0..8) |p| {
                for (0..4) |e| {
                    const byte = pieces[32 * p + 4 * r + e];
                    const code: i32 = if (high) byte >> 4 else byte & 0x0f;
                    sum += code * @as(i8, @bitCast(q[c][4 * p + e]));
                }
            }
            isum[c][r] += sum * sc[2 * r];
        }
    }
}

test "subBlockSums matches its scalar twin exactly, at the 16-bit edge too (codes 15, q = ±127)" {
    var prng = std.Random.DefaultPrng.init(5);
    const random = prng.random();
    var pieces: [256]u8 = undefined;
    var acts: [4][32]u8 = undefined;
    for (0..24) |round| {
        random.bytes(&pieces);
        for (&acts) |*a| {
            for (a) |*v| v.* = @bitCast(random.intRangeAtMost(i8, -127, 127));
        }
        if (round % 3 == 0) {
            // Every code 15 and every quant of one sign: the largest 16-bit sums.
            @memset(&pieces, 0xff);
            const v: u8 = if (round % 2 == 0) 0x7f else 0x81;
            for (&acts) |*a| @memset(a, v);
        }
        var sc: I16x16 = undefined;
        for (0..8) |r| {
            const s = random.intRangeAtMost(i16, 0, 63);
            sc[2 * r] = s;
            sc[2 * r + 1] = s;
        }
        var q: [4][*]const u8 = undefined;
        for (&q, &acts) |*p, *a| p.* = a;
        inline for (.{ false, true }) |high| {
            inline for (1..5) |ncols| {
                var start: [ncols]I32x8 = undefined;
                for (&start) |*s| {
                    for (0..8) |r| s[r] = random.intRangeAtMost(i32, -1 << 20, 1 << 20);
                }
                var got = start;
                var want = start;
                subBlockSums(ncols, high, &pieces, q[0..ncols].*, sc, &got);
                subBlockSumsScalar(ncols, high, &pieces, q[0..ncols].*, sc, &want);
                for (0..ncols) |c| try std.testing.expectEqual(want[c], got[c]);
            }
        }
    }
}
