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
//! one per row, and no horizontal sums remain.
//!
//! Prefill (gemmTile) decodes each group once per K slice into |w| and sign masks, then meets 8
//! tokens per panel load with the sign-xor trick (blockSums): vpxor instead of vpsignb, so 2
//! multiply-pipe µops per 32 products, as many as the int8 peak's, where the sign trick needs 3
//! and int16 widening (gemm32.zig's signed tile, which this layout used before) needs 2 plus
//! 2.5 broadcast loads.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const q8_0 = @import("q8_0.zig");
const block32 = @import("block32.zig");
const r8 = @import("r8.zig");
const prefetch = @import("prefetch.zig");
const r8_layout_test = @import("r8_layout_test.zig");
const quants = @import("quants.zig");
const sign_xor_tile = @import("sign_xor_tile.zig");

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
    prefetch.blockAhead(group_block_bytes, src);
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

/// Block b of the group at `group` as 8 signed registers and the rows' scales
/// (sign_xor_tile.Tile): the layout's registers as stored.
pub inline fn decodeBlock(group: [*]const u8, _: usize, b: usize, w: *[8]I8x32) F32x8 {
    const src = group + b * group_block_bytes;
    inline for (w, 0..) |*reg, m| reg.* = @bitCast(src[codes_offset + 32 * m ..][0..32].*);
    return r8.scales8(src);
}

/// Prefill: sign_xor_tile.zig. Per core on 2048×1408 at t=512, 114–118 GOP/s against the
/// dots' 98–104 (and the file layout's int16 tile's 103); at t=16, 111 against 98.
pub const gemmTile = sign_xor_tile.Tile(@This()).gemmTile;
/// Below this many tokens the row-range dots beat the tile (quants.Traits.gemm_tokens_min).
pub const gemm_tokens_min = 16;

test "Q8_0 r8 repack round-trips; its row-range dots and GEMM tile match the file rows'" {
    try r8_layout_test.expectLayoutMatchesFile(@This(), q8_0, .{ .k = 352, .file_type = 8, .seed = 37, .scramble = withMinus128 });
}

/// −128 in every block, which the reference quantizer never writes but a file may hold.
fn withMinus128(random: std.Random, block: []u8) void {
    block[2 + random.uintLessThan(usize, 32)] = 0x80;
}

test "Q8_0 r8 tile: several K slices (43 blocks), two token groups (263 tokens) and trailing rows match the file dots" {
    const k = 43 * 32;
    const n = 19;
    const t = 263;
    const traits = quants.traits(8).?;
    const row_bytes = traits.rowBytes(k);
    const allocator = std.testing.allocator;
    var prng = std.Random.DefaultPrng.init(72);
    const random = prng.random();
    const x = try allocator.alloc(f32, k);
    defer allocator.free(x);
    const file = try allocator.alloc(u8, n * row_bytes);
    defer allocator.free(file);
    for (0..n) |r| {
        for (x) |*v| v.* = random.floatNorm(f32);
        traits.quantizeRow(x, file[r * row_bytes ..].ptr);
    }
    const packed_m = try allocator.alloc(u8, n * row_bytes);
    defer allocator.free(packed_m);
    repackMatrix(file.ptr, packed_m.ptr, row_bytes, k, n);
    const act_row = traits.activation.rowBytes(k);
    const acts = try allocator.alloc(u8, t * act_row);
    defer allocator.free(acts);
    for (0..t) |c| {
        for (x) |*v| v.* = random.floatNorm(f32);
        traits.activation.quantizeRow(x, acts[c * act_row ..].ptr);
    }
    const y = try allocator.alloc(f32, t * n);
    defer allocator.free(y);
    gemmTile(packed_m.ptr, row_bytes, n, acts.ptr, act_row, t, k, y.ptr, n);
    // Judge: Σ_b d_b·da_b·(exact integer block sum) in f64. The f32 kernel rounds each scale
    // product and each accumulation once, so it lies within (nb + 1)·2⁻²⁴·Σ_b |term_b| of it.
    const nb = k / 32;
    for (0..n) |r| {
        for (0..t) |c| {
            var want: f64 = 0;
            var magnitude: f64 = 0;
            for (0..nb) |b| {
                const block = file[r * row_bytes + b * block_bytes ..];
                const a = common.activationBlock(acts[c * act_row ..].ptr, b, nb / 4 * 4);
                var isum: i32 = 0;
                for (0..32) |e| isum += @as(i32, @as(i8, @bitCast(block[2 + e]))) * a.q[e];
                const term = @as(f64, q8_0.scale(block[0..block_bytes])) * a.d * @as(f64, @floatFromInt(isum));
                want += term;
                magnitude += @abs(term);
            }
            const bound = @as(f64, @floatFromInt(nb + 1)) * std.math.pow(f64, 2, -24) * magnitude;
            try std.testing.expectApproxEqAbs(want, @as(f64, y[c * n + r]), bound);
        }
    }
}
