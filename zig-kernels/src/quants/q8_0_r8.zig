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
//! and the int16 widening of the file layout's tile needs 2 plus 2.5 broadcast loads.
const std = @import("std");
const simd = @import("../simd.zig");
const cpu_path = @import("../cpu_path.zig");
const common = @import("common.zig");
const q8_0 = @import("q8_0.zig");
const block32 = @import("block32.zig");
const r8 = @import("r8.zig");
const r8_layout_test = @import("r8_layout_test.zig");
const quants = @import("quants.zig");

const F32x8 = simd.F32x8;
const I8x32 = simd.I8x32;
const I16x16 = simd.I16x16;
const I32x8 = simd.I32x8;
const U8x32 = simd.U8x32;
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

/// Σ w·a of one block for 8 rows × ncols (≤ 8) activation blocks, exactly, by the sign-xor
/// trick: |w| · (a xor s) with s = (w < 0 ? −1 : 0) is w·a − |w|·[w < 0] (a xor −1 = −a − 1),
/// so a vpxor replaces vpsignb (a multiply-pipe µop on this core), and the sums start from the
/// block's `correction` Σ_{w<0} |w| per row, which no activation enters. |w| ≤ 128 and a xor s ∈ [−128, 127]
/// keep every vpmaddubsw pair within int16. `codes` holds register m's |w| at 64m and its s at
/// 64m + 32 (a Panel block); column c's 4 bytes of register m are at q[c] + q_offset + 4m. Inline asm: written in Zig, LLVM reordered the column loop around
/// hoisted |w| and s registers and spilled them.
inline fn blockSums(comptime ncols: usize, codes: [*]const u8, correction: I32x8, q: [ncols][*]const u8, comptime q_offset: usize) [ncols]I32x8 {
    comptime std.debug.assert(ncols >= 1 and ncols <= 8);
    @setEvalBranchQuota(10_000_000);
    comptime var text: []const u8 = "";
    inline for (0..ncols) |c| text = text ++ std.fmt.comptimePrint("vmovdqa %[correction], %[s{d}]\n", .{c});
    inline for (0..8) |m| {
        text = text ++ std.fmt.comptimePrint(
            \\vmovdqa {d}(%[codes]), %[abs]
            \\vmovdqa {d}(%[codes]), %[sign]
            \\
        , .{ 64 * m, 64 * m + 32 });
        inline for (0..ncols) |c| text = text ++ std.fmt.comptimePrint(
            \\vpbroadcastd {d}(%[q{d}]), %[t]
            \\vpxor %[sign], %[t], %[t]
            \\vpmaddubsw %[t], %[abs], %[t]
            \\vpmaddwd %[ones], %[t], %[t]
            \\vpaddd %[t], %[s{d}], %[s{d}]
            \\
        , .{ q_offset + 4 * m, c, c, c });
    }
    var s0: I32x8, var s1: I32x8, var s2: I32x8, var s3: I32x8 = .{ undefined, undefined, undefined, undefined };
    var s4: I32x8, var s5: I32x8, var s6: I32x8, var s7: I32x8 = .{ undefined, undefined, undefined, undefined };
    var abs: I32x8 = undefined;
    var sign: I32x8 = undefined;
    var t: I32x8 = undefined;
    var qs: [8][*]const u8 = undefined;
    inline for (0..8) |c| qs[c] = q[@min(c, ncols - 1)];
    asm (text
        : [s0] "=&x" (s0),
          [s1] "=&x" (s1),
          [s2] "=&x" (s2),
          [s3] "=&x" (s3),
          [s4] "=&x" (s4),
          [s5] "=&x" (s5),
          [s6] "=&x" (s6),
          [s7] "=&x" (s7),
          [abs] "=&x" (abs),
          [sign] "=&x" (sign),
          [t] "=&x" (t),
        : [codes] "r" (codes),
          [q0] "r" (qs[0]),
          [q1] "r" (qs[1]),
          [q2] "r" (qs[2]),
          [q3] "r" (qs[3]),
          [q4] "r" (qs[4]),
          [q5] "r" (qs[5]),
          [q6] "r" (qs[6]),
          [q7] "r" (qs[7]),
          [ones] "x" (ones),
          [correction] "x" (correction),
    );
    const s = [8]I32x8{ s0, s1, s2, s3, s4, s5, s6, s7 };
    return s[0..ncols].*;
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

/// Scalar twin of blockSums: the same sums, element by element.
fn blockSumsScalar(comptime ncols: usize, codes: [*]const u8, correction: I32x8, q: [ncols][*]const u8, q_offset: usize) [ncols]I32x8 {
    var sums: [ncols]I32x8 = @splat(correction);
    for (0..8) |m| {
        const abs_w = codes[64 * m ..][0..32];
        const sign = codes[64 * m + 32 ..][0..32];
        for (0..ncols) |c| {
            for (0..32) |byte| {
                const a: u8 = q[c][q_offset + 4 * m + byte % 4];
                const flipped: i8 = @bitCast(a ^ sign[byte]);
                sums[c][byte / 4] += @as(i32, abs_w[byte]) * flipped;
            }
        }
    }
    return sums;
}

/// Tokens per pass of the prefill tile: each panel register is loaded once for 8 tokens.
const tile_tokens = 8;
/// Tokens whose accumulators a group keeps across its K slices (8 KiB on the stack).
const token_group = 256;
/// Blocks per panel slice: 16 KiB of |w| and signs, which stay in L1 beside 8 tokens' 9 KiB of
/// activations while all the token group passes.
const slice_blocks = 32;

/// One group's blocks b0..b0+count, decoded once for all tokens: register m's |w| and sign
/// mask s (−1 where w < 0), the rows' Σ_{w<0} |w| per block (blockSums' correction) and d.
const Panel = struct {
    codes: [slice_blocks][8][2]U8x32 align(32),
    correction: [slice_blocks]I32x8,
    d: [slice_blocks]F32x8,

    fn build(panel: *Panel, group: [*]const u8, b0: usize, count: usize) void {
        const zero: I8x32 = @splat(0);
        for (0..count) |i| {
            const src = group + (b0 + i) * group_block_bytes;
            var negative: I16x16 = @splat(0); // ≥ −8·2·128: no int16 overflow
            inline for (0..8) |m| {
                const w: I8x32 = @bitCast(src[codes_offset + 32 * m ..][0..32].*);
                const sign: I8x32 = @select(i8, w < zero, @as(I8x32, @splat(-1)), zero);
                panel.codes[i][m] = .{ @abs(w), @bitCast(sign) };
                negative += simd.mulAddBytes(@abs(w), sign);
            }
            panel.correction[i] = -simd.mulAddPairs(negative, ones);
            panel.d[i] = r8.scales8(src);
        }
    }
};

/// The prefill tile (quants.gemm32.GemmTileFn): each group of 8 rows is decoded into a Panel once per
/// K slice and token group, then the tokens pass 8 at a time through blockSums. The n mod 8
/// trailing rows, and every row on the scalar path, go through the row-range dots.
pub fn gemmTile(w: [*]const u8, w_row_bytes: usize, n_rows: usize, act: [*]const u8, act_stride: usize, n_tokens: usize, k: usize, y: [*]f32, y_row_stride: usize) void {
    const simd_rows = if (cpu_path.simd()) groupedRows(n_rows) else 0;
    const n_blocks = k / 32;
    var panel: Panel = undefined;
    var acc: [token_group / tile_tokens][tile_tokens]F32x8 = undefined;
    var r: usize = 0;
    while (r < simd_rows) : (r += group_rows) {
        const group = w + r * w_row_bytes;
        var token: usize = 0;
        while (token < n_tokens) : (token += token_group) {
            const tokens_here = @min(token_group, n_tokens - token);
            const octs = std.math.divCeil(usize, tokens_here, tile_tokens) catch unreachable;
            @memset(acc[0..octs], @splat(@splat(0)));
            var b0: usize = 0;
            while (b0 < n_blocks) : (b0 += slice_blocks) {
                const count = @min(slice_blocks, n_blocks - b0);
                panel.build(group, b0, count);
                for (0..octs) |o| {
                    const first = token + o * tile_tokens;
                    switch (@min(tile_tokens, n_tokens - first)) {
                        inline 1...tile_tokens => |ncols| panelTokens(ncols, &panel, act + first * act_stride, act_stride, n_blocks, b0, count, acc[o][0..ncols]),
                        else => unreachable,
                    }
                }
            }
            for (0..tokens_here) |t| y[(token + t) * y_row_stride + r ..][0..group_rows].* = acc[t / tile_tokens][t % tile_tokens];
        }
    }
    if (simd_rows == n_rows) return;
    var token: usize = 0;
    while (token < n_tokens) : (token += block32.ncols_max) {
        const ncols = @min(block32.ncols_max, n_tokens - token);
        rows_dots[ncols - 1](w, w_row_bytes, n_rows, simd_rows, n_rows, act + token * act_stride, act_stride, k, y + token * y_row_stride + simd_rows, y_row_stride);
    }
}

/// Blocks b0..b0+count of the panel against `ncols` tokens: acc[c] lane r += d_r·da_c·Σ w_r·q_c.
/// Within a Q8A group of 4 blocks the columns' block addresses are fixed offsets from the
/// group's, so the asm's pointers change once per 4 blocks.
inline fn panelTokens(comptime ncols: usize, panel: *const Panel, act: [*]const u8, act_stride: usize, n_blocks: usize, b0: usize, count: usize, acc: *[ncols]F32x8) void {
    const n_full = n_blocks / 4 * 4;
    var i: usize = 0;
    while (i + 4 <= count and b0 + i + 4 <= n_full) : (i += 4) {
        var q: [ncols][*]const u8 = undefined;
        inline for (0..ncols) |c| q[c] = @ptrCast(common.q8aGroup(act + c * act_stride + (b0 + i) / 4 * @sizeOf(common.GroupQ8A)));
        inline for (0..4) |j| {
            const isum = blockSums(ncols, @ptrCast(&panel.codes[i + j]), panel.correction[i + j], q, @offsetOf(common.GroupQ8A, "q") + 32 * j);
            inline for (0..ncols) |c| {
                const da = common.q8aGroup(q[c]).d[j];
                acc[c] = @mulAdd(F32x8, @floatFromInt(isum[c]), panel.d[i + j] * @as(F32x8, @splat(da)), acc[c]);
            }
        }
    }
    while (i < count) : (i += 1) {
        var q: [ncols][*]const u8 = undefined;
        var da: [ncols]f32 = undefined;
        inline for (0..ncols) |c| {
            const a = common.activationBlock(act + c * act_stride, b0 + i, n_full);
            q[c] = @ptrCast(a.q);
            da[c] = a.d;
        }
        const isum = blockSums(ncols, @ptrCast(&panel.codes[i]), panel.correction[i], q, 0);
        inline for (0..ncols) |c| acc[c] = @mulAdd(F32x8, @floatFromInt(isum[c]), panel.d[i] * @as(F32x8, @splat(da[c])), acc[c]);
    }
}

/// Below this many tokens the row-range dots beat the tile (quants.Traits.gemm_tokens_min).
pub const gemm_tokens_min = 16;

test "Q8_0 r8 repack round-trips; its row-range dots and GEMM tile match the file rows'" {
    try r8_layout_test.expectLayoutMatchesFile(@This(), q8_0, .{ .k = 352, .file_type = 8, .seed = 37, .scramble = withMinus128 });
}

/// −128 in every block, which the reference quantizer never writes but a file may hold.
fn withMinus128(random: std.Random, block: []u8) void {
    block[2 + random.uintLessThan(usize, 32)] = 0x80;
}

test "blockSums: the sign-xor sums are w·a exactly, at the int16 edges too (w = −128, a = ±127)" {
    var prng = std.Random.DefaultPrng.init(71);
    const random = prng.random();
    var group: [group_block_bytes]u8 = undefined;
    var acts: [8][32]u8 = undefined;
    for (0..40) |round| {
        random.bytes(&group);
        for (&acts) |*a| {
            for (a) |*v| v.* = @bitCast(random.intRangeAtMost(i8, -127, 127));
        }
        if (round % 2 == 0) {
            // The extremes: every weight −128 or 127 and every activation ±127.
            for (group[codes_offset..]) |*v| v.* = if (random.boolean()) 0x80 else 0x7f;
            for (&acts) |*a| {
                for (a) |*v| v.* = if (random.boolean()) 0x81 else 0x7f;
            }
        }
        var panel: Panel = undefined;
        panel.build(&group, 0, 1);
        var q: [8][*]const u8 = undefined;
        for (&q, &acts) |*p, *a| p.* = a;
        const got = blockSums(8, @ptrCast(&panel.codes[0]), panel.correction[0], q, 0);
        const twin = blockSumsScalar(8, @ptrCast(&panel.codes[0]), panel.correction[0], q, 0);
        for (0..8) |c| {
            for (0..group_rows) |r| {
                var want: i32 = 0;
                for (0..32) |e| {
                    const w: i8 = @bitCast(group[codes_offset + 32 * (e / 4) + 4 * r + e % 4]);
                    const a: i8 = @bitCast(acts[c][e]);
                    want += @as(i32, w) * a;
                }
                try std.testing.expectEqual(want, got[c][r]);
                try std.testing.expectEqual(want, twin[c][r]);
            }
        }
    }
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
