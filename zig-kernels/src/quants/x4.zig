//! The "x4" repacked row layout of the 4-bit 32-element block types (IQ4_NL, Q4_0): each row on
//! its own, so it serves the n mod 8 trailing rows of an r8 matrix (r8.zig, the layout made at
//! load) and stands as the per-row baseline r8 is measured against. The bytes of a row are the
//! same count as the file's layout (18 per block), rearranged per group of 4 blocks (72 bytes):
//!
//!     [d0 d1 d2 d3: 4 × fp16] [32 bytes: code(b0, j) | code(b1, j) << 4, j = 0..31]
//!                             [32 bytes: code(b2, j) | code(b3, j) << 4, j = 0..31]
//!
//! where code(b, j) is the 4-bit code of element j of block b (file layout: j < 16 in the low
//! nibble of qs[j], j ≥ 16 in the high nibble of qs[j − 16]). The nb mod 4 trailing blocks keep
//! the file layout. Why: in the file layout each block costs a 16-byte broadcast load, a variable
//! shift and an AND to get its 32 codes in order, and 4 blocks' fp16 scales need 4 scattered
//! 16-bit inserts; here one 32-byte load, one shift and two ANDs yield two blocks' codes in order,
//! and one 8-byte load plus one vcvtph2ps yields four scales. That removes about a fifth of the
//! instructions of the compute-bound IQ4_NL GEMV. Activations are the same Q8A groups of 4.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const block32 = @import("block32.zig");
const gemm32 = @import("gemm32.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const ones: I16x16 = @splat(1);

/// Bytes of one group of 4 blocks.
pub const group_bytes: usize = 72;

/// Builds the x4 layout's kernels for `Base` (iq4_nl.zig or q4_0.zig), which declares
/// `block_bytes` (18), `unsigned_quants`, `offset`, `decodeScalar`, and for signed types the
/// codebook `values`.
pub fn X4(comptime Base: type) type {
    comptime std.debug.assert(Base.block_bytes == 18 and Base.block_elements == 32);
    return struct {
        pub const block_elements = 32;
        pub const block_bytes = 18;

        /// File layout → x4 layout for one row of `k` elements (k a multiple of 32). The 32 codes
        /// of a block in element order are exactly block32.unpackNibbles of its 16 bytes.
        pub fn repackRow(src: [*]const u8, dst: [*]u8, k: usize) void {
            const nb = k / 32;
            const n_full = nb / 4 * 4;
            const use_simd = cpu_path.simd();
            var g: usize = 0;
            while (g < n_full) : (g += 4) {
                const in = src + g * 18;
                const out = dst + g * 18;
                for (0..4) |i| @memcpy(out[2 * i ..][0..2], in[i * 18 ..][0..2]);
                for (0..2) |half| {
                    const lo_block = in + (2 * half) * 18;
                    const hi_block = in + (2 * half + 1) * 18;
                    const dst_half = out[8 + 32 * half ..][0..32];
                    if (use_simd) {
                        const lo = block32.unpackNibbles(lo_block[2..18]);
                        const hi = block32.unpackNibbles(hi_block[2..18]);
                        dst_half.* = lo | (hi << @splat(4));
                    } else {
                        for (dst_half, 0..) |*byte, j| byte.* = code(lo_block, j) | (code(hi_block, j) << 4);
                    }
                }
            }
            @memcpy(dst[n_full * 18 .. nb * 18], src[n_full * 18 .. nb * 18]);
        }

        /// x4 layout → file layout (the exact inverse of repackRow).
        pub fn unpackRow(src: [*]const u8, dst: [*]u8, k: usize) void {
            const nb = k / 32;
            for (0..nb) |b| blockInFileLayout(src, b, nb / 4 * 4, dst[b * 18 ..][0..18]);
        }

        inline fn code(block: [*]const u8, j: usize) u8 {
            return if (j < 16) block[2 + j] & 0x0F else block[2 + j - 16] >> 4;
        }

        /// The dot products for 1..ncols_max activation rows, indexed by ncols − 1.
        pub const dots: [block32.ncols_max]block32.DotFn = .{ dot(1), dot(2), dot(3), dot(4) };

        fn dot(comptime ncols: usize) block32.DotFn {
            return struct {
                fn call(w: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, out: [*]f32) void {
                    std.debug.assert(k % 32 == 0);
                    if (cpu_path.simd()) dotSimd(ncols, w, act, act_stride, k / 32, out) else dotScalar(ncols, w, act, act_stride, k / 32, out);
                }
            }.call;
        }

        /// The 32 codes of blocks 2h and 2h+1 of a group, as weights ready for vpmaddubsw:
        /// unsigned codes (Q4_0, offset applied through the activation sums) or codebook values.
        inline fn decodePair(half: *align(1) const [32]u8) [2]I8x32 {
            const bytes: U8x32 = half.*;
            const mask: U8x32 = @splat(0x0F);
            const lo = bytes & mask;
            const hi = @as(U8x32, @bitCast(@as(@Vector(16, u16), @bitCast(bytes)) >> @splat(4))) & mask;
            if (Base.unsigned_quants) {
                return .{ @bitCast(lo), @bitCast(hi) };
            } else {
                const table: I8x32 = Base.values ++ Base.values;
                return .{ simd.shuffleBytes(table, @bitCast(lo)), simd.shuffleBytes(table, @bitCast(hi)) };
            }
        }

        inline fn scales4(w: [*]const u8) @Vector(4, f32) {
            const halves: @Vector(8, u16) = .{ std.mem.readInt(u16, w[0..2], .little), std.mem.readInt(u16, w[2..4], .little), std.mem.readInt(u16, w[4..6], .little), std.mem.readInt(u16, w[6..8], .little), 0, 0, 0, 0 };
            return asm ("vcvtph2ps %[in], %[out]"
                : [out] "=x" (-> @Vector(4, f32)),
                : [in] "x" (halves),
            );
        }

        inline fn dotSimd(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, n_blocks: usize, out: [*]f32) void {
            const n_full = n_blocks / 4 * 4;
            var acc: [ncols]F32x8 = @splat(@splat(0));
            var off: [ncols]@Vector(4, f32) = @splat(@splat(0));
            var g: usize = 0;
            while (g < n_full) : (g += 4) {
                const wg = w + g * 18;
                const dw4 = scales4(wg);
                const p01 = decodePair(wg[8..40]);
                const p23 = decodePair(wg[40..72]);
                const v = [4]I8x32{ p01[0], p01[1], p23[0], p23[1] };
                inline for (0..ncols) |c| {
                    const a = common.q8aGroup(act + c * act_stride + g * @sizeOf(common.BlockQ8A));
                    var p: [4]I32x8 = undefined;
                    inline for (0..4) |i| {
                        const q: I8x32 = a.q[32 * i ..][0..32].*;
                        p[i] = if (Base.unsigned_quants)
                            simd.mulAddPairs(simd.mulAddBytes(@bitCast(v[i]), q), ones)
                        else
                            simd.mulAddPairs(simd.mulAddBytes(@abs(v[i]), block32.signBytes(q, v[i])), ones);
                    }
                    acc[c] = block32.accumulate4(acc[c], p, dw4, a.d);
                    if (Base.unsigned_quants) off[c] += dw4 * @as(@Vector(4, f32), a.s);
                }
            }
            var tail: [ncols]f32 = @splat(0);
            if (n_full < n_blocks) {
                // The trailing blocks keep the file layout: the base type's own dot handles them.
                const rest = n_blocks - n_full;
                var part: [block32.ncols_max]f32 = undefined;
                Base.dots[ncols - 1](w + n_full * 18, act + n_full * @sizeOf(common.BlockQ8A), act_stride, rest * 32, &part);
                inline for (0..ncols) |c| tail[c] = part[c];
            }
            inline for (0..ncols) |c| out[c] = @reduce(.Add, acc[c]) + Base.offset * @reduce(.Add, off[c]) + tail[c];
        }

        inline fn dotScalar(comptime ncols: usize, w: [*]const u8, act: [*]const u8, act_stride: usize, n_blocks: usize, out: [*]f32) void {
            var sum: [ncols]f32 = @splat(0);
            const n_full = n_blocks / 4 * 4;
            for (0..n_blocks) |b| {
                var block: [18]u8 = undefined;
                blockInFileLayout(w, b, n_full, &block);
                blockDotScalar(ncols, &block, act, act_stride, b, n_blocks, &sum);
            }
            inline for (0..ncols) |c| out[c] = sum[c];
        }

        /// Scalar reference for one file-layout block b against `ncols` Q8A activation rows:
        /// exact integer sum, then sum[c] += d_w·d_a·Σ (r8.zig's scalar path uses it too).
        pub inline fn blockDotScalar(comptime ncols: usize, block: *const [18]u8, act: [*]const u8, act_stride: usize, b: usize, n_blocks: usize, sum: *[ncols]f32) void {
            var values: [32]i32 = undefined;
            Base.decodeScalar(block, &values);
            const dw = common.f16At(block);
            inline for (0..ncols) |c| {
                const a = common.activationBlock(act + c * act_stride, b, n_blocks / 4 * 4);
                var isum: i32 = 0;
                for (values, a.q) |x, y| isum += x * y;
                sum[c] += dw * a.d * @as(f32, @floatFromInt(isum));
            }
        }

        /// Block b of an x4 row, rebuilt in the file layout (scalar paths).
        fn blockInFileLayout(w: [*]const u8, b: usize, n_full: usize, block: *[18]u8) void {
            if (b >= n_full) {
                block.* = w[b * 18 ..][0..18].*;
                return;
            }
            const group = w + (b / 4) * group_bytes;
            const i = b % 4;
            @memcpy(block[0..2], group[2 * i ..][0..2]);
            const half = group[8 + 32 * (i / 2) ..][0..32];
            const shift: u3 = if (i % 2 == 0) 0 else 4;
            for (0..16) |j| block[2 + j] = ((half[j] >> shift) & 0x0F) | (((half[j + 16] >> shift) & 0x0F) << 4);
        }

        /// The GEMM tile kernel over panels decoded from x4 rows (gemm32.zig).
        pub const gemmTile: gemm32.GemmTileFn = gemm32.Gemm(gemmDecoder).tile;

        /// x4 rows as gemm32 panels (r8.zig decodes its trailing x4 rows with it too).
        pub const gemmDecoder = struct {
            pub const unsigned_quants = Base.unsigned_quants;
            pub const offset = Base.offset;
            pub const unsigned_shift = gemm32.unsignedShift(Base);

            /// b0 is a multiple of 4, so the groups inside [b0, b0 + q.len) are decoded whole.
            pub fn decodeBlocks(row: [*]const u8, n_blocks: usize, b0: usize, q: [][32]u8, d: []f32, off: []f32) void {
                std.debug.assert(b0 % 4 == 0 and b0 + q.len <= n_blocks and d.len == q.len and off.len == q.len);
                const n_full = n_blocks / 4 * 4;
                const use_simd = cpu_path.simd();
                var i: usize = 0;
                while (i < q.len) {
                    const b = b0 + i;
                    if (use_simd and b < n_full) {
                        const wg = row + b * 18;
                        const dw4 = scales4(wg);
                        const p01 = decodePair(wg[8..40]);
                        const p23 = decodePair(wg[40..72]);
                        const v = [4]I8x32{ p01[0], p01[1], p23[0], p23[1] };
                        inline for (0..4) |m| {
                            q[i + m] = @bitCast(v[m]);
                            d[i + m] = dw4[m];
                            off[i + m] = Base.offset * dw4[m];
                        }
                        i += 4;
                    } else {
                        var block: [18]u8 = undefined;
                        blockInFileLayout(row, b, n_full, &block);
                        d[i] = common.f16At(&block);
                        off[i] = Base.offset * d[i];
                        if (use_simd) {
                            q[i] = @bitCast(Base.decodeSimd(&block));
                        } else {
                            var values: [32]i32 = undefined;
                            Base.decodeScalar(&block, &values);
                            gemm32.storeCodes(values, Base.offset, &q[i]);
                        }
                        i += 1;
                    }
                }
            }
        };

        /// Dequantizes `dst.len` elements (a multiple of 32) of an x4 row.
        pub fn dequantizeRow(src: [*]const u8, dst: []f32) void {
            const nb = dst.len / 32;
            const n_full = nb / 4 * 4;
            for (0..nb) |b| {
                var block: [18]u8 = undefined;
                blockInFileLayout(src, b, n_full, &block);
                Base.dequantizeRow(&block, dst[b * 32 ..][0..32]);
            }
        }

        /// Quantizes with the base type's reference quantizer, then repacks (tests only need it).
        pub fn quantizeRow(x: []const f32, dst: [*]u8) void {
            var block: [18]u8 = undefined;
            const nb = x.len / 32;
            // Quantize block by block into the file layout in place, then repack group by group.
            for (0..nb) |b| {
                Base.quantizeRow(x[b * 32 ..][0..32], &block);
                @memcpy(dst[b * 18 ..][0..18], &block);
            }
            var g: usize = 0;
            while (g + 4 <= nb) : (g += 4) {
                var file: [group_bytes]u8 = dst[g * 18 ..][0..group_bytes].*;
                repackRow(&file, dst + g * 18, 128);
            }
        }
    };
}

test "x4 repack round-trips and its dots match the file layout's" {
    const iq4_nl = @import("iq4_nl.zig");
    const q4_0 = @import("q4_0.zig");
    inline for (.{ iq4_nl, q4_0 }) |Base| {
        const L = X4(Base);
        // 11 blocks: two full groups and a 3-block tail.
        const k = 352;
        var prng = std.Random.DefaultPrng.init(17);
        const random = prng.random();
        var x: [k]f32 = undefined;
        for (&x) |*v| v.* = random.floatNorm(f32);
        var file: [k / 32 * 18]u8 = undefined;
        Base.quantizeRow(&x, &file);
        var packed_row: [file.len]u8 = undefined;
        var packed_scalar: [file.len]u8 = undefined;
        cpu_path.use_simd.store(false, .monotonic);
        L.repackRow(&file, &packed_scalar, k);
        cpu_path.use_simd.store(true, .monotonic);
        L.repackRow(&file, &packed_row, k);
        try std.testing.expectEqualSlices(u8, &packed_scalar, &packed_row);
        var back: [file.len]u8 = undefined;
        L.unpackRow(&packed_row, &back, k);
        try std.testing.expectEqualSlices(u8, &file, &back);
        var direct: [file.len]u8 = undefined;
        L.quantizeRow(&x, &direct);
        try std.testing.expectEqualSlices(u8, &packed_row, &direct);
        var deq_file: [k]f32 = undefined;
        var deq_x4: [k]f32 = undefined;
        Base.dequantizeRow(&file, &deq_file);
        L.dequantizeRow(&packed_row, &deq_x4);
        try std.testing.expectEqualSlices(f32, &deq_file, &deq_x4);
        var acts: [4][k / 32 * 40]u8 = undefined;
        for (&acts) |*row| {
            var xa: [k]f32 = undefined;
            for (&xa) |*v| v.* = random.floatNorm(f32);
            common.quantizeRowQ8A(&xa, row);
        }
        for ([_]bool{ true, false }) |use_simd| {
            cpu_path.use_simd.store(use_simd, .monotonic);
            defer cpu_path.use_simd.store(true, .monotonic);
            inline for (1..5) |ncols| {
                var want: [4]f32 = undefined;
                var got: [4]f32 = undefined;
                Base.dots[ncols - 1](&file, @ptrCast(&acts), acts[0].len, k, &want);
                L.dots[ncols - 1](&packed_row, @ptrCast(&acts), acts[0].len, k, &got);
                for (0..ncols) |c| try std.testing.expectApproxEqAbs(want[c], got[c], 1e-4 * (1 + @abs(want[c])));
            }
        }
    }
}
