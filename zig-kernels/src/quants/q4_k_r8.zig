//! The r8 layout of Q4_K: 8 rows interleaved per super-block (r8.zig explains the idea and the
//! row-range contract), so one vpmaddubsw meets 8 rows, sub-block sums stay in 16 bits until one
//! vpmaddwd weights them by the 8 rows' scales, and a super-block ends in one FMA for 8 rows.
//! Prefill runs the same dots, 4 tokens per unpacked sub-block (code_sums.zig's asm).
//! A matrix keeps its bytes; its n mod 8 trailing rows keep the file layout. Super-block b of a
//! group (1152 bytes = 8 × 144):
//!
//!     [0, 16)      d of rows 0..7 (fp16)
//!     [16, 32)     dmin of rows 0..7 (fp16)
//!     [32, 64)     scales, low 4 bits: byte i = lo4(S[i]) | lo4(S[32 + i]) << 4
//!     [64, 96)     mins, low 4 bits, the same way from M
//!     [96, 128)    top 2 bits: byte i = hi2(S[i]) | hi2(S[32+i]) << 2 | hi2(M[i]) << 4 | hi2(M[32+i]) << 6
//!     [128, 1152)  codes: sub-block pair j (0..3), piece p (0..7) at 128 + 256j + 32p:
//!                  byte 4r + e = code(r, 2j, 4p + e) | code(r, 2j + 1, 4p + e) << 4
//!
//! where S and M hold row r's 6-bit scale and min of sub-block s at index
//! 32·(s / 4) + 16·(r / 4) + 4·(s mod 4) + r mod 4: 128-bit lane h of each 32-byte half holds rows
//! 4h..4h+3, so one in-lane vpshufb builds a sub-block's scale vector for all 8 rows. The 12
//! packed bytes of 8 rows (96) are exactly these 96 bytes, so the layout keeps the file's size.
const std = @import("std");
const simd = @import("../simd.zig");
const common = @import("common.zig");
const q4_k = @import("q4_k.zig");
const kblock = @import("kblock.zig");
const gemm_k = @import("gemm_k.zig");
const r8 = @import("r8.zig");
const prefetch = @import("prefetch.zig");
const r8_layout_test = @import("r8_layout_test.zig");
const code_sums = @import("code_sums.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const U8x32 = simd.U8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;

pub const block_elements = 256;
pub const block_bytes = 144;
const group_rows = r8.group_rows;
const group_block_bytes = group_rows * block_bytes;
const codes_offset = 128;

/// Where row r's scale (or min) of sub-block s sits in S (or M).
pub inline fn scaleIndex(s: usize, r: usize) usize {
    return 32 * (s / 4) + 16 * (r / 4) + 4 * (s % 4) + r % 4;
}

const groupedRows = r8.groupedRows;

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
            repackHeader(out, blocks);
            for (blocks, 0..) |w, r| for (0..4) |j| for (0..8) |p| for (0..4) |e| {
                out[codes_offset + 256 * j + 32 * p + 4 * r + e] = w[16 + 32 * j + 4 * p + e];
            };
        }
    }
    for (groupedRows(n_rows)..n_rows) |r| @memcpy(dst[r * row_bytes ..][0 .. nb * block_bytes], src[r * row_bytes ..][0 .. nb * block_bytes]);
}

/// The group header [0, 128) from 8 file super-blocks whose first 16 bytes are d, dmin and the
/// packed 6-bit scales and mins (Q4_K's and Q5_K's alike).
pub fn repackHeader(out: [*]u8, blocks: [group_rows][*]const u8) void {
    var s_bytes: [64]u8 = undefined;
    var m_bytes: [64]u8 = undefined;
    for (blocks, 0..) |w, r| {
        @memcpy(out[2 * r ..][0..2], w[0..2]);
        @memcpy(out[16 + 2 * r ..][0..2], w[2..4]);
        for (0..8) |s| {
            const sm = kblock.scaleMin(w[4..16], s);
            s_bytes[scaleIndex(s, r)] = sm.sc;
            m_bytes[scaleIndex(s, r)] = sm.m;
        }
    }
    for (0..32) |i| {
        out[32 + i] = (s_bytes[i] & 15) | (s_bytes[32 + i] & 15) << 4;
        out[64 + i] = (m_bytes[i] & 15) | (m_bytes[32 + i] & 15) << 4;
        out[96 + i] = (s_bytes[i] >> 4) | (s_bytes[32 + i] >> 4) << 2 | (m_bytes[i] >> 4) << 4 | (m_bytes[32 + i] >> 4) << 6;
    }
}

/// Row `lane`'s d, dmin and packed scales (a file super-block's first 16 bytes) from the group
/// header at src.
pub fn headerInFileLayout(src: [*]const u8, lane: usize, out: *[16]u8) void {
    @memcpy(out[0..2], src[2 * lane ..][0..2]);
    @memcpy(out[2..4], src[16 + 2 * lane ..][0..2]);
    var sc: [8]u8 = undefined;
    var m: [8]u8 = undefined;
    for (0..8) |s| {
        const i = scaleIndex(s, lane);
        const low = i % 32;
        const half: u3 = @intCast(i / 32); // 0: low nibble / bits 0-1; 1: high nibble / bits 2-3
        sc[s] = ((src[32 + low] >> (4 * half)) & 15) | ((src[96 + low] >> (2 * half)) & 3) << 4;
        m[s] = ((src[64 + low] >> (4 * half)) & 15) | ((src[96 + low] >> (4 + 2 * half)) & 3) << 4;
    }
    kblock.packScaleMin(sc, m, out[4..16]);
}

/// Super-block b of row `lane` of the group at `group`, rebuilt in the file layout.
fn blockInFileLayout(group: [*]const u8, lane: usize, b: usize, out: *[block_bytes]u8) void {
    const src = group + b * group_block_bytes;
    headerInFileLayout(src, lane, out[0..16]);
    for (0..4) |j| for (0..8) |p| for (0..4) |e| {
        out[16 + 32 * j + 4 * p + e] = src[codes_offset + 256 * j + 32 * p + 4 * lane + e];
    };
}

/// r8 layout → file layout (the inverse of repackMatrix; tests).
pub fn unpackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
    r8.unpackGroups(block_elements, block_bytes, blockInFileLayout, src, dst, row_bytes, k, n_rows);
}

/// Row-range dot products for 1..ncols_max activation rows, indexed by ncols − 1; the trailing
/// rows keep the file layout and Q4_K's own dots.
pub const rows_dots = r8.rowsDots(@This(), q4_k.dots);

const zero_byte: i8 = -128; // top bit set: vpshufb writes 0

/// vpshufb indices over S (or M) halves: row r's value of sub-block s (mod 4) in 16-bit lanes
/// 2r and 2r+1 (r mod 4 within each 128-bit lane), the layout vpmaddwd leaves code sums in.
pub const scale_index: [4]I8x32 = blk: {
    var out: [4]I8x32 = undefined;
    for (0..4) |s| {
        var idx: [32]i8 = undefined;
        for (0..32) |byte| {
            const w = (byte % 16) / 2; // 16-bit lane within the 128-bit lane
            idx[byte] = if (byte % 2 == 1) zero_byte else @intCast(4 * s + w / 2);
        }
        out[s] = idx;
    }
    break :blk out;
};

/// vpshufb indices over M halves: row r's mins of sub-blocks 2j and 2j+1 (mod 4) as the 16-bit
/// pair in 32-bit lane r, to meet the activation sums (B_2j, B_2j+1) in one vpmaddwd.
pub const min_pair_index: [2]I8x32 = blk: {
    var out: [2]I8x32 = undefined;
    for (0..2) |j| {
        var idx: [32]i8 = undefined;
        for (0..32) |byte| {
            const w = (byte % 16) / 2;
            idx[byte] = if (byte % 2 == 1) zero_byte else @intCast(4 * (2 * j + w % 2) + w / 2);
        }
        out[j] = idx;
    }
    break :blk out;
};

const scales8 = r8.scales8;
/// S and M of one group super-block: [S[0..32), S[32..64), M[0..32), M[32..64)].
pub inline fn unpackScales(src: [*]const u8) [4]U8x32 {
    const m4: U8x32 = @splat(15);
    const m2: U8x32 = @splat(3);
    const lo_s: U8x32 = src[32..64].*;
    const lo_m: U8x32 = src[64..96].*;
    const hi: U8x32 = src[96..128].*;
    return .{
        (lo_s & m4) | ((hi & m2) << @splat(4)),
        ((lo_s >> @splat(4)) & m4) | (((hi >> @splat(2)) & m2) << @splat(4)),
        (lo_m & m4) | (((hi >> @splat(4)) & m2) << @splat(4)),
        ((lo_m >> @splat(4)) & m4) | ((hi >> @splat(6)) << @splat(4)),
    };
}

const broadcast4 = r8.broadcast4;
/// The activation sums of sub-blocks 2j and 2j+1 as one 16-bit pair in every 32-bit lane.
pub inline fn bsumPair(a: *align(1) const common.BlockQ8K, j: usize) I16x16 {
    const lo: i16 = a.bsums[4 * j] + a.bsums[4 * j + 1];
    const hi: i16 = a.bsums[4 * j + 2] + a.bsums[4 * j + 3];
    const word: u32 = @as(u32, @as(u16, @bitCast(lo))) | @as(u32, @as(u16, @bitCast(hi))) << 16;
    const words: @Vector(8, u32) = @splat(word);
    return @bitCast(words);
}

/// Row r's scale of sub-block s in 16-bit lanes 2r and 2r+1, from unpackScales' halves
/// (q5_k_r8.zig's too).
pub inline fn subBlockScales(halves: [4]U8x32, s: usize) I16x16 {
    return @bitCast(simd.shuffleBytes(@bitCast(halves[s / 4]), scale_index[s % 4]));
}

/// The group's dots: 2 to 4 tokens through code_sums' asm, one sub-block at a time; one
/// token in Zig.
pub inline fn groupSimd(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    @setEvalBranchQuota(20000);
    const n_supers = k / 256;
    const m4: U8x32 = @splat(15);
    var acc: [ncols]F32x8 = @splat(@splat(0));
    for (0..n_supers) |b| {
        const src = group + b * group_block_bytes;
        const halves = unpackScales(src);
        var a: [ncols]*align(1) const common.BlockQ8K = undefined;
        inline for (0..ncols) |c| a[c] = common.q8k(act + c * act_stride + b * @sizeOf(common.BlockQ8K));
        var isum: [ncols]I32x8 = @splat(@splat(0));
        var msum: [ncols]I32x8 = @splat(@splat(0));
        inline for (0..4) |j| {
            // A quarter of the super-block's stream per pair: a burst of 18 lines ran slower.
            prefetch.blockAhead(group_block_bytes / 4, src + j * group_block_bytes / 4);
            // Sub-blocks 2j and 2j+1 are the low and high nibbles of pair j's 8 pieces.
            if (ncols == 1) {
                // One token: each piece loaded once for both sub-blocks, whose 16-bit sums
                // (≤ 8·2·15·127 < 2^15) are weighted by the rows' scales in one vpmaddwd each.
                // (The asm below unpacks per sub-block: 88 against 112 GOP/s here.)
                var sum16: [2]I16x16 = .{ @splat(0), @splat(0) };
                inline for (0..8) |p| {
                    const bytes: U8x32 = src[codes_offset + 256 * j + 32 * p ..][0..32].*;
                    const codes = [2]U8x32{ bytes & m4, (bytes >> @splat(4)) & m4 };
                    inline for (0..2) |h| sum16[h] += simd.mulAddBytes(codes[h], broadcast4(@ptrCast(a[0].q[32 * (2 * j + h) + 4 * p ..])));
                }
                inline for (0..2) |h| isum[0] += simd.mulAddPairs(sum16[h], subBlockScales(halves, 2 * j + h));
            } else inline for (0..2) |h| {
                const s = 2 * j + h;
                var q: [ncols][*]const u8 = undefined;
                inline for (0..ncols) |c| q[c] = @ptrCast(a[c].q[32 * s ..]);
                const scales = [1]I16x16{subBlockScales(halves, s)};
                code_sums.subBlockSums(code_sums.NibbleCodes(h == 1), ncols, 8, 1, src + codes_offset + 256 * j, q, &scales, &isum);
            }
            const mins: I16x16 = @bitCast(simd.shuffleBytes(@bitCast(halves[2 + j / 2]), min_pair_index[j % 2]));
            inline for (0..ncols) |c| msum[c] += simd.mulAddPairs(mins, bsumPair(a[c], j));
        }
        accumulateSuper(ncols, src, a, isum, msum, &acc);
    }
    inline for (0..ncols) |c| y[c * y_stride ..][0..group_rows].* = acc[c];
}

/// acc[c] lane r += da_c·(d_r·isum[c] − dmin_r·msum[c]) for one group super-block at src:
/// its 8 rows' code sums and min sums against activation row c (q5_k_r8.zig shares it).
pub inline fn accumulateSuper(comptime ncols: usize, src: [*]const u8, a: [ncols]*align(1) const common.BlockQ8K, isum: [ncols]I32x8, msum: [ncols]I32x8, acc: *[ncols]F32x8) void {
    const d8 = scales8(src);
    const dmin8 = scales8(src + 16);
    inline for (0..ncols) |c| {
        const da: F32x8 = @splat(a[c].d);
        acc[c] = @mulAdd(F32x8, @floatFromInt(isum[c]), d8 * da, acc[c]);
        acc[c] = @mulAdd(F32x8, -@as(F32x8, @floatFromInt(msum[c])), dmin8 * da, acc[c]);
    }
}

/// Scalar twin: each row's super-blocks rebuilt in the file layout, then Q4_K's scalar dot.
pub fn groupScalar(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    r8.superGroupScalar(ncols, block_bytes, blockInFileLayout, q4_k.dotScalar, group, act, act_stride, k, y, y_stride);
}

// No GEMM tile: the dots, 4 tokens per decoded sub-block, beat gemm_k's at every token count
// (per core on 2048×1408 at t=512: 142–147 against 127–129 GOP/s).

/// Row `lane`'s d, dmin and per-group scales and mins from the group header at src, as
/// gemm_k.Super holds them (q5_k_r8.zig's GEMM decoder).
pub fn decodeHeaderRow(src: [*]const u8, lane: usize, out: *gemm_k.Super) void {
    out.d = common.f16At(src + 2 * lane);
    out.dmin = common.f16At(src + 16 + 2 * lane);
    const halves: [4][32]u8 = @bitCast(unpackScales(src));
    for (0..8) |sub| {
        const i = scaleIndex(sub, lane);
        out.sc[2 * sub] = halves[i / 32][i % 32];
        out.sc[2 * sub + 1] = out.sc[2 * sub];
        out.m[2 * sub] = halves[2 + i / 32][i % 32];
        out.m[2 * sub + 1] = out.m[2 * sub];
    }
}

test "Q4_K r8 round-trips; its row-range dots match the file rows'" {
    try r8_layout_test.expectLayoutMatchesFile(@This(), q4_k, .{ .k = 768, .file_type = 12, .seed = 29, .scramble = randomScales });
}

/// Random scale bytes, so every 6-bit pattern of the packing is exercised.
fn randomScales(random: std.Random, block: []u8) void {
    random.bytes(block[4..16]);
}
