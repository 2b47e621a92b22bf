//! The r8 layout of Q6_K: 8 rows interleaved per super-block (r8.zig explains the idea and the
//! row-range contract). Code register m (m = 0..63) holds elements 4m..4m+3 of each of the 8
//! rows (bytes 4r..4r+3 for row r), so one 4-byte activation broadcast meets all 8 rows in one
//! vpmaddubsw, and the 16-element groups' int8 scales weight the 8 rows' sums in one vpmaddwd.
//! A matrix keeps its bytes; its n mod 8 trailing rows keep the file layout. Super-block b of a
//! group (1680 bytes = 8 × 210):
//!
//!     [0, 16)       d of rows 0..7 (fp16)
//!     [16, 144)     scales, 16 bytes per group pair P (groups 2P, 2P+1): byte 8h + 4s + r mod 4
//!                   = scale of row 4h + r mod 4 in group 2P + s, so one sign extension to
//!                   16 bits puts rows 0..3 in the low 128-bit lane and rows 4..7 in the high
//!                   one, where in-lane vpshufb builds each group's 8-row scale vector
//!     [144, 1680)   16 groups of 96 bytes, in the order the kernel reads them (from DRAM,
//!                   one stream: with the low and high planes apart the GEMV ran at half speed):
//!                   [0, 64)  low nibbles: register Q (32 bytes) holds code registers 2Q (low
//!                            nibble) and 2Q + 1 (high nibble), Q = 2g, 2g + 1
//!                   [64, 96) high 2-bit pairs of code registers 4g + j at bits 4–5 (j = 0),
//!                            6–7 (1), 0–1 (2), 2–3 (3), so each is one 16-bit shift (none for
//!                            j = 0) and one mask 0x30 from its place in the code
//!
//! Two vpmaddubsw results stay in 16 bits (63·127·2·2 < 2^15) before the group's vpmaddwd; the
//! −32 offset is Σ 32·scale·bsum per group pair, one more vpmaddwd against the Q8_K sums.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const q6_k = @import("q6_k.zig");
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
pub const block_bytes = q6_k.block_bytes;
const group_rows = r8.group_rows;
const group_block_bytes = group_rows * block_bytes;
const scales_offset = 16;
const codes_offset = 144;
const code_group_bytes = 96;
/// Where code register 4g + j's high pair sits in byte 4r + e of high register g.
const high_shift = [4]u3{ 4, 6, 0, 2 };

comptime {
    std.debug.assert(codes_offset + 16 * code_group_bytes == group_block_bytes);
}

/// Offset of low-nibble register Q (code registers 2Q, 2Q + 1) in a group super-block.
inline fn lowAt(q: usize) usize {
    return codes_offset + code_group_bytes * (q / 2) + 32 * (q % 2);
}

/// Offset of group g's high-pair register (code registers 4g..4g+3).
inline fn highAt(g: usize) usize {
    return codes_offset + code_group_bytes * g + 64;
}

/// Byte of the scales area holding row r's scale of group g.
inline fn scaleByte(g: usize, r: usize) usize {
    return scales_offset + 16 * (g / 2) + 8 * (r / 4) + 4 * (g % 2) + r % 4;
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
            @memset(out[codes_offset..group_block_bytes], 0);
            for (0..group_rows) |r| {
                const w = src + (r0 + r) * row_bytes + b * block_bytes;
                @memcpy(out[2 * r ..][0..2], w[208..210]);
                for (0..16) |g| out[scaleByte(g, r)] = w[192 + g];
                for (0..256) |e| {
                    const code: u8 = @intCast(q6_k.quant(w, e) + 32);
                    const m = e / 4;
                    const byte = 4 * r + e % 4;
                    out[lowAt(m / 2) + byte] |= (code & 15) << @intCast(4 * (m % 2));
                    out[highAt(m / 4) + byte] |= (code >> 4) << high_shift[m % 4];
                }
            }
        }
    }
    for (groupedRows(n_rows)..n_rows) |r| @memcpy(dst[r * row_bytes ..][0 .. nb * block_bytes], src[r * row_bytes ..][0 .. nb * block_bytes]);
}

/// The 6-bit code of element e of row `lane` in the group super-block at src.
inline fn codeAt(src: [*]const u8, lane: usize, e: usize) u8 {
    const m = e / 4;
    const byte = 4 * lane + e % 4;
    const low = (src[lowAt(m / 2) + byte] >> @intCast(4 * (m % 2))) & 15;
    const high = (src[highAt(m / 4) + byte] >> high_shift[m % 4]) & 3;
    return low | high << 4;
}

/// Super-block b of row `lane` of the group at `group`, rebuilt in the file layout.
fn blockInFileLayout(group: [*]const u8, lane: usize, b: usize, out: *[block_bytes]u8) void {
    const src = group + b * group_block_bytes;
    @memset(out[0..192], 0);
    @memcpy(out[208..210], src[2 * lane ..][0..2]);
    for (0..16) |g| out[192 + g] = src[scaleByte(g, lane)];
    for (0..256) |e| q6_k.orCode(out, e, codeAt(src, lane, e));
}

/// r8 layout → file layout (the inverse of repackMatrix; tests).
pub fn unpackMatrix(src: [*]const u8, dst: [*]u8, row_bytes: usize, k: usize, n_rows: usize) void {
    r8.unpackGroups(block_elements, block_bytes, blockInFileLayout, src, dst, row_bytes, k, n_rows);
}

/// Row-range dot products for 1..ncols_max activation rows, indexed by ncols − 1; the trailing
/// rows keep the file layout and Q6_K's own dots.
pub const rows_dots = r8.rowsDots(@This(), q6_k.dots);

/// vpshufb indices over a group pair's sign-extended scales: row r's scale of group 2P + s in
/// 16-bit lanes 2r and 2r + 1 (r mod 4 within each 128-bit lane), where vpmaddubsw leaves the
/// row's pair sums.
const group_index: [2]I8x32 = blk: {
    var out: [2]I8x32 = undefined;
    for (0..2) |s| {
        var idx: [32]i8 = undefined;
        for (0..32) |byte| {
            const lane16 = (byte % 16) / 2;
            idx[byte] = @intCast(2 * (4 * s + lane16 / 2) + byte % 2);
        }
        out[s] = idx;
    }
    break :blk out;
};

/// vpshufb indices over a group pair's scales: row r's scales of groups 2P and 2P + 1 as the
/// 16-bit pair in 32-bit lane r, to meet the activation sums (bsum_2P, bsum_2P+1).
const pair_index: I8x32 = blk: {
    var idx: [32]i8 = undefined;
    for (0..32) |byte| {
        const lane16 = (byte % 16) / 2;
        idx[byte] = @intCast(2 * (4 * (lane16 % 2) + lane16 / 2) + byte % 2);
    }
    break :blk idx;
};

const broadcast4 = r8.broadcast4;

/// Group pair P of a super-block at %[src] for code_sums: register p = 4s + j is code register
/// 4g + j of group g = 2P + s, its low nibble | its high pair at bits 4–5 (as groupSimd's one
/// token, in asm).
fn SixBitCodes(comptime P: usize) type {
    return struct {
        pub fn text(comptime p: usize) []const u8 {
            const g = 2 * P + p / 4;
            const j = p % 4;
            const high = highAt(g);
            // (An immediate shift from memory would be EVEX-encoded: AVX-512, off here.)
            const pair_bits = std.fmt.comptimePrint("vmovdqu {d}(%[src]), %[t]\n", .{high}) ++ switch (j) {
                0 => "",
                1 => "vpsrlw $2, %[t], %[t]\n",
                2 => "vpsllw $4, %[t], %[t]\n",
                else => "vpsllw $2, %[t], %[t]\n",
            };
            return std.fmt.comptimePrint("vmovdqu {d}(%[src]), %[c{d}]\n", .{ lowAt(2 * g + j / 2), p }) ++
                (if (j % 2 == 1) std.fmt.comptimePrint("vpsrlw $4, %[c{d}], %[c{d}]\n", .{ p, p }) else "") ++
                std.fmt.comptimePrint("vpand (%[masks]), %[c{d}], %[c{d}]\n", .{ p, p }) ++ pair_bits ++
                std.fmt.comptimePrint(
                    \\vpand 64(%[masks]), %[t], %[t]
                    \\vpor %[t], %[c{d}], %[c{d}]
                    \\
                , .{ p, p });
        }
    };
}

/// The group's dots: 2 to 4 tokens through code_sums' asm, one group pair at a time; one token
/// in Zig.
pub inline fn groupSimd(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    @setEvalBranchQuota(20000);
    const n_supers = k / 256;
    const low4: U8x32 = @splat(15);
    const high2: U8x32 = @splat(0x30);
    var acc: [ncols]F32x8 = @splat(@splat(0));
    for (0..n_supers) |b| {
        const src = group + b * group_block_bytes;
        prefetch.blockAhead(group_block_bytes, src);
        var a: [ncols]*align(1) const common.BlockQ8K = undefined;
        inline for (0..ncols) |c| a[c] = common.q8k(act + c * act_stride + b * @sizeOf(common.BlockQ8K));
        var isum: [ncols]I32x8 = @splat(@splat(0));
        inline for (0..8) |pair| {
            const narrow: @Vector(16, i8) = @bitCast(src[scales_offset + 16 * pair ..][0..16].*);
            const scales16: I8x32 = @bitCast(@as(I16x16, narrow));
            const sc_pair = [2]I16x16{ @bitCast(simd.shuffleBytes(scales16, group_index[0])), @bitCast(simd.shuffleBytes(scales16, group_index[1])) };
            if (ncols > 1) {
                // 2 to 4 tokens: the pair's 8 code registers through code_sums' asm.
                var q: [ncols][*]const u8 = undefined;
                inline for (0..ncols) |c| q[c] = @ptrCast(a[c].q[32 * pair ..]);
                code_sums.subBlockSums(SixBitCodes(pair), ncols, 2, 2, src, q, &sc_pair, &isum);
            } else inline for (0..2) |s| {
                // One token, in Zig.
                const g = 2 * pair + s;
                const sc = sc_pair[s];
                const low: [2]U8x32 = .{ src[lowAt(2 * g)..][0..32].*, src[lowAt(2 * g + 1)..][0..32].* };
                const high: U8x32 = src[highAt(g)..][0..32].*;
                const high16: @Vector(16, u16) = @bitCast(high);
                // Code registers 4g..4g+3: low nibble | high pair moved to bits 4–5.
                const codes = [4]U8x32{
                    (low[0] & low4) | (high & high2),
                    ((low[0] >> @splat(4)) & low4) | (@as(U8x32, @bitCast(high16 >> @splat(2))) & high2),
                    (low[1] & low4) | (@as(U8x32, @bitCast(high16 << @splat(4))) & high2),
                    ((low[1] >> @splat(4)) & low4) | (@as(U8x32, @bitCast(high16 << @splat(2))) & high2),
                };
                const q = a[0].q[16 * g ..];
                const first = simd.mulAddBytes(codes[0], broadcast4(@ptrCast(q[0..]))) + simd.mulAddBytes(codes[1], broadcast4(@ptrCast(q[4..])));
                const second = simd.mulAddBytes(codes[2], broadcast4(@ptrCast(q[8..]))) + simd.mulAddBytes(codes[3], broadcast4(@ptrCast(q[12..])));
                isum[0] += simd.mulAddPairs(first, sc) + simd.mulAddPairs(second, sc);
            }
            // The −32 offset of both groups: 32·scale (≤ 4096) against the pair's bsums.
            const offset_scales = @as(I16x16, @bitCast(simd.shuffleBytes(scales16, pair_index))) << @splat(5);
            inline for (0..ncols) |c| isum[c] -= simd.mulAddPairs(offset_scales, @bitCast(broadcast4(@ptrCast(&a[c].bsums[2 * pair]))));
        }
        const d8 = r8.scales8(src);
        inline for (0..ncols) |c| acc[c] = @mulAdd(F32x8, @floatFromInt(isum[c]), d8 * @as(F32x8, @splat(a[c].d)), acc[c]);
    }
    inline for (0..ncols) |c| y[c * y_stride ..][0..group_rows].* = acc[c];
}

/// Scalar twin: each row's super-blocks rebuilt in the file layout, then Q6_K's scalar dot.
pub fn groupScalar(comptime ncols: usize, group: [*]const u8, act: [*]const u8, act_stride: usize, k: usize, y: [*]f32, y_stride: usize) void {
    r8.superGroupScalar(ncols, block_bytes, blockInFileLayout, q6_k.dotScalar, group, act, act_stride, k, y, y_stride);
}

/// The GEMM tile kernel (gemm_k.zig) over super-blocks decoded from r8 groups and file rows.
pub const gemmTile = gemm_k.GemmK(GemmDecoder).tile;
/// Below this many tokens the row-range dots beat the tile (quants.Traits.gemm_tokens_min). Per
/// core on 2048×1408, GOP/s, tile against dots: 68/109 at t=16, 107/110 at 64, 114/110 at 96,
/// 111/104 at 512 (the file layout's tile: 119).
pub const gemm_tokens_min = 96;

const GemmDecoder = struct {
    pub const block_bytes = q6_k.block_bytes;
    pub const group_scales = true;

    /// Super-block s of row r of the `n_rows` rows at w.
    pub fn decodeRowSuper(w: [*]const u8, row_bytes: usize, n_rows: usize, r: usize, s: usize, out: *gemm_k.Super) void {
        if (r >= groupedRows(n_rows)) return q6_k.GemmDecoder.decodeSuper(w + r * row_bytes + s * q6_k.block_bytes, out);
        const lane = r % group_rows;
        const src = w + (r / group_rows) * group_rows * row_bytes + s * group_block_bytes;
        out.d = common.f16At(src + 2 * lane);
        out.dmin = out.d;
        for (0..16) |g| {
            out.sc[g] = @as(i8, @bitCast(src[scaleByte(g, lane)]));
            out.m[g] = 32 * out.sc[g];
        }
        if (!cpu_path.simd()) {
            for (0..256) |e| out.u[e / 32][e % 32] = codeAt(src, lane, e);
            return;
        }
        // Sub-block i is groups 2i and 2i + 1: code registers j = 0..3 of each, whose 4 bytes
        // of row `lane` sit in a low-nibble word (nibble j mod 2) and a high-pair word.
        const nibble_shift: @Vector(8, u32) = .{ 0, 4, 0, 4, 0, 4, 0, 4 };
        const pair_shift: @Vector(8, u32) = .{ high_shift[0], high_shift[1], high_shift[2], high_shift[3], high_shift[0], high_shift[1], high_shift[2], high_shift[3] };
        for (0..8) |i| {
            var low: @Vector(8, u32) = undefined;
            var high: @Vector(8, u32) = undefined;
            inline for (0..8) |word| {
                const g = 2 * i + word / 4;
                const j = word % 4;
                low[word] = std.mem.readInt(u32, src[lowAt(2 * g + j / 2) + 4 * lane ..][0..4], .little);
                high[word] = std.mem.readInt(u32, src[highAt(g) + 4 * lane ..][0..4], .little);
            }
            const codes = ((low >> nibble_shift) & @as(@Vector(8, u32), @splat(0x0F0F0F0F))) |
                (((high >> pair_shift) & @as(@Vector(8, u32), @splat(0x03030303))) << @splat(4));
            out.u[i] = @bitCast(codes);
        }
    }
};

test "Q6_K r8 round-trips; its row-range dots and GEMM match the file rows'" {
    try r8_layout_test.expectLayoutMatchesFile(@This(), q6_k, .{ .k = 768, .file_type = 14, .seed = 31, .scramble = randomScales });
}

/// Random scale bytes (−128 included), so the 16-bit offset scales meet their extremes.
fn randomScales(random: std.Random, block: []u8) void {
    random.bytes(block[192..208]);
}
