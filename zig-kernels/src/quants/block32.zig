//! The dot-product engine shared by the 32-element block types (Q8_0, Q4_0, IQ4_NL) against
//! BlockQ8A activations. A type supplies its block size, its fp16 scale, and two decoders of a
//! block's 32 integer weights: a SIMD one (unsigned nibbles or signed bytes in one register) and a
//! scalar twin. Each weight block is decoded once and used for `ncols` activation rows, which is
//! what lets the GEMM reuse a weight register across a tile of tokens.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const gemm32 = @import("gemm32.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const ones: I16x16 = @splat(1);

extern fn @"llvm.x86.avx2.psign.b"(I8x32, I8x32) I8x32;

/// vpsignb: a[i] negated where sign[i] < 0, zeroed where sign[i] == 0 (one instruction).
pub inline fn signBytes(a: I8x32, sign: I8x32) I8x32 {
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
/// `block_bytes`, `scale(w) f32`, `unsigned_quants: bool` (SIMD decode yields u8 codes and
/// `offset` is added through the activation sum s) or signed (decode yields i8 in [-128,127],
/// offset 0), `offset: f32`, `decodeSimd(w) U8x32/I8x32`, `decodeScalar(w, *[32]i32)` (values
/// with the offset already applied). Types with a per-block minimum, x = d·q + m (Q4_1, Q5_1),
/// also declare `has_min = true` and keep their fp16 m at byte 2 of the block; their offset is
/// 0 and decodeScalar yields the raw codes.
pub fn Engine(comptime T: type) type {
    const has_min = @hasDecl(T, "has_min") and T.has_min;
    return struct {
        /// The additive term of block w per unit of activation sum s: m, or offset·d.
        inline fn blockOffset(wb: [*]const u8, dw: f32) f32 {
            return if (has_min) common.f16At(wb + 2) else T.offset * dw;
        }

        /// blockOffset of 4 consecutive blocks.
        inline fn blockOffsets4(wg: [*]const u8, dw4: @Vector(4, f32)) @Vector(4, f32) {
            return if (has_min) scales4(T.block_bytes, wg + 2) else dw4 * @as(@Vector(4, f32), @splat(T.offset));
        }

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
            // Groups of 4 blocks: the 4 int sums are folded into the lanes of one vector by two
            // levels of vphaddd, so one conversion and one FMA serve 4 blocks.
            const n_full = n_blocks / 4 * 4;
            var acc: [ncols]F32x8 = @splat(@splat(0));
            var off: [ncols]@Vector(4, f32) = @splat(@splat(0));
            var g: usize = 0;
            while (g < n_full) : (g += 4) {
                const wg = w + g * T.block_bytes;
                const dw4 = scales4(T.block_bytes, wg);
                if (T.unsigned_quants) {
                    var u: [4]U8x32 = undefined;
                    inline for (0..4) |i| u[i] = T.decodeSimd(wg + i * T.block_bytes);
                    inline for (0..ncols) |c| {
                        const a = common.q8aGroup(act + c * act_stride + g * @sizeOf(common.BlockQ8A));
                        var p: [4]simd.I32x8 = undefined;
                        inline for (0..4) |i| p[i] = simd.mulAddPairs(simd.mulAddBytes(u[i], a.q[32 * i ..][0..32].*), ones);
                        acc[c] = accumulate4(acc[c], p, dw4, a.d);
                        off[c] += blockOffsets4(wg, dw4) * @as(@Vector(4, f32), a.s);
                    }
                } else {
                    var v: [4]I8x32 = undefined;
                    var abs_w: [4]U8x32 = undefined;
                    inline for (0..4) |i| {
                        v[i] = T.decodeSimd(wg + i * T.block_bytes);
                        abs_w[i] = absBytes(v[i]);
                    }
                    inline for (0..ncols) |c| {
                        const a = common.q8aGroup(act + c * act_stride + g * @sizeOf(common.BlockQ8A));
                        var p: [4]simd.I32x8 = undefined;
                        inline for (0..4) |i| p[i] = simd.mulAddPairs(simd.mulAddBytes(abs_w[i], signBytes(a.q[32 * i ..][0..32].*, v[i])), ones);
                        acc[c] = accumulate4(acc[c], p, dw4, a.d);
                    }
                }
            }
            var tail: [ncols]F32x8 = @splat(@splat(0));
            var offset_sum: [ncols]f32 = @splat(0);
            for (n_full..n_blocks) |b| blockSimd(ncols, w, act, act_stride, b, &tail, &offset_sum);
            inline for (0..ncols) |c| out[c] = @reduce(.Add, acc[c] + tail[c]) + (@reduce(.Add, off[c]) + offset_sum[c]);
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
                    offset_sum[c] += blockOffset(wb, dw) * a.s;
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
            const n_full = n_blocks / 4 * 4;
            for (0..n_blocks) |b| {
                const wb = w + b * T.block_bytes;
                var values: [32]i32 = undefined;
                T.decodeScalar(wb, &values);
                const dw = T.scale(wb);
                inline for (0..ncols) |c| {
                    const a = common.activationBlock(act + c * act_stride, b, n_full);
                    var isum: i32 = 0;
                    for (values, a.q) |x, y| isum += x * y;
                    sum[c] += dw * a.d * @as(f32, @floatFromInt(isum));
                    if (has_min) sum[c] += common.f16At(wb + 2) * a.s;
                }
            }
            inline for (0..ncols) |c| out[c] = sum[c];
        }

        /// The GEMM tile kernel over panels decoded from this type's rows (gemm32.zig).
        pub const gemmTile: gemm32.GemmTileFn = gemm32.Gemm(gemmDecoder).tile;

        /// This type's rows as gemm32 panels (q5_0_r8.zig decodes its trailing rows with it too).
        pub const gemmDecoder = struct {
            pub const unsigned_quants = T.unsigned_quants;
            pub const offset = T.offset;
            pub const unsigned_shift = gemm32.unsignedShift(T);

            pub fn decodeBlocks(row: [*]const u8, n_blocks: usize, b0: usize, q: [][32]u8, d: []f32, off: []f32) void {
                std.debug.assert(b0 + q.len <= n_blocks and d.len == q.len and off.len == q.len);
                const use_simd = cpu_path.simd();
                for (q, d, b0..) |*qi, *di, b| {
                    const wb = row + b * T.block_bytes;
                    di.* = T.scale(wb);
                    off[b - b0] = blockOffset(wb, di.*);
                    if (use_simd) {
                        qi.* = @bitCast(T.decodeSimd(wb));
                    } else {
                        var values: [32]i32 = undefined;
                        T.decodeScalar(wb, &values);
                        gemm32.storeCodes(values, T.offset, qi);
                    }
                }
            }
        };

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
                    const m: F32x8 = @splat(if (has_min) common.f16At(wb + 2) else 0);
                    inline for (0..4) |i| {
                        const part: @Vector(8, i32) = wide[8 * i ..][0..8].*;
                        out[8 * i ..][0..8].* = @mulAdd(F32x8, @floatFromInt(part), @as(F32x8, @splat(d)), m);
                    }
                } else {
                    var values: [32]i32 = undefined;
                    T.decodeScalar(wb, &values);
                    const m: f32 = if (has_min) common.f16At(wb + 2) else 0;
                    for (values, out) |v, *x| x.* = @mulAdd(f32, d, @floatFromInt(v), m);
                }
            }
        }
    };
}

extern fn @"llvm.x86.avx2.psrlv.d.256"(@Vector(8, i32), @Vector(8, i32)) @Vector(8, i32);

extern fn @"llvm.x86.avx2.phadd.d"(simd.I32x8, simd.I32x8) simd.I32x8;

/// acc + Σ_i p_i·dw_i·da_i: vphaddd twice puts block i's sums in lanes i and i+4.
pub inline fn accumulate4(acc: F32x8, p: [4]simd.I32x8, dw4: @Vector(4, f32), da: [4]f32) F32x8 {
    const h01 = @"llvm.x86.avx2.phadd.d"(p[0], p[1]);
    const h23 = @"llvm.x86.avx2.phadd.d"(p[2], p[3]);
    const h = @"llvm.x86.avx2.phadd.d"(h01, h23);
    const s4 = dw4 * @as(@Vector(4, f32), da);
    const s8 = @shuffle(f32, s4, undefined, [8]i32{ 0, 1, 2, 3, 0, 1, 2, 3 });
    return @mulAdd(F32x8, @floatFromInt(h), s8, acc);
}

/// The fp16 scales of 4 consecutive blocks (at offset 0 of each) as 4 f32 with one vcvtph2ps.
inline fn scales4(comptime block_bytes: usize, w: [*]const u8) @Vector(4, f32) {
    // The four fp16 scales are gathered into one 64-bit integer on the scalar side (movzx,
    // shift, or: integer ports the vector-bound dot product leaves idle), then moved over once;
    // inserting them lane by lane (vpinsrw) would cost vector-pipe uops in the hot loop.
    var bits: u64 = 0;
    inline for (0..4) |i| bits |= @as(u64, std.mem.readInt(u16, w[i * block_bytes ..][0..2], .little)) << (16 * i);
    const halves: @Vector(2, u64) = .{ bits, 0 };
    return asm ("vcvtph2ps %[in], %[out]"
        : [out] "=x" (-> @Vector(4, f32)),
        : [in] "x" (halves),
    );
}

/// Low nibbles of 16 bytes followed by their high nibbles, as 32 unsigned bytes in [0, 15].
/// The 16 bytes are broadcast to both 128-bit lanes (a load, no shuffle uop) and the upper lane
/// is shifted right by 4 with one variable dword shift; one AND then clears the other nibble.
pub inline fn unpackNibbles(qs: *const [16]u8) U8x32 {
    const bytes: @Vector(16, u8) = qs.*;
    const both: @Vector(8, i32) = @bitCast(@shuffle(u8, bytes, undefined, [32]i32{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 }));
    const shifted = @"llvm.x86.avx2.psrlv.d.256"(both, .{ 0, 0, 0, 0, 4, 4, 4, 4 });
    return @as(U8x32, @bitCast(shifted)) & @as(U8x32, @splat(0x0F));
}
