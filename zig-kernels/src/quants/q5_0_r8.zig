//! The r8 layouts of Q5_0 and Q5_1 (`Q5_0`, `Q5_1` below): 8 rows interleaved per block (r8.zig
//! explains the idea and the row-range contract). They are llama.cpp's fallbacks for every
//! 1408-wide `ffn_down_exps` of a DeepSeek-V2-Lite file that is otherwise Q4_K (Q5_0) or Q5_K
//! (Q5_1): a third of the weights a token streams there. A matrix keeps its bytes; its n mod 8
//! trailing rows keep the file layout. Block b of a group (Q5_0: 176 bytes = 8 × 22; Q5_1: 192 =
//! 8 × 24), with h = 16 (Q5_0) or 32 (Q5_1):
//!
//!     [0, 16)       d of rows 0..7 (fp16)
//!     [16, 32)      Q5_1 only: m of rows 0..7 (fp16)
//!     [h, h + 128)  low nibbles, as r8.zig's pieces: piece p (0..3) at h + 32p,
//!                   byte 4r + j = lo(r, 8p + j) | lo(r, 8p + 4 + j) << 4
//!     [h + 128, h + 160)  high bits: byte 4r + j, bit m (0..7) = hi(r, 4m + j)
//!
//! where code(r, e) = lo | hi << 4 is the 5-bit code of element e of row r's block b. Register
//! m (elements 4m..4m+3 of every row, lane r) gets its high bits from the plane with one 16-bit
//! shift (by 4 − m, either way) and one mask: the bits a 16-bit shift carries across bytes never
//! land on bit 4. Codes ≤ 31, so 4 vpmaddubsw sums stay in 16 bits (4·2·31·127 < 2^15); Q5_0's
//! −16·d and Q5_1's m come back through the activation block sums, once per block for 8 rows.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const q5_0 = @import("q5_0.zig");
const q5_1 = @import("q5_1.zig");
const r8 = @import("r8.zig");
const prefetch = @import("prefetch.zig");
const r8_layout_test = @import("r8_layout_test.zig");
const gemm32 = @import("gemm32.zig");

const F32x8 = simd.F32x8;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const ones: I16x16 = @splat(1);

/// Q5_0's r8 layout.
pub const Q5_0 = R8Q5(q5_0);
/// Q5_1's r8 layout: Q5_0's with the 8 rows' m after their d.
pub const Q5_1 = R8Q5(q5_1);

const group_rows = r8.group_rows;
const groupedRows = r8.groupedRows;

fn R8Q5(comptime Base: type) type {
    return struct {
        pub const block_elements = 32;
        pub const block_bytes = Base.block_bytes;
        const has_min = @hasDecl(Base, "has_min") and Base.has_min;
        const group_block_bytes = group_rows * block_bytes;
        const nibbles_offset: usize = if (has_min) 32 else 16;
        const high_offset = nibbles_offset + 128;
        /// Where the file block keeps qh (its nibbles follow).
        const file_qh_offset: usize = if (has_min) 4 else 2;

        comptime {
            std.debug.assert(high_offset + 32 == group_block_bytes);
        }

        /// The 5-bit codes (Q5_0: value + 16; Q5_1: as stored) of a file-layout block, in element order.
        fn fileCodes(block: [*]const u8) [32]u8 {
            var values: [32]i32 = undefined;
            Base.decodeScalar(block, &values);
            var codes: [32]u8 = undefined;
            for (values, &codes) |v, *c| c.* = @intCast(v - @as(i32, @intFromFloat(Base.offset)));
            return codes;
        }

        /// File layout → r8 layout for a matrix of `n_rows` rows of `k` elements (rows `row_bytes`
        /// apart in both buffers).
        pub fn repackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
            const nb = k / 32;
            var r0: usize = 0;
            while (r0 < groupedRows(n_rows)) : (r0 += group_rows) {
                for (0..nb) |b| {
                    const out = dst + r0 * row_bytes + b * group_block_bytes;
                    @memset(out[high_offset..group_block_bytes], 0);
                    for (0..group_rows) |r| {
                        const block = src + (r0 + r) * row_bytes + b * block_bytes;
                        @memcpy(out[2 * r ..][0..2], block[0..2]);
                        if (has_min) @memcpy(out[16 + 2 * r ..][0..2], block[2..4]);
                        const codes = fileCodes(block);
                        for (0..4) |p| for (0..4) |j| {
                            const lo = codes[8 * p + j] & 0x0F;
                            const hi = codes[8 * p + 4 + j] & 0x0F;
                            out[nibbles_offset + 32 * p + 4 * r + j] = lo | (hi << 4);
                        };
                        for (0..8) |m| for (0..4) |j| {
                            const bit = codes[4 * m + j] >> 4;
                            out[high_offset + 4 * r + j] |= bit << @intCast(m);
                        };
                    }
                }
            }
            // Trailing rows keep the file layout.
            const tail = groupedRows(n_rows);
            if (tail < n_rows) {
                for (tail..n_rows) |r| @memcpy(dst[r * row_bytes ..][0 .. nb * block_bytes], src[r * row_bytes ..][0 .. nb * block_bytes]);
            }
        }

        /// Block b of row `lane` of the group at `group`, rebuilt in the file layout.
        fn blockInFileLayout(group: [*]const u8, lane: usize, b: usize, block: *[block_bytes]u8) void {
            const src = group + b * group_block_bytes;
            @memcpy(block[0..2], src[2 * lane ..][0..2]);
            if (has_min) @memcpy(block[2..4], src[16 + 2 * lane ..][0..2]);
            var qh: u32 = 0;
            const qs = block[file_qh_offset + 4 ..];
            @memset(qs[0..16], 0);
            for (0..32) |e| {
                const m = e / 4;
                const j = e % 4;
                const piece = src[nibbles_offset + 32 * (e / 8) + 4 * lane + j];
                const lo = if (e % 8 < 4) piece & 0x0F else piece >> 4;
                const hi = (src[high_offset + 4 * lane + j] >> @intCast(m)) & 1;
                qh |= @as(u32, hi) << @intCast(e);
                if (e < 16) qs[e] |= lo else qs[e - 16] |= lo << 4;
            }
            std.mem.writeInt(u32, block[file_qh_offset..][0..4], qh, .little);
        }

        /// r8 layout → file layout (the exact inverse of repackMatrix; tests).
        pub fn unpackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
            r8.unpackGroups(block_elements, block_bytes, blockInFileLayout, src, dst, row_bytes, k, n_rows);
        }

        /// Dot products of a row range for 1..ncols_max activation rows, indexed by ncols − 1; the
        /// n mod 8 trailing rows go through the file layout's dots.
        pub const rows_dots = r8.rowsDots(@This(), Base.dots);

        /// The GEMM tile kernel (gemm32.zig) over panels decoded from r8 groups and file rows. Per core
        /// on 2048×1408 in GOP/s, tile against dots: t=8 63/119, t=16 87/120, t=48 113–117/117–119,
        /// t=512 120–122/111–114: the high bits make the dots' decode (shared by 4 tokens) cost more than
        /// IQ4_NL's or Q4_0's, so from 128 tokens the tile takes over (Q5_0; Q5_1 alike).
        pub const gemmTile = gemm32.Gemm(GemmDecoder).tile;
        /// Below this many tokens the row-range dots beat the tile (quants.Traits.gemm_tokens_min).
        pub const gemm_tokens_min = 128;

        const GemmDecoder = struct {
            pub const unsigned_quants = true;
            pub const offset = Base.offset;

            /// Blocks b0..b0+q.len of row r of the matrix at w (n_rows rows `row_bytes` apart).
            pub fn decodeRowBlocks(w: [*]const u8, row_bytes: usize, n_rows: usize, r: usize, n_blocks: usize, b0: usize, q: [][32]u8, d: []f32, off: []f32) void {
                if (r >= groupedRows(n_rows)) {
                    return Base.gemmDecoder.decodeBlocks(w + r * row_bytes, n_blocks, b0, q, d, off);
                }
                const group = w + (r / group_rows) * group_rows * row_bytes;
                const lane = r % group_rows;
                const use_simd = cpu_path.simd();
                for (q, d, off, b0..) |*out, *scale, *offset_mult, b| {
                    if (use_simd) {
                        scale.* = common.f16At(group + b * group_block_bytes + 2 * lane);
                        offset_mult.* = if (has_min) common.f16At(group + b * group_block_bytes + 16 + 2 * lane) else offset * scale.*;
                        out.* = rowCodesSimd(group + b * group_block_bytes, lane);
                    } else {
                        // Scalar twin: the block rebuilt in the file layout, through the file decoder.
                        var block: [block_bytes]u8 = undefined;
                        blockInFileLayout(group, lane, b, &block);
                        Base.gemmDecoder.decodeBlocks(&block, 1, 0, @as(*[1][32]u8, out), @as(*[1]f32, scale), @as(*[1]f32, offset_mult));
                    }
                }
            }
        };

        /// Row `lane`'s 32 codes of the group block at `src`, in element order.
        inline fn rowCodesSimd(src: [*]const u8, lane: usize) [32]u8 {
            const nibbles = src + nibbles_offset + 4 * lane;
            const words: @Vector(4, u32) = .{
                std.mem.readInt(u32, nibbles[0..4], .little),
                std.mem.readInt(u32, nibbles[32..36], .little),
                std.mem.readInt(u32, nibbles[64..68], .little),
                std.mem.readInt(u32, nibbles[96..100], .little),
            };
            const bytes: @Vector(16, u8) = @bitCast(words);
            const mask: @Vector(16, u8) = @splat(0x0F);
            const lo: @Vector(4, u32) = @bitCast(bytes & mask);
            const hi: @Vector(4, u32) = @bitCast((bytes >> @splat(4)) & mask);
            // Piece p: low nibbles are elements 8p..8p+3, high nibbles 8p+4..8p+7.
            const ordered: U8x32 = @bitCast(@shuffle(u32, lo, hi, [8]i32{ 0, -1, 1, -2, 2, -3, 3, -4 }));
            return ordered | r8.rowHighBits(src[high_offset + 4 * lane ..][0..4].*);
        }

        /// One block of a group against `ncols` activation blocks: acc[c] lane r += d_r·da_c·Σ code·q,
        /// off[c] lane r += d_r·sa_c (Q5_1: m_r·sa_c).
        inline fn blockSimd(comptime ncols: usize, src: [*]const u8, q: [ncols][*]const u8, da: [ncols]f32, sa: [ncols]f32, acc: *[ncols]F32x8, off: *[ncols]F32x8) void {
            prefetch.blockAhead(group_block_bytes, src);
            const d8 = r8.scales8(src);
            const mask: U8x32 = @splat(0x0F);
            const plane: U8x32 = src[high_offset..][0..32].*;
            var isum: [ncols]I32x8 = @splat(@splat(0));
            var sum16: [ncols]I16x16 = undefined;
            inline for (0..4) |p| {
                const bytes: U8x32 = src[nibbles_offset + 32 * p ..][0..32].*;
                const lows = [2]U8x32{ bytes & mask, @as(U8x32, @bitCast(@as(@Vector(16, u16), @bitCast(bytes)) >> @splat(4))) & mask };
                inline for (0..2) |h| {
                    const m = 2 * p + h;
                    const codes = lows[h] | r8.highBits(plane, m);
                    inline for (0..ncols) |c| {
                        const prod = simd.mulAddBytes(codes, r8.broadcast4(q[c] + 4 * m));
                        sum16[c] = if (m % 4 == 0) prod else sum16[c] + prod;
                        if (m % 4 == 3) isum[c] += simd.mulAddPairs(sum16[c], ones);
                    }
                }
            }
            inline for (0..ncols) |c| {
                acc[c] = @mulAdd(F32x8, @floatFromInt(isum[c]), d8 * @as(F32x8, @splat(da[c])), acc[c]);
                off[c] = @mulAdd(F32x8, if (has_min) r8.scales8(src + 16) else d8, @splat(sa[c]), off[c]);
            }
        }

        pub inline fn groupSimd(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
            @setEvalBranchQuota(20000);
            const n_blocks = k / 32;
            const n_full = n_blocks / 4 * 4;
            var acc: [ncols]F32x8 = @splat(@splat(0));
            var off: [ncols]F32x8 = @splat(@splat(0));
            for (0..n_blocks) |b| {
                var q: [ncols][*]const u8 = undefined;
                var da: [ncols]f32 = undefined;
                var sa: [ncols]f32 = undefined;
                inline for (0..ncols) |c| {
                    const a = common.activationBlock(act + c * act_stride, b, n_full);
                    q[c] = @ptrCast(a.q);
                    da[c] = a.d;
                    sa[c] = a.s;
                }
                blockSimd(ncols, group + b * group_block_bytes, q, da, sa, &acc, &off);
            }
            inline for (0..ncols) |c| {
                const out: [group_rows]f32 = acc[c] + @as(F32x8, @splat(if (has_min) 1 else Base.offset)) * off[c];
                y[c * y_stride ..][0..group_rows].* = out;
            }
        }

        /// Scalar twin of groupSimd: each row's blocks rebuilt in the file layout, exact integer block
        /// sums of the decoded values.
        pub fn groupScalar(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
            r8.blockGroupScalar(Base, ncols, blockInFileLayout, group, act, act_stride, k, y, y_stride);
        }
    };
}

test "Q5_0 and Q5_1 r8 repacks round-trip; their row-range dots and GEMM tiles match the file rows'" {
    try r8_layout_test.expectLayoutMatchesFile(Q5_0, q5_0, .{ .k = 352, .file_type = 6, .seed = 29 });
    try r8_layout_test.expectLayoutMatchesFile(Q5_1, q5_1, .{ .k = 352, .file_type = 7, .seed = 30 });
}
