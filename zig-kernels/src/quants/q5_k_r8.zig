//! The r8 layout of Q5_K (the bulk of a Q5_K_M file): q4_k_r8.zig's layout with each sub-block
//! pair's fifth bits in two planes right after its nibbles, so the kernel reads one stream.
//! Super-block b of a group (1408 bytes = 8 × 176):
//!
//!     [0, 128)      q4_k_r8.zig's header: d, dmin, the 8 rows' 6-bit scales and mins
//!     [128, 1408)   sub-block pair j (0..3) at 128 + 320j:
//!                   [0, 256)   nibbles, as q4_k_r8.zig's pieces: piece p (0..7) at 32p,
//!                              byte 4r + e = lo4(code(r, 2j, 4p + e)) | lo4(code(r, 2j + 1, 4p + e)) << 4
//!                   [256, 320) fifth bits, plane h (sub-block 2j + h) at 256 + 32h:
//!                              byte 4r + e, bit p = bit 4 of code(r, 2j + h, 4p + e)
//!
//! Register p of a sub-block gets its fifth bits with one 16-bit shift and one mask
//! (r8.highBits). Codes ≤ 31, so 4 vpmaddubsw sums stay in 16 bits (4·2·31·128 < 2^15): each
//! sub-block takes two vpmaddwd with its 8 rows' scales, where Q4_K takes one.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const q5_k = @import("q5_k.zig");
const kblock = @import("kblock.zig");
const gemm_k = @import("gemm_k.zig");
const r8 = @import("r8.zig");
const prefetch = @import("prefetch.zig");
const r8_layout_test = @import("r8_layout_test.zig");
const k_header = @import("q4_k_r8.zig");
const code_sums = @import("code_sums.zig");

const F32x8 = simd.F32x8;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;

pub const block_elements = 256;
pub const block_bytes = q5_k.block_bytes;
const group_rows = r8.group_rows;
const group_block_bytes = group_rows * block_bytes;
const pairs_offset = 128;
const pair_bytes = 320;
const planes_offset = 256;
const groupedRows = r8.groupedRows;

comptime {
    std.debug.assert(pairs_offset + 4 * pair_bytes == group_block_bytes);
}

/// File layout → r8 layout for a matrix of `n_rows` rows of `k` elements (rows `row_bytes`
/// apart in both buffers).
pub fn repackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
    const nb = k / 256;
    var r0: usize = 0;
    while (r0 < groupedRows(n_rows)) : (r0 += group_rows) {
        for (0..nb) |b| {
            const out = dst + r0 * row_bytes + b * group_block_bytes;
            var blocks: [group_rows][*]const u8 = undefined;
            for (&blocks, 0..) |*w, r| w.* = src + (r0 + r) * row_bytes + b * block_bytes;
            k_header.repackHeader(out, blocks);
            for (0..4) |j| @memset(out[pairs_offset + pair_bytes * j + planes_offset ..][0..64], 0);
            for (blocks, 0..) |w, r| for (0..4) |j| for (0..8) |p| for (0..4) |e| {
                const l = 4 * p + e;
                const pair = out + pairs_offset + pair_bytes * j;
                pair[32 * p + 4 * r + e] = w[48 + 32 * j + l];
                for (0..2) |h| pair[planes_offset + 32 * h + 4 * r + e] |= ((w[16 + l] >> @intCast(2 * j + h)) & 1) << @intCast(p);
            };
        }
    }
    for (groupedRows(n_rows)..n_rows) |r| @memcpy(dst[r * row_bytes ..][0 .. nb * block_bytes], src[r * row_bytes ..][0 .. nb * block_bytes]);
}

/// Super-block b of row `lane` of the group at `group`, rebuilt in the file layout.
fn blockInFileLayout(group: [*]const u8, lane: usize, b: usize, out: *[block_bytes]u8) void {
    const src = group + b * group_block_bytes;
    k_header.headerInFileLayout(src, lane, out[0..16]);
    @memset(out[16..48], 0);
    for (0..4) |j| for (0..8) |p| for (0..4) |e| {
        const l = 4 * p + e;
        const pair = src + pairs_offset + pair_bytes * j;
        out[48 + 32 * j + l] = pair[32 * p + 4 * lane + e];
        for (0..2) |h| out[16 + l] |= ((pair[planes_offset + 32 * h + 4 * lane + e] >> @intCast(p)) & 1) << @intCast(2 * j + h);
    };
}

/// r8 layout → file layout (the inverse of repackMatrix; tests).
pub fn unpackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
    r8.unpackGroups(block_elements, block_bytes, blockInFileLayout, src, dst, row_bytes, k, n_rows);
}

/// Row-range dot products for 1..ncols_max activation rows, indexed by ncols − 1; the trailing
/// rows keep the file layout and Q5_K's own dots.
pub const rows_dots = r8.rowsDots(@This(), q5_k.dots);

/// Sub-block h of a pair at %[src] for code_sums: register p is the low (h = 0) or high nibbles
/// of piece p with the fifth bit from plane h (r8.highBits, in asm).
fn FifthBitCodes(comptime h: usize) type {
    return struct {
        pub fn text(comptime p: usize) []const u8 {
            const plane = planes_offset + 32 * h;
            // (An immediate shift from memory would be EVEX-encoded: AVX-512, off here.)
            const fifth = std.fmt.comptimePrint("vmovdqu {d}(%[src]), %[t]\n", .{plane}) ++ if (p < 4)
                std.fmt.comptimePrint("vpsllw ${d}, %[t], %[t]\n", .{4 - p})
            else if (p > 4)
                std.fmt.comptimePrint("vpsrlw ${d}, %[t], %[t]\n", .{p - 4})
            else
                "";
            return code_sums.NibbleCodes(h == 1).text(p) ++ fifth ++ std.fmt.comptimePrint(
                \\vpand 32(%[masks]), %[t], %[t]
                \\vpor %[t], %[c{d}], %[c{d}]
                \\
            , .{ p, p });
        }
    };
}

/// The group's dots: 2 to 4 tokens through code_sums' asm, one sub-block at a time; one token
/// in Zig.
pub inline fn groupSimd(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    @setEvalBranchQuota(20000);
    const n_supers = k / 256;
    const m4: U8x32 = @splat(15);
    var acc: [ncols]F32x8 = @splat(@splat(0));
    for (0..n_supers) |b| {
        const src = group + b * group_block_bytes;
        prefetch.blockAhead(group_block_bytes, src);
        const halves = k_header.unpackScales(src);
        var a: [ncols]*align(1) const common.BlockQ8K = undefined;
        inline for (0..ncols) |c| a[c] = common.q8k(act + c * act_stride + b * @sizeOf(common.BlockQ8K));
        var isum: [ncols]I32x8 = @splat(@splat(0));
        var msum: [ncols]I32x8 = @splat(@splat(0));
        inline for (0..4) |j| {
            const pair = src + pairs_offset + pair_bytes * j;
            const sc = [2]I16x16{ k_header.subBlockScales(halves, 2 * j), k_header.subBlockScales(halves, 2 * j + 1) };
            if (ncols == 1) {
                // One token: each piece loaded once for both sub-blocks. Pieces 0..3 and 4..7
                // of each sub-block: byte products summed in 16 bits, then weighted by the rows'
                // scales.
                const planes = [2]U8x32{ pair[planes_offset..][0..32].*, pair[planes_offset + 32 ..][0..32].* };
                var sum16: [2]I16x16 = undefined;
                inline for (0..8) |p| {
                    const bytes: U8x32 = pair[32 * p ..][0..32].*;
                    const nibbles = [2]U8x32{ bytes & m4, (bytes >> @splat(4)) & m4 };
                    inline for (0..2) |h| {
                        const codes = nibbles[h] | r8.highBits(planes[h], p);
                        const prod = simd.mulAddBytes(codes, r8.broadcast4(@ptrCast(a[0].q[32 * (2 * j + h) + 4 * p ..])));
                        sum16[h] = if (p % 4 == 0) prod else sum16[h] + prod;
                        if (p % 4 == 3) isum[0] += simd.mulAddPairs(sum16[h], sc[h]);
                    }
                }
            } else inline for (0..2) |h| {
                // 2 to 4 tokens: one sub-block at a time through code_sums' asm.
                var q: [ncols][*]const u8 = undefined;
                inline for (0..ncols) |c| q[c] = @ptrCast(a[c].q[32 * (2 * j + h) ..]);
                code_sums.subBlockSums(FifthBitCodes(h), ncols, 4, 1, pair, q, sc[h..][0..1], &isum);
            }
            const mins: I16x16 = @bitCast(simd.shuffleBytes(@bitCast(halves[2 + j / 2]), k_header.min_pair_index[j % 2]));
            inline for (0..ncols) |c| msum[c] += simd.mulAddPairs(mins, k_header.bsumPair(a[c], j));
        }
        k_header.accumulateSuper(ncols, src, a, isum, msum, &acc);
    }
    inline for (0..ncols) |c| y[c * y_stride ..][0..group_rows].* = acc[c];
}

/// Scalar twin: each row's super-blocks rebuilt in the file layout, then Q5_K's scalar dot.
pub fn groupScalar(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    r8.superGroupScalar(ncols, block_bytes, blockInFileLayout, q5_k.dotScalar, group, act, act_stride, k, y, y_stride);
}

/// The GEMM tile kernel (gemm_k.zig) over super-blocks decoded from r8 groups and file rows.
pub const gemmTile = gemm_k.GemmK(GemmDecoder).tile;
/// Below this many tokens the row-range dots beat the tile (quants.Traits.gemm_tokens_min). Per
/// core on 2048×1408, GOP/s, tile against dots: 67/111 at t=8, 91/112 at 16, 111/113 at 32,
/// 125/114 at 64, 127/– at 512 (the file layout's tile: 130).
pub const gemm_tokens_min = 48;

const GemmDecoder = struct {
    pub const block_bytes = q5_k.block_bytes;
    pub const group_scales = false;
    const File = kblock.SuperDecoder(q5_k);

    /// Super-block s of row r of the `n_rows` rows at w.
    pub fn decodeRowSuper(w: [*]const u8, row_bytes: usize, n_rows: usize, r: usize, s: usize, out: *gemm_k.Super) void {
        if (r >= groupedRows(n_rows)) return File.decodeSuper(w + r * row_bytes + s * q5_k.block_bytes, out);
        const group = w + (r / group_rows) * group_rows * row_bytes;
        const lane = r % group_rows;
        if (!cpu_path.simd()) {
            var block: [q5_k.block_bytes]u8 = undefined;
            blockInFileLayout(group, lane, s, &block);
            return File.decodeSuper(&block, out);
        }
        const src = group + s * group_block_bytes;
        k_header.decodeHeaderRow(src, lane, out);
        // Row `lane`'s 4 bytes of each piece of pair j are its elements 4p..4p+3 of sub-blocks
        // 2j (low nibbles) and 2j+1 (high nibbles); its 4 bytes of each plane their fifth bits.
        for (0..4) |j| {
            const pair = src + pairs_offset + pair_bytes * j;
            var words: @Vector(8, u32) = undefined;
            inline for (0..8) |p| words[p] = std.mem.readInt(u32, pair[32 * p + 4 * lane ..][0..4], .little);
            const bytes: U8x32 = @bitCast(words);
            out.u[2 * j] = (bytes & @as(U8x32, @splat(15))) | r8.rowHighBits(pair[planes_offset + 4 * lane ..][0..4].*);
            out.u[2 * j + 1] = (bytes >> @splat(4)) | r8.rowHighBits(pair[planes_offset + 32 + 4 * lane ..][0..4].*);
        }
    }
};

test "Q5_K r8 round-trips; its row-range dots and GEMM match the file rows'" {
    try r8_layout_test.expectLayoutMatchesFile(@This(), q5_k, .{ .k = 768, .file_type = 13, .seed = 41, .scramble = randomScalesAndFifthBits });
}

/// Random scale and fifth-bit bytes, so every bit of the packing is exercised.
fn randomScalesAndFifthBits(random: std.Random, block: []u8) void {
    random.bytes(block[4..48]);
}
