//! The r8 layout of Q8_0: 8 rows interleaved per block (r8.zig explains the idea and the
//! row-range contract). Q8_0 is llama.cpp's fallback for the 1408-wide `ffn_down_exps` that
//! Q6_K would get (every one of a Q6_K file, a third of a Q4_K_M file's), and the bulk of a Q8_0
//! file. A matrix keeps its bytes; its n mod 8 trailing rows keep the file layout. Block b of a
//! group (272 bytes = 8 × 34):
//!
//!     [0, 16)     d of rows 0..7 (fp16)
//!     [16, 272)   register m (0..7) at 16 + 32m: byte 4r + j = q(r, 4m + j)
//!
//! So register m holds elements 4m..4m+3 of every row (lane r), and one broadcast of 4 activation
//! bytes meets all 8 rows. The weights are signed, so the dots use the sign trick (|w| against
//! the activations carrying w's sign); the per-block scaling is one FMA for 8 rows instead of
//! one per row, and no horizontal sums remain. Prefill keeps the file layout's signed int16 tile
//! (gemm32.zig) over panels gathered from the groups: 2 multiply µops per 32 products against
//! the sign trick's 3.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const q8_0 = @import("q8_0.zig");
const block32 = @import("block32.zig");
const r8 = @import("r8.zig");
const r8_layout_test = @import("r8_layout_test.zig");
const gemm32 = @import("gemm32.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const ones: I16x16 = @splat(1);

pub const block_elements = 32;
pub const block_bytes = q8_0.block_bytes;
const group_rows = r8.group_rows;
const group_block_bytes = group_rows * block_bytes;
const codes_offset = 16;
const groupedRows = r8.groupedRows;

/// File layout → r8 layout for a matrix of `n_rows` rows of `k` elements (rows `row_bytes`
/// apart in both buffers).
pub fn repackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
    const nb = k / 32;
    var r0: usize = 0;
    while (r0 < groupedRows(n_rows)) : (r0 += group_rows) {
        for (0..nb) |b| {
            const out = dst + r0 * row_bytes + b * group_block_bytes;
            for (0..group_rows) |r| {
                const block = src + (r0 + r) * row_bytes + b * block_bytes;
                @memcpy(out[2 * r ..][0..2], block[0..2]);
                for (0..8) |m| @memcpy(out[codes_offset + 32 * m + 4 * r ..][0..4], block[2 + 4 * m ..][0..4]);
            }
        }
    }
    for (groupedRows(n_rows)..n_rows) |r| @memcpy(dst[r * row_bytes ..][0 .. nb * block_bytes], src[r * row_bytes ..][0 .. nb * block_bytes]);
}

/// Block b of row `lane` of the group at `group`, rebuilt in the file layout.
fn blockInFileLayout(group: [*]const u8, lane: usize, b: usize, block: *[block_bytes]u8) void {
    const src = group + b * group_block_bytes;
    @memcpy(block[0..2], src[2 * lane ..][0..2]);
    for (0..8) |m| @memcpy(block[2 + 4 * m ..][0..4], src[codes_offset + 32 * m + 4 * lane ..][0..4]);
}

/// r8 layout → file layout (the exact inverse of repackMatrix; tests).
pub fn unpackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
    r8.unpackGroups(block_elements, block_bytes, blockInFileLayout, src, dst, row_bytes, k, n_rows);
}

/// Dot products of a row range for 1..ncols_max activation rows, indexed by ncols − 1; the
/// n mod 8 trailing rows go through the file layout's dots.
pub const rows_dots = r8.rowsDots(@This(), q8_0.dots);

/// One block of a group against `ncols` activation blocks (quants at q[c], scales da[c]):
/// acc[c] lane r += d_r·da_c·Σ w_r·q_c.
inline fn blockSimd(comptime ncols: usize, src: [*]const u8, q: [ncols][*]const u8, da: [ncols]f32, acc: *[ncols]F32x8) void {
    var isum: [ncols]I32x8 = @splat(@splat(0));
    inline for (0..8) |m| {
        const w: I8x32 = @bitCast(src[codes_offset + 32 * m ..][0..32].*);
        const abs_w = @abs(w); // |−128| = 128 still fits u8: pairs stay within 2·128·127 < 2^15
        inline for (0..ncols) |c| {
            isum[c] += simd.mulAddPairs(simd.mulAddBytes(abs_w, block32.signBytes(r8.broadcast4(q[c] + 4 * m), w)), ones);
        }
    }
    const d8 = r8.scales8(src);
    inline for (0..ncols) |c| acc[c] = @mulAdd(F32x8, @floatFromInt(isum[c]), d8 * @as(F32x8, @splat(da[c])), acc[c]);
}

pub inline fn groupSimd(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    @setEvalBranchQuota(20000);
    const n_blocks = k / 32;
    const n_full = n_blocks / 4 * 4;
    var acc: [ncols]F32x8 = @splat(@splat(0));
    for (0..n_blocks) |b| {
        var q: [ncols][*]const u8 = undefined;
        var da: [ncols]f32 = undefined;
        inline for (0..ncols) |c| {
            const a = common.activationBlock(act + c * act_stride, b, n_full);
            q[c] = @ptrCast(a.q);
            da[c] = a.d;
        }
        blockSimd(ncols, group + b * group_block_bytes, q, da, &acc);
    }
    inline for (0..ncols) |c| y[c * y_stride ..][0..group_rows].* = acc[c];
}

/// Scalar twin of groupSimd: each row's blocks rebuilt in the file layout, exact integer block
/// sums.
pub fn groupScalar(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    r8.blockGroupScalar(q8_0, ncols, blockInFileLayout, group, act, act_stride, k, y, y_stride);
}

/// The file layout's signed GEMM tile (gemm32.zig) over panels gathered from r8 groups and file
/// rows.
pub const gemmTile = gemm32.Gemm(GemmDecoder).tile;
/// Below this many tokens the row-range dots beat the tile (quants.Traits.gemm_tokens_min). Per
/// core on 2048×1408, GOP/s, tile against dots: 61/98 at t=8, 92/98 at 32, 96/97 at 64, 101/96
/// at 128, 104/95 at 512 (the file layout's tile: 103).
pub const gemm_tokens_min = 128;

const GemmDecoder = struct {
    pub const unsigned_quants = false;
    pub const offset = q8_0.offset;
    pub const unsigned_shift = 0;

    /// Blocks b0..b0+q.len of row r of the matrix at w (n_rows rows `row_bytes` apart).
    pub fn decodeRowBlocks(w: [*]const u8, row_bytes: usize, n_rows: usize, r: usize, n_blocks: usize, b0: usize, q: [][32]u8, d: []f32, off: []f32) void {
        if (r >= groupedRows(n_rows)) return q8_0.gemmDecoder.decodeBlocks(w + r * row_bytes, n_blocks, b0, q, d, off);
        const group = w + (r / group_rows) * group_rows * row_bytes;
        const lane = r % group_rows;
        for (q, d, off, b0..) |*out, *scale, *offset_mult, b| {
            // Both paths copy bytes: word m of the row's block is its 4 bytes of register m.
            var block: [block_bytes]u8 = undefined;
            blockInFileLayout(group, lane, b, &block);
            scale.* = q8_0.scale(&block);
            offset_mult.* = 0;
            out.* = block[2..34].*;
        }
    }
};

test "Q8_0 r8 repack round-trips; its row-range dots and GEMM tile match the file rows'" {
    try r8_layout_test.expectLayoutMatchesFile(@This(), q8_0, .{ .k = 352, .file_type = 8, .seed = 37, .scramble = withMinus128 });
}

/// −128 in every block, which the reference quantizer never writes but a file may hold.
fn withMinus128(random: std.Random, block: []u8) void {
    block[2 + random.uintLessThan(usize, 32)] = 0x80;
}
