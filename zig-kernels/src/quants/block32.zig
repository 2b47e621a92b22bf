//! The dot-product engine shared by the 32-element block types (Q8_0, Q4_0, IQ4_NL) against
//! BlockQ8A activations. A type supplies its block size, its fp16 scale, and two decoders of a
//! block's 32 integer weights: a SIMD one (unsigned nibbles or signed bytes in one register) and a
//! scalar twin. Each weight block is decoded once and used for `ncols` activation rows, which is
//! what lets the GEMM reuse a weight register across a tile of tokens.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const ones: I16x16 = @splat(1);

extern fn @"llvm.x86.avx2.psign.b"(I8x32, I8x32) I8x32;

/// vpsignb: a[i] negated where sign[i] < 0, zeroed where sign[i] == 0 (one instruction).
inline fn signBytes(a: I8x32, sign: I8x32) I8x32 {
    return @"llvm.x86.avx2.psign.b"(a, sign);
}

/// vpabsb: |v[i]|, with |−128| = 0x80 (128 read as unsigned).
inline fn absBytes(v: I8x32) U8x32 {
    return @abs(v);
}

/// `out[c] = Σ_k w[k]·act_c[k]` for c < ncols; `act` rows are `act_stride` bytes apart, `k`
/// elements long; the same signature serves every type (float types take f32 rows as bytes).
pub const DotFn = *const fn (w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void;

/// Most activation rows one dot call handles (the GEMM token-tile width).
pub const ncols_max = 4;

/// Builds the dot products of a 32-element block type `T`, which declares:
/// `block_bytes`, `scale(w) f32`, `unsigned_quants: bool` (SIMD decode yields u8 in [0,15] and
/// `offset` is added through the activation sum s) or signed (decode yields i8 in [-128,127],
/// offset 0), `offset: f32`, `decodeSimd(w) U8x32/I8x32`, `decodeScalar(w, *[32]i32)` (values
/// with the offset already applied).
pub fn Engine(comptime T: type) type {
    return struct {
        /// The dot products for 1..ncols_max activation rows, indexed by ncols − 1.
        pub const dots: [ncols_max]DotFn = .{ dot(1), dot(2), dot(3), dot(4) };

        fn dot(comptime ncols: usize) DotFn {
            return struct {
                fn call(w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void {
                    std.debug.assert(k % 32 == 0);
                    if (cpu_path.simd()) dotSimd(ncols, w, act, act_stride, k / 32, out) else dotScalar(ncols, w, act, act_stride, k / 32, out);
                }
            }.call;
        }

        inline fn dotSimd(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, n_blocks: usize, out: [*]f32) void {
            // Two accumulators per row (comptime-indexed so they stay in registers) let
            // consecutive blocks' FMAs overlap instead of waiting on one chain.
            var acc: [2][ncols]F32x8 = @splat(@splat(@splat(0)));
            var offset_sum: [ncols]f32 = @splat(0);
            var b: usize = 0;
            while (b + 2 <= n_blocks) : (b += 2) {
                inline for (0..2) |u| blockSimd(ncols, w, act, act_stride, b + u, &acc[u], &offset_sum);
            }
            if (b < n_blocks) blockSimd(ncols, w, act, act_stride, b, &acc[0], &offset_sum);
            inline for (0..ncols) |c| out[c] = @reduce(.Add, acc[0][c] + acc[1][c]) + T.offset * offset_sum[c];
        }

        inline fn blockSimd(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, b: usize, acc: *[ncols]F32x8, offset_sum: *[ncols]f32) void {
            const wb = w + b * T.block_bytes;
            const dw = T.scale(wb);
            if (T.unsigned_quants) {
                const u = T.decodeSimd(wb);
                inline for (0..ncols) |c| {
                    const a = common.q8a(act + c * act_stride + b * @sizeOf(common.BlockQ8A));
                    const p = simd.mulAddPairs(simd.mulAddBytes(u, a.q), ones);
                    acc[c] = @mulAdd(F32x8, @floatFromInt(p), @splat(dw * a.d), acc[c]);
                    offset_sum[c] += dw * a.s;
                }
            } else {
                // Sign trick: |w| (unsigned) times a carrying w's sign; |−128| = 128 still fits u8.
                const v = T.decodeSimd(wb);
                const abs_w = absBytes(v);
                inline for (0..ncols) |c| {
                    const a = common.q8a(act + c * act_stride + b * @sizeOf(common.BlockQ8A));
                    const p = simd.mulAddPairs(simd.mulAddBytes(abs_w, signBytes(a.q, v)), ones);
                    acc[c] = @mulAdd(F32x8, @floatFromInt(p), @splat(dw * a.d), acc[c]);
                }
            }
        }

        inline fn dotScalar(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, n_blocks: usize, out: [*]f32) void {
            var sum: [ncols]f32 = @splat(0);
            for (0..n_blocks) |b| {
                const wb = w + b * T.block_bytes;
                var values: [32]i32 = undefined;
                T.decodeScalar(wb, &values);
                const dw = T.scale(wb);
                inline for (0..ncols) |c| {
                    const a = common.q8a(act + c * act_stride + b * @sizeOf(common.BlockQ8A));
                    var isum: i32 = 0;
                    for (values, a.q) |x, y| isum += x * y;
                    sum[c] += dw * a.d * @as(f32, @floatFromInt(isum));
                }
            }
            inline for (0..ncols) |c| out[c] = sum[c];
        }

        /// Dequantizes `dst.len` elements (a multiple of 32) from `src`.
        pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
            std.debug.assert(dst.len % 32 == 0);
            const use_simd = cpu_path.simd();
            for (0..dst.len / 32) |b| {
                const wb = src + b * T.block_bytes;
                const d = T.scale(wb);
                const out = dst[b * 32 ..][0..32];
                if (use_simd) {
                    // Widen the 32 decoded integers 8 at a time; unsigned quants carry the offset.
                    const v = T.decodeSimd(wb);
                    const wide: [32]i32 = if (T.unsigned_quants) @as(@Vector(32, i32), v) + @as(@Vector(32, i32), @splat(@intFromFloat(T.offset))) else @as(@Vector(32, i32), v);
                    inline for (0..4) |i| {
                        const part: @Vector(8, i32) = wide[8 * i ..][0..8].*;
                        out[8 * i ..][0..8].* = @as(F32x8, @floatFromInt(part)) * @as(F32x8, @splat(d));
                    }
                } else {
                    var values: [32]i32 = undefined;
                    T.decodeScalar(wb, &values);
                    for (values, out) |v, *x| x.* = d * @as(f32, @floatFromInt(v));
                }
            }
        }
    };
}

extern fn @"llvm.x86.avx2.psrlv.d.256"(@Vector(8, i32), @Vector(8, i32)) @Vector(8, i32);

/// Low nibbles of 16 bytes followed by their high nibbles, as 32 unsigned bytes in [0, 15].
/// The 16 bytes are broadcast to both 128-bit lanes (a load, no shuffle uop) and the upper lane
/// is shifted right by 4 with one variable dword shift; one AND then clears the other nibble.
pub inline fn unpackNibbles(qs: *const [16]u8) U8x32 {
    const bytes: @Vector(16, u8) = qs.*;
    const both: @Vector(8, i32) = @bitCast(@shuffle(u8, bytes, undefined, [32]i32{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }));
    const shifted = @"llvm.x86.avx2.psrlv.d.256"(both, .{ 0, 0, 0, 0, 4, 4, 4, 4 });
    return @as(U8x32, @bitCast(shifted)) & @as(U8x32, @splat(0x0F));
}
